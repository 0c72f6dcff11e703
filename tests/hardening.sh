#!/bin/sh
# The installed programs are built hardened: position-independent, full RELRO (read-
# only relocations, bound at start-up), stack protector and fortified libc
# calls where the build asked for them.
set -eu
b=${OTPGATE_BUILDDIR:-.}
command -v readelf >/dev/null || { echo "readelf missing"; exit 77; }
grep -q -- '-pie' "$b/Makefile" || { echo "configured with --disable-hardening"; exit 77; }
# The binaries as `make install` puts them, in a scratch DESTDIR.
dest=$(mktemp -d "${TMPDIR:-/tmp}/otpgate-hardening.XXXXXX")
trap 'rm -rf "$dest"' EXIT
make -s -C "$b" install-binPROGRAMS DESTDIR="$dest" >"$dest/install.log" 2>&1 ||
  { echo "make install-binPROGRAMS failed:"; cat "$dest/install.log"; exit 1; }
status=0 n=0
for f in $(find "$dest" -type f -name 'otpgate-*' | sort); do
  p=${f##*/}
  n=$((n + 1))
  readelf -h "$f" | grep -q 'Type:.*DYN' || { echo "$p: not PIE"; status=1; }
  readelf -lW "$f" | grep -q 'GNU_RELRO' || { echo "$p: no RELRO"; status=1; }
  readelf -dW "$f" | grep -qE 'BIND_NOW|FLAGS.*NOW' || { echo "$p: no BIND_NOW"; status=1; }
  readelf -sW "$f" | grep -q '__stack_chk_fail' || { echo "$p: no stack protector"; status=1; }
  echo "installed ${f#$dest}: PIE, RELRO, BIND_NOW, stack protector"
done
[ "$n" = 3 ] || { echo "installed $n programs, want 3"; status=1; }
exit $status
