# Shared by the deploy tests (tests/deploy/*.sh): each starts a real web
# server on 127.0.0.1 with a configuration generated from the file shipped in
# etc/, sends it requests with curl and checks the answers and the rows.
#
# A test sources this file, calls deploy_setup, writes its server's
# configuration, starts the server, then calls the check_* functions.
# Everything it starts is stopped on exit, whatever the outcome.
#
# Conventions: die() fails the test (exit 1), skip() skips it (exit 77).

set -u

: "${OTPGATE_BUILDDIR:?run through make check}" "${OTPGATE_SRCDIR:?run through make check}"
PATH=$PATH:/usr/sbin:/sbin
export PATH

API_PATH=/integrator-base-path/e-wallets-v1/sendOtp
HOST=otp.example.com
PHONE=+918067218010
TOKEN=AB12345678C

say() { printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
die() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
skip() {
  printf 'SKIP: %s\n' "$*"
  exit 77
}

# The test is skipped only when the server itself is missing; the tools it
# needs are required (CI installs them).
need_server() {
  command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed ($2)"
}
need_tool() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is needed (apt-get install $2)"
}

# ---- processes we started, stopped on exit ----

CLEANUPS=""
# Commands run at exit, last registered first.
on_exit() { CLEANUPS="$1
$CLEANUPS"; }

deploy_cleanup() {
  status=$?
  set +e
  trap - EXIT INT TERM HUP
  touch "$T/stop" 2>/dev/null
  while IFS= read -r cmd; do
    [ -n "$cmd" ] && eval "$cmd" >/dev/null 2>&1
  done <<EOF
$CLEANUPS
EOF
  # Any worker still running is ours: it runs the copy in $T. So is any
  # process whose command line names $T (a server's child that outlived
  # its parent, say).
  kill_workers KILL
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$T/" && kill -KILL "$pid" 2>/dev/null
  done
  if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
    for f in "$T"/log/*; do
      [ -s "$f" ] || continue
      echo "---- $f (last 30 lines)"
      tail -n 30 "$f"
    done
  fi
  case "${OTPGATE_KEEP_TMP:-}" in
  '' | 0 | no) rm -rf "$T" ;;
  *) echo "kept $T" ;;
  esac
  exit "$status"
}

# The pids of the otpgate-fcgi workers started from $T/bin: only ours.
worker_pids() {
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$T/bin/otpgate-fcgi" ] &&
      echo "${p#/proc/}"
  done
}

kill_workers() {
  for pid in $(worker_pids); do
    kill -s "$1" "$pid" 2>/dev/null
  done
}

# Runs COMMAND every 0.1 s until it succeeds; fails after SECONDS.
wait_until() { # SECONDS COMMAND [ARG...]
  local tries=$(($1 * 10)) i=0
  shift
  until "$@"; do
    [ $i -ge $tries ] && return 1
    sleep 0.1
    i=$((i + 1))
  done
}

pidfile_live() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
workers_at_least() { [ "$(worker_pids | wc -l)" -ge "$1" ]; }

# Waits until a pid file names a live process, or a pid has gone.
wait_pidfile() { wait_until "$2" pidfile_live "$1"; } # FILE SECONDS
wait_gone() { wait_until "$2" pid_gone "$1"; }         # PID SECONDS
# Stops the process named in a pid file: SIGNAL, then SIGKILL after 10 s.
stop_pidfile() { # FILE SIGNAL
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  kill -s "$2" "$pid" 2>/dev/null || return 0
  wait_gone "$pid" 10 || kill -s KILL "$pid" 2>/dev/null
}

# ---- the test directory, the database, the worker ----

# The README's "Common steps" make a system user and group otpgate and put
# the web server's user in that group. The tests, run as root, do the same
# under the name otpgate-test (a real installation's otpgate is never
# touched), once per machine; tests running at the same time take turns.
make_users() {
  need_tool flock util-linux
  lockdir=/run/lock
  [ -d "$lockdir" ] || lockdir=/tmp
  (
    flock 9 || exit 1
    if ! id "$SVC_USER" >/dev/null 2>&1; then
      if command -v adduser >/dev/null 2>&1; then
        adduser --quiet --system --group --home /nonexistent --no-create-home "$SVC_USER"
      else
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
          --shell /usr/sbin/nologin "$SVC_USER"
      fi || exit 1
    fi
    id -nG "$RUN_USER" | tr ' ' '\n' | grep -qxF "$SVC_GROUP" && exit 0
    if command -v adduser >/dev/null 2>&1; then
      adduser --quiet "$RUN_USER" "$SVC_GROUP"
    else
      usermod -a -G "$SVC_GROUP" "$RUN_USER"
    fi
  ) 9>>"$lockdir/otpgate-test-users.lock" ||
    die "cannot make the user $SVC_USER or put $RUN_USER in its group"
}

# The configuration as the README leaves it: group otpgate, mode 0640.
conf_perms() {
  chgrp "$SVC_GROUP" "$CONF" && chmod 640 "$CONF" || die "cannot chmod $CONF"
}

# Sets T (the directory), PORT, RUN_USER and RUN_GROUP (the web server's
# user: www-data when the tests run as root; mod_fcgid's and lighttpd's
# bin-path workers run as it too), SVC_USER and SVC_GROUP (the README's
# otpgate: otpgate-test when root; it owns the database's directory and
# runs the sender and the spawn-fcgi workers, and RUN_USER is a member of
# its group), WORKER (the worker program) and CONF (its configuration), and
# creates the database with one account as the README's "Common steps" do.
deploy_setup() { # NAME
  need_tool curl curl
  need_tool sqlite3 sqlite3
  need_tool openssl openssl
  T=$(mktemp -d "${TMPDIR:-/tmp}/otpgate-$1.XXXXXX") || die "mktemp"
  trap deploy_cleanup EXIT
  trap 'exit 1' INT TERM HUP
  chmod 755 "$T"
  mkdir -p "$T/bin" "$T/log" "$T/tls" "$T/req" "$T/resp"

  if [ "$(id -u)" -eq 0 ]; then
    RUN_USER=www-data
    id "$RUN_USER" >/dev/null 2>&1 || RUN_USER=nobody
    RUN_GROUP=$(id -gn "$RUN_USER")
    SVC_USER=otpgate-test
    SVC_GROUP=otpgate-test
    make_users
  else
    RUN_USER=$(id -un)
    RUN_GROUP=$(id -gn)
    SVC_USER=$RUN_USER
    SVC_GROUP=$RUN_GROUP
  fi
  # $T/db stands for /var/lib/otpgate, $T/run for /run/otpgate (where
  # lighttpd's bin-path sockets go too), $T for /etc/otpgate.
  install -d -o "$SVC_USER" -g "$SVC_GROUP" -m 2770 "$T/db" "$T/run" ||
    die "cannot make $T/db and $T/run"

  # A copy, so that the workers can run it whatever the permissions of the
  # build tree, and so that every worker process is known to be ours.
  cp "$OTPGATE_BUILDDIR/src/otpgate-fcgi" "$T/bin/otpgate-fcgi"
  chmod 755 "$T/bin/otpgate-fcgi"
  WORKER=$T/bin/otpgate-fcgi

  CONF=$T/otpgate.conf
  cat >"$CONF" <<EOF
; Generated by tests/deploy/lib.sh
[database]
path = $T/db/otpgate.db
[api]
metrics_file = $T/run/metrics
[otp]
secret_file = $T/otp.key
; Hundreds of codes for one account within a test.
send_limit = 1000000
[sender]
; No sender until start_sender (or kill.sh's own) replaces this section.
heartbeat_max_age_seconds = 0
wake_socket =
[log]
syslog = no
EOF
  conf_perms
  "$OTPGATE_BUILDDIR/src/otpgate-admin" -c "$CONF" init >"$T/log/init.log" 2>&1 ||
    die "otpgate-admin init: $(cat "$T/log/init.log")"
  "$OTPGATE_BUILDDIR/src/otpgate-admin" -c "$CONF" account add acct-1 --phone "$PHONE" >/dev/null ||
    die "otpgate-admin account add"
  "$OTPGATE_BUILDDIR/src/otpgate-admin" -c "$CONF" association add assoc-1 acct-1 >/dev/null ||
    die "otpgate-admin association add"
  # The rest of the README's "Common steps"; init gave the secret the
  # database's group (the directory's: setgid).
  chown -R "$SVC_USER:$SVC_GROUP" "$T/db" || die "cannot hand $T/db to $SVC_USER"
  ! grep -q warning "$T/log/init.log" || die "otpgate-admin init warns: $(cat "$T/log/init.log")"
  [ "$(stat -c '%a %U:%G' "$T/db/otpgate.db")" = "660 $SVC_USER:$SVC_GROUP" ] ||
    die "the database is $(stat -c '%a %U:%G' "$T/db/otpgate.db"), want 660 $SVC_USER:$SVC_GROUP"
  [ "$(stat -c '%a %G' "$T/otp.key")" = "640 $SVC_GROUP" ] ||
    die "the secret is $(stat -c '%a %U:%G' "$T/otp.key"), want 640 and group $SVC_GROUP"

  # A certificate for otp.example.com, the name in the shipped files; curl
  # resolves that name to 127.0.0.1 and checks the certificate against it.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/tls/privkey.pem" -out "$T/tls/fullchain.pem" -days 2 \
    -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
    -addext "basicConstraints=critical,CA:FALSE" >/dev/null 2>&1 ||
    die "openssl could not make a test certificate"
  chmod 644 "$T/tls/fullchain.pem"
  chmod 600 "$T/tls/privkey.pem"

  PORT=$(free_port) || die "no free port"
  BASE=https://$HOST:$PORT
  say "setup: $T, port $PORT, web server as $RUN_USER ($(id -nG "$RUN_USER")), database directory $SVC_USER:$SVC_GROUP"
}

# Replaces the keys of the [sender] section of $CONF with the lines on
# standard input (deploy_setup's turn the heartbeat check off: no sender).
conf_sender() {
  {
    sed '/^\[sender\]/,$d' "$CONF"
    echo '[sender]'
    cat
    sed -n '/^\[log\]/,$p' "$CONF"
  } >"$CONF.new" && mv "$CONF.new" "$CONF" || die "cannot rewrite $CONF"
  conf_perms
}

# A TCP port nothing listens on (tests run in parallel: random, not fixed),
# below the kernel's ephemeral range (32768 up): a port there can be the
# local end of some client's connection, and then bind() fails although
# nothing listens on it.
free_port() {
  for _ in $(seq 1 100); do
    p=$((10000 + RANDOM % 22000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# SQL on the test database, as the owner of its directory (the README's
# otpgate), so that SQLite never leaves a -wal or -shm file that the
# workers and the sender cannot share.
sql() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$SVC_USER" -- sqlite3 -batch -bail "$T/db/otpgate.db" "$1"
  else
    sqlite3 -batch -bail "$T/db/otpgate.db" "$1"
  fi
}

# Waits until an HTTPS answer comes from the server on $PORT.
https_answers() {
  curl -s -o /dev/null --max-time 2 --cacert "$T/tls/fullchain.pem" \
    --resolve "$HOST:$PORT:127.0.0.1" "$BASE/"
}
wait_http() { wait_until "$1" https_answers; } # SECONDS

# ---- requests ----

now_ms() { date +%s%3N; }

# A sendOtp body (the shape of tests/check_send_otp.c) in a file.
sendotp_body() { # FILE REQUEST_ID
  printf '{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},"requestId":"%s","requestTimestamp":"%s"},"associationId":"assoc-1","smsMatchingToken":"%s","otpContext":{"association":{}}}' \
    "$2" "$(now_ms)" "$TOKEN" >"$1"
}

# Requests go out as HTTP/1.1, the protocol the nginx and Apache sites
# serve (neither enables HTTP/2); lighttpd, which offers h2 by default, is
# checked with it separately (check_http2).

# One request with curl; prints the HTTP status ("000" when none came) and
# leaves the answer in $T/resp/last. Extra curl options may follow.
http() { # METHOD PATH BODYFILE|- [curl options...]
  method=$1 path=$2 body=$3
  shift 3
  set -- -sS --http1.1 --max-time 20 --cacert "$T/tls/fullchain.pem" \
    --resolve "$HOST:$PORT:127.0.0.1" -o "$T/resp/last" -w '%{http_code}' \
    -X "$method" "$@"
  if [ "$body" != - ]; then
    set -- "$@" -H 'Content-Type: application/json' --data-binary "@$body"
  fi
  curl "$@" "$BASE$path" 2>>"$T/log/curl.log" || true
}

# The "result" of a JSON answer in a file, or nothing.
json_result() {
  sed -n 's/.*"result" *: *"\([A-Z_]*\)".*/\1/p' "$1" 2>/dev/null
}

# ---- the checks every server passes ----

# A sendOtp through the server: 200, SUCCESS, and its rows.
check_send_otp() { # PATH
  sendotp_body "$T/req/one" "one-${1##*/}-$(now_ms)"
  rid=$(sed 's/.*"requestId":"\([^"]*\)".*/\1/' "$T/req/one")
  code=$(http POST "$1" "$T/req/one")
  [ "$code" = 200 ] || die "sendOtp to $1: HTTP $code, want 200: $(cat "$T/resp/last")"
  [ "$(json_result "$T/resp/last")" = SUCCESS ] ||
    die "sendOtp to $1: $(cat "$T/resp/last"), want result SUCCESS"
  grep -q '"paymentIntegratorSendOtpId" *: *"[0-9a-f]\{32\}"' "$T/resp/last" ||
    die "sendOtp to $1: no paymentIntegratorSendOtpId: $(cat "$T/resp/last")"
  # The sender may have sent it already.
  n=$(sql "SELECT count(*) FROM outbox b JOIN otps o ON b.otp_id = o.id
           WHERE o.request_id = '$rid' AND b.status IN ('queued', 'sending', 'sent')
             AND b.destination = '$PHONE' AND b.text LIKE '%$TOKEN'")
  [ "$n" = 1 ] || die "sendOtp $rid answered SUCCESS but has $n outbox rows"
  say "ok: POST $1 -> 200 SUCCESS, one outbox row"
}

# Other verbs get 405 with Allow: POST, and write nothing.
check_not_post() { # METHOD [worker|server]
  before=$(sql "SELECT count(*) FROM requests")
  code=$(http "$1" "$API_PATH" - -D "$T/resp/headers")
  [ "$code" = 405 ] || die "$1 $API_PATH: HTTP $code, want 405"
  grep -qi '^Allow: *POST' "$T/resp/headers" ||
    die "$1 $API_PATH: 405 without 'Allow: POST': $(cat "$T/resp/headers")"
  after=$(sql "SELECT count(*) FROM requests")
  [ "$before" = "$after" ] || die "$1 $API_PATH wrote a requests row"
  say "ok: $1 $API_PATH -> 405, Allow: POST"
}

# Paths that are not the API are not passed to the workers and do not
# expose anything else: the server answers them (404 or 403).
check_other_paths() {
  for p in / /integrator-base-path/e-wallets-v1/ /v1/sendOtpX /v1/other \
    /integrator-base-path/e-wallets-v1/sendOtp/x /otpgate-fcgi; do
    code=$(http POST "$p" "$T/req/one")
    case $code in
    403 | 404) ;;
    *) die "POST $p: HTTP $code, want 403 or 404 from the server" ;;
    esac
    if grep -q '"errorResponseCode"' "$T/resp/last"; then
      die "POST $p reached a worker: $(cat "$T/resp/last")"
    fi
  done
  say "ok: other paths get 403/404 from the server, not a worker"
}

