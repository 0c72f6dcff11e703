#!/bin/sh
# Builds the libFuzzer harnesses with clang, ASan and UBSan, and runs each
# for SECONDS (default 60) from the seed corpus in tests/fuzz/corpus with
# the dictionary tests/fuzz/otpgate.dict. Fails on any crash, leak or
# sanitizer report. Longer runs: sh contrib/fuzz.sh 3600
set -eu
seconds=${1:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
command -v clang >/dev/null || sh contrib/deps.sh --all
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p build-fuzz
cd build-fuzz
[ -f Makefile ] || ../configure -q CC=clang --enable-sanitizers --enable-fuzzers \
  --disable-hardening
make -s -j"$(nproc)" fuzzers >/dev/null
status=0
for name in request config sms payload; do
  work="corpus-$name"
  mkdir -p "$work"
  cp -n "$top/tests/fuzz/corpus/$name/"* "$work/" 2>/dev/null || true
  echo "== fuzz-$name for ${seconds}s"
  if ! ./tests/fuzz/fuzz-$name -max_total_time="$seconds" -max_len=70000 \
      -dict="$top/tests/fuzz/otpgate.dict" -print_final_stats=1 \
      -artifact_prefix="$PWD/crash-$name-" "$work" >"fuzz-$name.log" 2>&1; then
    echo "fuzz-$name FAILED:"; tail -40 "fuzz-$name.log"; status=1
  else
    grep -E 'stat::number_of_executed_units|Done' "fuzz-$name.log" | head -2
  fi
done
exit $status
