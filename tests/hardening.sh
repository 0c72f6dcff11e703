#!/bin/sh
# The programs are built hardened: position-independent, full RELRO (read-
# only relocations, bound at start-up), stack protector and fortified libc
# calls where the build asked for them.
set -eu
b=${OTPGATE_BUILDDIR:-.}
command -v readelf >/dev/null || { echo "readelf missing"; exit 77; }
grep -q -- '-pie' "$b/Makefile" || { echo "configured with --disable-hardening"; exit 77; }
status=0
for p in otpgate-fcgi otpgate-admin otpgate-sender; do
  f="$b/src/$p"
  [ -f "$f" ] || continue
  readelf -h "$f" | grep -q 'Type:.*DYN' || { echo "$p: not PIE"; status=1; }
  readelf -lW "$f" | grep -q 'GNU_RELRO' || { echo "$p: no RELRO"; status=1; }
  readelf -dW "$f" | grep -qE 'BIND_NOW|FLAGS.*NOW' || { echo "$p: no BIND_NOW"; status=1; }
  readelf -sW "$f" | grep -q '__stack_chk_fail' || { echo "$p: no stack protector"; status=1; }
  echo "$p: PIE, RELRO, BIND_NOW, stack protector"
done
exit $status
