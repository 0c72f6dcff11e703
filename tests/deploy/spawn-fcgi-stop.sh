#!/bin/bash
# `systemctl stop otpgate-fcgi` under load loses no answer: the workers run
# under spawn-fcgi and multiwatch exactly as contrib/systemd/otpgate-fcgi.service
# starts them, lighttpd (etc/lighttpd/otpgate-spawn-fcgi.conf) passes them
# requests, and multiwatch gets SIGTERM (KillMode=mixed) while every worker
# holds a request and more wait on the socket. multiwatch -s TERM passes the
# workers SIGQUIT on Debian 12 (issue 16): they must stop as gracefully as
# on SIGTERM.
#
# To make "in flight" certain rather than likely, the test holds the
# database's write lock (the flock on <database>-lock that every write
# queues on) while the requests arrive: each worker blocks inside its
# request, and the rest queue on the socket. Then multiwatch is stopped,
# more requests are sent, and the lock is let go.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
need_server spawn-fcgi "apt-get install spawn-fcgi"
need_server multiwatch "apt-get install multiwatch"
need_tool flock util-linux
need_tool ss iproute2
deploy_setup spawn-fcgi-stop
# Requests wait on the lock for as long as the test holds it.
sed -i 's|^\[database\]$|&\nbusy_timeout_ms = 20000|' "$CONF"
conf_perms
start_spawn_fcgi
lighttpd_start "$OTPGATE_SRCDIR/etc/lighttpd/otpgate-spawn-fcgi.conf"
NWORKERS=$(worker_pids | wc -l)
[ "$NWORKERS" -ge 2 ] || die "$NWORKERS workers"

# One sendOtp in the background; its answer goes to $T/answers as
# "requestId httpstatus result" (status 000: no answer at all).
send_bg() { # REQUEST_ID
  sendotp_body "$T/req/$1" "$1"
  (
    code=$(curl -s --http1.1 --max-time 30 --cacert "$T/tls/fullchain.pem" \
      --resolve "$HOST:$PORT:127.0.0.1" -o "$T/resp/$1" -w '%{http_code}' \
      -H 'Content-Type: application/json' --data-binary "@$T/req/$1" \
      "$BASE$API_PATH" 2>/dev/null || true)
    echo "$1 $code $(json_result "$T/resp/$1")" >>"$T/answers"
  ) &
  CLIENTS="$CLIENTS $!"
}
CLIENTS=""

# Requests blocked on the write lock: one waiter per worker holding one.
LOCK=$T/db/otpgate.db-lock
[ -e "$LOCK" ] || die "no $LOCK: the write queue is off?"
INODE=$(stat -c %i "$LOCK")
lock_waiters() { grep -cE -- "-> FLOCK .*:$INODE " /proc/locks; }
lock_waiters_are() { [ "$(lock_waiters)" = "$1" ]; }
# Connections waiting on the workers' socket for an accept().
socket_queue() { ss -xlnH | awk -v s="$SOCKET" '$5 == s { print $3 }'; }
socket_queue_is() { [ "$(socket_queue)" = "$1" ]; }
lock_held() { grep -qE "FLOCK .*:$INODE " /proc/locks; }

# flock holds the lock until cat, its child (-o: which does not hold it),
# gets a line on the FIFO.
mkfifo "$T/release"
flock -o "$LOCK" cat "$T/release" >/dev/null &
HOLDER=$!
on_exit "kill $HOLDER"
wait_until 5 lock_held || die "could not take $LOCK"

# Every worker holds a request, six more wait on the socket.
QUEUED=6
i=1
while [ $i -le $((NWORKERS + QUEUED)) ]; do
  send_bg "before-$i"
  i=$((i + 1))
done
wait_until 10 lock_waiters_are "$NWORKERS" ||
  die "$(lock_waiters) requests in the workers' hands, want $NWORKERS"
wait_until 10 socket_queue_is "$QUEUED" ||
  die "$(socket_queue) connections queued on $SOCKET, want $QUEUED"
say "in flight: $NWORKERS requests in the workers' hands, $QUEUED queued on the socket"

# systemctl stop: SIGTERM to multiwatch alone (KillMode=mixed).
WORKER_PIDS=$(worker_pids | sort -n | tr '\n' ' ')
kill -TERM "$SPAWN_PID"
sleep 0.3
# Sent while the workers are stopping: they queue behind the others.
for i in 1 2 3 4; do send_bg "during-$i"; done
wait_until 3 socket_queue_is $((QUEUED + 4)) ||
  say "note: $(socket_queue) connections queued after the stop"
echo >"$T/release"
wait "$HOLDER"
say "SIGTERM to multiwatch ($SPAWN_PID; workers $WORKER_PIDS), four more requests, lock released"
wait_gone "$SPAWN_PID" 10 || die "multiwatch did not stop within 10 s of SIGTERM"
wait "$SPAWN_PID"
mw_status=$?
[ -z "$(worker_pids)" ] || die "workers left after multiwatch stopped: $(worker_pids)"
# After the stop nothing listens: these are refused before any worker.
for i in 1 2; do send_bg "after-$i"; done
for pid in $CLIENTS; do wait "$pid"; done
say "answers: $(cut -d' ' -f2-3 "$T/answers" | sort | uniq -c | tr '\n' ';')"

# Every request that reached a worker (all those sent before the workers
# were gone) got 200 SUCCESS; the others got 502 or 503 from lighttpd.
bad=$(grep -E '^(before|during)-' "$T/answers" | grep -v ' 200 SUCCESS$' || true)
[ -z "$bad" ] || die "requests in flight when multiwatch was stopped lost their answer:
$bad"
bad=$(grep -E '^after-' "$T/answers" | grep -vE ' 50[23] *$' || true)
[ -z "$bad" ] || die "requests after the stop, want 502 or 503: $bad"
[ "$(wc -l <"$T/answers")" = $((NWORKERS + QUEUED + 6)) ] || die "answers missing"

# Exactly one record per 200, and none for a refused request: the
# idempotency record, the OTP and the SMS of each, and nothing else.
ok_ids=$(grep ' 200 SUCCESS$' "$T/answers" | cut -d' ' -f1 | sort)
db_ids=$(sql "SELECT o.request_id FROM otps o JOIN outbox b ON b.otp_id = o.id
              JOIN requests r ON r.request_id = o.request_id AND r.method = 'sendOtp'
                AND r.http_status = 200" | sort)
[ "$ok_ids" = "$db_ids" ] || die "the 200 answers and the records differ:
answered: $(echo $ok_ids)
recorded: $(echo $db_ids)"
n=$(echo "$ok_ids" | wc -l)
for t in requests otps outbox; do
  [ "$(sql "SELECT count(*) FROM $t")" = "$n" ] || die "$t has $(sql "SELECT count(*) FROM $t") rows, want $n"
done
# Each worker logged every request it answered and stopped by itself.
for id in $ok_ids; do
  grep -q "requestId=$id " "$T/log/workers.log" || die "no worker logged $id"
done
for id in after-1 after-2; do
  ! grep -q "requestId=$id " "$T/log/workers.log" || die "a worker saw $id"
done
for pid in $WORKER_PIDS; do
  grep -qE "otpgate-fcgi\[$pid\] info: event=stopped status=0" "$T/log/workers.log" ||
    die "worker $pid did not stop by itself"
done
say "ok: SIGTERM to multiwatch (status $mw_status) under load: $n requests answered 200 with one record each, 2 refused after the stop"
check_log_clean "$T/log/workers.log" '^$'