# Bodies over 64 KiB ([api] max_body_bytes and the server's own limit) get
# 413 promptly; exactly 64 KiB still goes through.
check_body_limits() {
  # A valid sendOtp padded with JSON white space to exactly 65536 bytes.
  sendotp_body "$T/req/edge" "edge-$(now_ms)"
  size=$(wc -c <"$T/req/edge")
  head -c $((65536 - size)) /dev/zero | tr '\0' ' ' >>"$T/req/edge"
  [ "$(wc -c <"$T/req/edge")" = 65536 ] || die "could not build a 64 KiB body"
  code=$(http POST "$API_PATH" "$T/req/edge")
  [ "$code" = 200 ] && [ "$(json_result "$T/resp/last")" = SUCCESS ] ||
    die "a body of exactly 65536 bytes: HTTP $code $(cat "$T/resp/last"), want 200 SUCCESS"
  say "ok: 65536-byte body -> 200 SUCCESS"

  printf ' ' >>"$T/req/edge"
  code=$(http POST "$API_PATH" "$T/req/edge")
  [ "$code" = 413 ] || die "a body of 65537 bytes: HTTP $code, want 413"
  say "ok: 65537-byte body -> 413"

  head -c 8388608 /dev/zero | tr '\0' ' ' >"$T/req/huge"
  start=$(now_ms)
  code=$(http POST "$API_PATH" "$T/req/huge")
  [ "$code" = 413 ] || die "an 8 MiB body: HTTP $code, want 413"
  say "ok: 8 MiB body -> 413 in $(($(now_ms) - start)) ms"

  # Without Content-Length (chunked): the server either counts the chunks
  # (a small body goes through, a big one gets 413) or refuses any body
  # without a length with 411 (CHUNKED=411).
  sendotp_body "$T/req/chunked-small" "chunked-$(now_ms)"
  code=$(http POST "$API_PATH" "$T/req/chunked-small" -H 'Transfer-Encoding: chunked')
  if [ "${CHUNKED:-413}" = 411 ]; then
    [ "$code" = 411 ] || die "a small chunked body: HTTP $code, want 411"
  else
    [ "$code" = 200 ] && [ "$(json_result "$T/resp/last")" = SUCCESS ] ||
      die "a small chunked body: HTTP $code $(cat "$T/resp/last"), want 200 SUCCESS"
  fi
  head -c 200000 /dev/zero | tr '\0' ' ' >"$T/req/chunked"
  before=$(sql "SELECT count(*) FROM requests")
  start=$(now_ms)
  code=$(http POST "$API_PATH" "$T/req/chunked" -H 'Transfer-Encoding: chunked')
  took=$(($(now_ms) - start))
  # lighttpd answers 413 once the chunks pass its limit, then closes while
  # the client is still sending: depending on timing the client sees the
  # 413 or only the closed connection (CHUNKED_CLOSE_OK=1). Either way the
  # request is cut short at once and never reaches a worker.
  if [ "$code" = 000 ] && [ "${CHUNKED_CLOSE_OK:-0}" = 1 ] && [ "$took" -lt 5000 ]; then
    code="413 or closed"
  elif [ "$code" != "${CHUNKED:-413}" ]; then
    die "a chunked body of 200000 bytes: HTTP $code, want ${CHUNKED:-413}"
  fi
  [ "$(sql "SELECT count(*) FROM requests")" = "$before" ] ||
    die "a chunked body of 200000 bytes reached a worker"
  say "ok: chunked bodies: small -> ${CHUNKED:-200}, 200000 bytes -> $code in $took ms"
}

