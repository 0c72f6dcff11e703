#!/bin/sh
# The test command: installs what is needed, builds, and runs every test:
# the suite with warnings as errors, the Debian package built, installed and
# used once (tests/deploy/package.sh), the suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer, make distcheck, and each libFuzzer harness
# for OTPGATE_FUZZ_SECONDS (30). Prints a closing line "N passed, N failed".
# The end-to-end tests (tests/deploy/*.sh: real web servers, kills, a full
# disk) are slow: they run once, in the plain build; the sanitizer build
# and distcheck run the rest.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

sh contrib/deps.sh --all
autoreconf -fi >/dev/null 2>&1

passed=0 failed=0
# Adds up the results in a build tree: each Check program's own count
# ("Checks: N, Failures: F, Errors: E"), and one for each other test.
tally() { # DIR [TEST...]: all of DIR's tests, or just these
  dir=$1; shift
  if [ $# -gt 0 ]; then
    set -- $(for t in "$@"; do echo "$dir/$t.trs"; done)
  else
    set -- "$dir"/tests/*.trs "$dir"/tests/*/*.trs
  fi
  for trs in "$@"; do
    [ -f "$trs" ] || continue
    log=${trs%.trs}.log
    line=$(grep -E '^[0-9]+%: Checks: ' "$log" 2>/dev/null | tail -1 || true)
    if [ -n "$line" ]; then
      n=$(echo "$line" | sed 's/.*Checks: \([0-9]*\).*/\1/')
      f=$(echo "$line" | sed 's/.*Failures: \([0-9]*\).*/\1/')
      e=$(echo "$line" | sed 's/.*Errors: \([0-9]*\).*/\1/')
      passed=$((passed + n - f - e))
      failed=$((failed + f + e))
    elif grep -q '^:test-result: PASS' "$trs"; then
      passed=$((passed + 1))
    elif grep -qE '^:test-result: (FAIL|ERROR)' "$trs"; then
      failed=$((failed + 1))
    fi
  done
}

run_suite() { # name configure-flags... ($check_args: for make check)
  name=$1; shift
  echo "== $name: configure $*"
  rm -rf "build-$name" && mkdir "build-$name"
  (cd "build-$name" && ../configure -q "$@" && make -s -j"$jobs" >/dev/null)
  status=0
  (cd "build-$name" && make -s -j"$jobs" check ${check_args:-}) || status=$?
  tally "build-$name"
  if [ "$status" -ne 0 ]; then
    for log in "build-$name"/tests/*.log "build-$name"/tests/*/*.log; do
      [ -f "$log" ] || continue
      grep -qE ':test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null && {
        echo "---- $log"; tail -50 "$log"; }
    done
    return 1
  fi
}

overall=0
run_suite plain --enable-werror || overall=1
# The worker's FastCGI tests once more, every worker under valgrind.
echo "== valgrind: the worker's FastCGI tests"
grind="tests/check_send_otp tests/check_verify_otp"
(cd build-plain && CK_TIMEOUT_MULTIPLIER=4 OTPGATE_TEST_WRAPPER="valgrind -q --error-exitcode=1 \
    --leak-check=full --errors-for-leak-kinds=definite" \
  make -s check TESTS="$grind") || overall=1
tally build-plain $grind
# The Debian package, once: built from this tree, installed on this
# machine, one sendOtp through lighttpd with the installed files, purged.
echo "== the Debian package (tests/deploy/package.sh)"
(cd build-plain && make -s check TESTS=tests/deploy/package.sh) || {
  overall=1; tail -40 build-plain/tests/deploy/package.log; }
tally build-plain tests/deploy/package
check_args=RUN_DEPLOY_TESTS= ASAN_OPTIONS=detect_leaks=1 run_suite sanitizers --enable-werror --enable-sanitizers || overall=1
echo "== distcheck"
# The log stays in build-plain/distcheck.log; on failure its tail and the
# logs of the tests that failed inside the distcheck tree are printed.
if (cd build-plain && make -s distcheck RUN_DEPLOY_TESTS= >distcheck.log 2>&1); then
  passed=$((passed + 1))
else
  echo "distcheck failed"; failed=$((failed + 1)); overall=1
  tail -40 build-plain/distcheck.log
  for trs in build-plain/otpgate-*/_build/sub/tests/*.trs \
             build-plain/otpgate-*/_build/sub/tests/*/*.trs; do
    [ -f "$trs" ] || continue
    grep -qE ':test-result: (FAIL|ERROR)' "$trs" && {
      echo "---- ${trs%.trs}.log"; tail -50 "${trs%.trs}.log"; }
  done
fi

echo "== fuzzers, ${OTPGATE_FUZZ_SECONDS:-30}s each"
if sh contrib/fuzz.sh "${OTPGATE_FUZZ_SECONDS:-30}"; then
  passed=$((passed + 4))
else
  failed=$((failed + 4)); overall=1
fi

echo "tests: $passed passed, $failed failed"
exit $overall