# The TLS versions Google uses work: 1.2 and 1.3.
check_tls() {
  for v in 1.2 1.3; do
    sendotp_body "$T/req/tls" "tls${v%.*}${v#*.}-$(now_ms)"
    code=$(http POST "$API_PATH" "$T/req/tls" --tlsv$v --tls-max $v)
    [ "$code" = 200 ] || die "TLS $v: HTTP $code, want 200"
  done
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    "http://127.0.0.1:$PORT$API_PATH" 2>/dev/null || true)
  [ "$code" = 400 ] || [ "$code" = 000 ] ||
    die "plain HTTP on the TLS port: HTTP $code, want a TLS error"
  say "ok: TLS 1.2 and 1.3 accepted; plain HTTP refused"
}

# sendOtp over HTTP/2, for servers that offer it.
check_http2() {
  sendotp_body "$T/req/h2" "h2-$(now_ms)"
  code=$(http POST "$API_PATH" "$T/req/h2" --http2 -D "$T/resp/headers")
  grep -q '^HTTP/2 ' "$T/resp/headers" || die "no HTTP/2: $(head -n 1 "$T/resp/headers")"
  [ "$code" = 200 ] && [ "$(json_result "$T/resp/last")" = SUCCESS ] ||
    die "sendOtp over HTTP/2: HTTP $code $(cat "$T/resp/last")"
  say "ok: sendOtp over HTTP/2 -> 200 SUCCESS"
}

# A curl config file with one sendOtp per requestId, for --parallel.
write_batch() { # CONFIGFILE PREFIX COUNT
  : >"$1"
  i=1
  while [ "$i" -le "$3" ]; do
    id=$2-$i
    sendotp_body "$T/req/$id" "$id"
    # "next" separates transfers; a trailing one would be an empty transfer
    # that fails them all.
    [ "$i" -gt 1 ] && echo next >>"$1"
    cat >>"$1" <<EOF
url = "$BASE$API_PATH"
cacert = "$T/tls/fullchain.pem"
resolve = "$HOST:$PORT:127.0.0.1"
http1.1
max-time = 60
header = "Content-Type: application/json"
data-binary = "@$T/req/$id"
output = "$T/resp/$id"
write-out = "%{http_code} $id\\n"
EOF
    i=$((i + 1))
  done
}

# COUNT sendOtp at once, distinct requestIds (PREFIX-1..., default par):
# COUNT answers of 200 SUCCESS, COUNT new outbox rows, and (checked by the
# caller) nothing in the logs.
check_parallel() { # COUNT [PREFIX]
  prefix=${2:-par}
  write_batch "$T/batch.curl" "$prefix" "$1"
  before=$(sql "SELECT count(*) FROM outbox")
  start=$(now_ms)
  curl -sS --parallel --parallel-immediate --parallel-max "$1" \
    -K "$T/batch.curl" >"$T/batch.out" 2>>"$T/log/curl.log" || true
  took=$(($(now_ms) - start))
  ok=$(grep -c '^200 ' "$T/batch.out")
  [ "$ok" = "$1" ] ||
    die "$1 parallel sendOtp: $ok answers of 200; the others: $(grep -v '^200 ' "$T/batch.out" | sort | uniq -c | head)"
  succ=0
  for f in "$T/resp/$prefix"-*; do
    [ "$(json_result "$f")" = SUCCESS ] && succ=$((succ + 1))
  done
  [ "$succ" = "$1" ] || die "$1 parallel sendOtp: only $succ SUCCESS"
  after=$(sql "SELECT count(*) FROM outbox")
  [ $((after - before)) = "$1" ] ||
    die "$1 parallel sendOtp: $((after - before)) new outbox rows"
  n=$(sql "SELECT count(DISTINCT o.request_id) FROM otps o JOIN outbox b ON b.otp_id = o.id
           WHERE o.request_id LIKE '$prefix-%'")
  [ "$n" = "$1" ] || die "$1 parallel sendOtp: $n distinct requestIds with a row"
  say "ok: $1 parallel sendOtp -> $1 x 200 SUCCESS, $1 outbox rows, in $took ms"
}

# The stream: CLIENTS loops sending sendOtp one after another until
# $T/stop exists; each answer is appended to $T/stream.N as
# "requestId httpstatus result".
stream_start() { # CLIENTS
  rm -f "$T/stop" "$T"/stream.*
  STREAM_PIDS=""
  c=1
  while [ "$c" -le "$1" ]; do
    (
      i=0
      while [ ! -e "$T/stop" ]; do
        i=$((i + 1))
        id=s$c-$i
        sendotp_body "$T/req/$id" "$id"
        code=$(curl -s --http1.1 --max-time 30 --cacert "$T/tls/fullchain.pem" \
          --resolve "$HOST:$PORT:127.0.0.1" -o "$T/resp/$id" -w '%{http_code}' \
          -H 'Content-Type: application/json' --data-binary "@$T/req/$id" \
          "$BASE$API_PATH" 2>/dev/null || true)
        echo "$id $code $(json_result "$T/resp/$id")" >>"$T/stream.$c"
      done
    ) &
    STREAM_PIDS="$STREAM_PIDS $!"
    c=$((c + 1))
  done
  on_exit "touch '$T/stop'; kill $STREAM_PIDS"
}

stream_count() { cat "$T"/stream.* 2>/dev/null | wc -l; }

# Waits until the stream has N more answers than now.
stream_at_least() { [ "$(stream_count)" -ge "$1" ]; }
stream_advance() { # N
  wait_until 30 stream_at_least $(($(stream_count) + $1)) ||
    die "the stream stalled at $(stream_count) answers"
}

stream_stop() {
  touch "$T/stop"
  for pid in $STREAM_PIDS; do wait "$pid"; done
}

# After the stream: every SUCCESS has its rows and nothing is half
# written. Every request got SUCCESS, but for at most MAX_5XX answers of
# 500-503 (servers whose workers each have their own socket may drop a
# request that was queued to a worker as it stopped; Google retries those).
check_stream() { # MAX_5XX
  cat "$T"/stream.* >"$T/stream.all"
  total=$(wc -l <"$T/stream.all")
  succ=$(grep -c ' 200 SUCCESS$' "$T/stream.all")
  other=$((total - succ))
  e5xx=$(grep -cE '^[^ ]+ 50[0-3] *$' "$T/stream.all")
  say "stream: $total requests, $succ SUCCESS, $other other: $(grep -v ' 200 SUCCESS$' "$T/stream.all" | cut -d' ' -f2- | sort | uniq -c | tr '\n' ';')"
  [ "$succ" -gt 0 ] || die "no request of the stream succeeded"
  [ "$other" = "$e5xx" ] || die "requests of the stream failed otherwise than with 500-503"
  [ "$e5xx" -le "$1" ] || die "$e5xx requests of the stream got 5xx (at most $1 allowed)"
  {
    echo "CREATE TEMP TABLE ok (id TEXT PRIMARY KEY);"
    grep ' 200 SUCCESS$' "$T/stream.all" | cut -d' ' -f1 | sed "s/.*/INSERT INTO ok VALUES ('&');/"
    echo "SELECT count(*) FROM ok WHERE id NOT IN (
            SELECT o.request_id FROM otps o
            JOIN outbox b ON b.otp_id = o.id
            JOIN requests r ON r.request_id = o.request_id AND r.http_status = 200);"
  } >"$T/stream.sql"
  lost=$(sql ".read $T/stream.sql")
  [ "$lost" = 0 ] || die "$lost requests answered SUCCESS have no complete record"
  # No half records: the idempotency record, the OTP and the SMS go
  # together or not at all.
  r=$(sql "SELECT count(*) FROM requests WHERE method = 'sendOtp' AND http_status = 200")
  o=$(sql "SELECT count(*) FROM otps")
  b=$(sql "SELECT count(*) FROM outbox")
  j=$(sql "SELECT count(*) FROM otps o JOIN outbox b ON b.otp_id = o.id
           JOIN requests r ON r.request_id = o.request_id")
  [ "$r" = "$o" ] && [ "$o" = "$b" ] && [ "$b" = "$j" ] ||
    die "half records: requests(200) $r, otps $o, outbox $b, joined $j"
  say "ok: every SUCCESS has its rows; requests = otps = outbox = $b"
}

# Remembers how long each log is now: check_log_clean looks only at what
# is written after.
log_mark() {
  for f in "$T"/log/*; do
    [ -f "$f" ] && wc -c <"$f" >"$T/mark.$(basename "$f")"
  done
}

# Lines of a log (since log_mark) that are neither expected noise (NOISE, an extended
# regular expression) nor a worker's info line (start, stop, or a request
# answered 200 or 4xx). Fails the test when there are any: a worker's
# warning or error, a 5xx, or any complaint of the server.
check_log_clean() { # FILE NOISE
  [ -f "$1" ] || return 0
  from=$(cat "$T/mark.$(basename "$1")" 2>/dev/null || echo 0)
  bad=$(tail -c +$((from + 1)) "$1" | grep -v -E "$2" |
    grep -v -E 'otpgate-fcgi\[[0-9]+\] info: event=(ready|stopped status=0|pgp_key key=|request method=[A-Za-z]+ requestId=[A-Za-z0-9:_-]* result=[A-Za-z_]+ status=(200|4[0-9][0-9]) )' |
    grep -v -E 'otpgate-fcgi\[[0-9]+\] warn: event=payload_plain ' |
    grep -v '^[[:space:]]*$' || true)
  [ -z "$bad" ] || die "unexpected lines in $1:
$bad"
  say "ok: nothing unexpected in $(basename "$1")"
}

# ---- the sender, and the units' processes, as the README runs them ----

# Execs a command as $SVC_USER with umask 0007 (the units' User=, Group=
# and UMask=). It execs: run it in the background (&), so that $! is the
# command itself.
exec_as_svc() {
  umask 0007
  if [ "$(id -u)" -eq 0 ]; then
    exec setpriv --reuid="$SVC_USER" --regid="$SVC_GROUP" --init-groups "$@"
  fi
  exec "$@"
}

sender_alive() {
  kill -0 "$SENDER_PID" 2>/dev/null || die "the sender exited: $(cat "$T/log/sender.log")"
  [ "$(sql 'SELECT count(*) FROM senders')" -ge 1 ]
}

# Starts otpgate-sender as otpgate-sender.service does (as $SVC_USER, not
# as the workers of Apache or lighttpd's bin-path), writing each SMS into
# the spool directory $T/spool, and waits for its first heartbeat: from
# then on sendOtp's heartbeat check is on, as in production.
start_sender() {
  install -d -o "$SVC_USER" -g "$SVC_GROUP" -m 2770 "$T/spool" || die "cannot make $T/spool"
  conf_sender <<CONF
transport = spool
spool_dir = $T/spool
wake_socket = $T/run/sender.sock
${SENDER_EXTRA:-}
CONF
  cp "$OTPGATE_BUILDDIR/src/otpgate-sender" "$T/bin/otpgate-sender"
  chmod 755 "$T/bin/otpgate-sender"
  exec_as_svc "$T/bin/otpgate-sender" -c "$CONF" >>"$T/log/sender.log" 2>&1 &
  SENDER_PID=$!
  on_exit "kill -TERM $SENDER_PID; sleep 0.5; kill -KILL $SENDER_PID"
  wait_until 10 sender_alive || die "no heartbeat from the sender after 10 s: $(cat "$T/log/sender.log")"
  say "sender: pid $SENDER_PID as $SVC_USER:$SVC_GROUP, spool $T/spool"
}

outbox_all_sent() {
  [ "$(sql "SELECT count(*) FROM outbox WHERE status NOT IN ('sent', 'superseded')")" = 0 ]
}

# A row is 'superseded' only when a newer code of its account was sent
# (or the account closed) before it went out: the account's newest row is
# never superseded, and a superseded row left no file in the spool.
check_superseded_rows() {
  bad=$(sql "SELECT count(*) FROM outbox o WHERE status = 'superseded' AND NOT EXISTS
             (SELECT 1 FROM outbox n WHERE n.account_id = o.account_id AND n.id > o.id)")
  [ "$bad" = 0 ] || die "$bad superseded rows have no newer row of their account"
  newest=$(sql "SELECT count(*) FROM outbox o WHERE status <> 'sent' AND id =
                (SELECT max(id) FROM outbox n WHERE n.account_id = o.account_id)")
  [ "$newest" = 0 ] || die "an account's newest SMS was not sent"
}

# Every SMS the workers queued went out, or was superseded by a newer
# code of its account before it could: the sender, writing the database
# the workers write, marked each row 'sent' and left one spool file per
# sent row; it still runs and logged nothing but info lines.
check_sender_drained() {
  wait_until 30 outbox_all_sent ||
    die "rows not sent 30 s after the last request: $(sql "SELECT status, count(*), max(last_error) FROM outbox WHERE status NOT IN ('sent', 'superseded') GROUP BY status")"
  check_superseded_rows
  rows=$(sql "SELECT count(*) FROM outbox WHERE status = 'sent'")
  files=$(find "$T/spool" -maxdepth 1 -type f -name 'otpgate-*' | wc -l)
  [ "$files" = "$rows" ] || die "$rows rows sent, $files files in the spool"
  kill -0 "$SENDER_PID" 2>/dev/null || die "the sender is gone: $(cat "$T/log/sender.log")"
  bad=$(grep -vE 'otpgate-sender\[[0-9]+\] info: ' "$T/log/sender.log" || true)
  [ -z "$bad" ] || die "unexpected lines in $T/log/sender.log:
$bad"
  say "ok: the sender ($SVC_USER) sent all $rows rows into the spool; its log is clean"
}

# The effective user id of a process.
proc_euid() { awk '/^Uid:/ { print $3 }' "/proc/$1/status" 2>/dev/null; }

# Who runs what, as the README has it: the sender as $SVC_USER (otpgate)
# and every worker as WORKERS_USER (the web server's user under mod_fcgid
# and lighttpd's bin-path, otpgate under spawn-fcgi); run as root, the web
# server's user and otpgate are two users, the first a member of the
# second's group.
check_process_users() { # WORKERS_USER
  [ "$(proc_euid "$SENDER_PID")" = "$(id -u "$SVC_USER")" ] ||
    die "the sender runs as uid $(proc_euid "$SENDER_PID"), not $SVC_USER"
  pids=$(worker_pids)
  [ -n "$pids" ] || die "no worker running"
  for pid in $pids; do
    [ "$(proc_euid "$pid")" = "$(id -u "$1")" ] ||
      die "worker $pid runs as uid $(proc_euid "$pid"), not $1"
  done
  if [ "$(id -u)" -eq 0 ]; then
    [ "$RUN_USER" != "$SVC_USER" ] || die "the web server and otpgate are one user"
    id -nG "$RUN_USER" | tr ' ' '\n' | grep -qxF "$SVC_GROUP" ||
      die "$RUN_USER is not in group $SVC_GROUP"
  fi
  say "ok: the sender runs as $SVC_USER, the $(echo "$pids" | wc -w) workers as $1; the web server's user is $RUN_USER"
}

# ---- the workers under spawn-fcgi, from the shipped systemd unit ----

# Runs the unit's ExecStart as systemd would (as User=, with /run/otpgate
# made), with its paths moved into $T: spawn-fcgi binds $T/run's socket and
# execs multiwatch, which keeps the workers running. Sets SPAWN_PID and
# SOCKET.
start_spawn_fcgi() {
  # The unit's source: make puts configure's directories where its
  # @bindir@, @sysconfdir@ and @runstatedir@ stand.
  unit=$OTPGATE_SRCDIR/contrib/systemd/otpgate-fcgi.service.in
  cmd=$(sed -n 's/^ExecStart=//p' "$unit")
  [ -n "$cmd" ] || die "no ExecStart in $unit"
  SOCKET=$T/run/otpgate-fcgi.sock
  cmd=$(printf '%s\n' "$cmd" | sed \
    -e "s|@runstatedir@/otpgate/otpgate-fcgi.sock|$SOCKET|" \
    -e "s|@bindir@/otpgate-fcgi|$WORKER|" \
    -e "s|@sysconfdir@/otpgate/otpgate.conf|$CONF|" \
    -e "s|/usr/bin/spawn-fcgi|$(command -v spawn-fcgi)|" \
    -e "s|/usr/bin/multiwatch|$(command -v multiwatch)|")
  case $cmd in
  *"$SOCKET"*"$WORKER"*"$CONF"*) ;;
  *) die "the unit's ExecStart changed shape: $cmd" ;;
  esac
  say "workers: $cmd"
  # The unit's User=otpgate and Group=otpgate ($SVC_USER); the web server's
  # user ($RUN_USER) reaches the socket as a member of that group.
  # exec_as_svc execs, so that $! is spawn-fcgi, which execs multiwatch:
  # the unit's main process.
  # shellcheck disable=SC2086
  exec_as_svc $cmd >>"$T/log/workers.log" 2>&1 &
  SPAWN_PID=$!
  on_exit "kill -TERM $SPAWN_PID; sleep 0.5; kill -KILL $SPAWN_PID"
  wait_until 10 spawn_ready || die "no workers after 10 s"
  sleep 0.2
  say "workers: $(worker_pids | wc -l) running on $SOCKET"
}

# Stops the workers as systemd would (KillMode=mixed: SIGTERM to multiwatch).
stop_spawn_fcgi() {
  kill -TERM "$SPAWN_PID" 2>/dev/null
  wait_gone "$SPAWN_PID" 10 || die "multiwatch did not stop on SIGTERM"
  wait "$SPAWN_PID"
  status=$?
  [ -z "$(worker_pids)" ] || die "workers left after multiwatch stopped"
  say "ok: SIGTERM to multiwatch stopped every worker (status $status)"
}

# The spawn-fcgi socket is there with 2 workers or more; dies at once if
# spawn-fcgi has exited.
spawn_ready() {
  kill -0 "$SPAWN_PID" 2>/dev/null || die "spawn-fcgi exited: $(cat "$T/log/workers.log")"
  [ -S "$SOCKET" ] && workers_at_least 2
}

# SIGTERM to one worker: it finishes its request and exits, and multiwatch
# starts another.
term_one_worker() {
  before=$(worker_pids | sort | tr '\n' ' ')
  victim=$(worker_pids | head -n 1)
  [ -n "$victim" ] || die "no worker to stop"
  kill -TERM "$victim"
  wait_gone "$victim" 10 || die "worker $victim ignored SIGTERM"
  wait_until 10 workers_at_least "$(echo "$before" | wc -w)" ||
    die "worker $victim was not replaced"
  say "worker $victim stopped on SIGTERM and was replaced (workers were: $before)"
}
