#!/bin/bash
# Processes that die (issue 8): lighttpd with its bin-path workers and the
# real otpgate-sender (exec transport) under 20 s of sendOtp load, while
# SIGKILL strikes a random worker or the sender every few hundred ms. The
# sender is restarted after each kill; lighttpd restarts its workers.
# Afterwards every SUCCESS has exactly one outbox row, every row reached
# the gateway, a row reached it twice only through a sender killed between
# the gateway call and the recording of its outcome, nothing is left
# 'sending', and the database is intact. The sender works in batches: a
# kill leaves at most its batch in hand (batch_size rows, recorded
# together) to be sent again, so the bound is at most one batch resent per
# sender kill: no killed sender first sent more than BATCH duplicates, and
# there are at most BATCH x kills of them.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
LOAD_SECONDS=${OTPGATE_KILL_SECONDS:-20}
LEASE=3
BATCH=8
CONCURRENCY=4
# The lease of a batch's rows (sender.c, sender_lease_ms()): LEASE plus
# exec_timeout_seconds for each round of CONCURRENCY sends after the first.
BATCH_LEASE=$((LEASE + (BATCH / CONCURRENCY - 1) * (LEASE - 1)))
deploy_setup kill

# The gateway: reads the SMS, takes 100 ms (so that rows queue up behind it
# and the sender's batches hold several, which a kill then leaves to be sent
# again), appends "row-id parent-pid" to the record.
# It runs in a process group of its own, so a kill of the sender does not
# stop it: a kill between its start and the recording of the outcome is
# what may deliver a row twice. Its parent is the sender that ran it, or,
# when that sender was killed before the script started, whatever adopted
# it (not a sender).
mkdir -p "$T/gw"
cat >"$T/bin/gateway.sh" <<'EOF'
#!/bin/sh
while read -r _; do :; done
sleep 0.1
echo "$OTPGATE_MESSAGE_ID $PPID" >>"$1"
EOF
chmod 755 "$T/bin/gateway.sh"
touch "$T/gw/record"
chown -R "$SVC_USER:$SVC_GROUP" "$T/gw"
cp "$OTPGATE_BUILDDIR/src/otpgate-sender" "$T/bin/otpgate-sender"
chmod 755 "$T/bin/otpgate-sender"

# Short leases so that rows a killed sender held come back within the test;
# enough attempts that kills alone never exhaust a row.
conf_sender <<EOF
transport = exec
exec_command = $T/bin/gateway.sh $T/gw/record
exec_timeout_seconds = $((LEASE - 1))
lease_seconds = $LEASE
batch_size = $BATCH
concurrency = $CONCURRENCY
max_attempts = 100
poll_interval_ms = 100
heartbeat_seconds = 1
wake_socket = $T/run/sender.sock
EOF

# The sender, as otpgate-sender.service runs it: as the README's otpgate
# ($SVC_USER), while lighttpd's workers run as the web server's user.
# exec_as_svc execs, so $! is the sender itself.
sender_start() {
  exec_as_svc "$T/bin/otpgate-sender" -c "$CONF" >>"$T/log/sender.log" 2>&1 &
  SENDER_PID=$!
  echo "$SENDER_PID" >>"$T/senders"
}
on_exit 'kill -KILL $SENDER_PID'
sender_start
# sendOtp refuses while no sender has a heartbeat: wait for the first.
sender_seen() { [ "$(sql 'SELECT count(*) FROM senders')" -ge 1 ]; }
wait_until 10 sender_seen || die "the sender did not start: $(cat "$T/log/sender.log")"

lighttpd_start "$OTPGATE_SRCDIR/etc/lighttpd/otpgate.conf"
WORKERS=$(worker_pids | wc -l)
[ "$WORKERS" = 4 ] || die "lighttpd started $WORKERS workers, want 4"

# ---- the load, and the kills ----
stream_start 6
say "load: 6 clients for $LOAD_SECONDS s; SIGKILL every 150-450 ms"
: >"$T/kills"
sender_kills=0 worker_kills=0
end=$(($(now_ms) + LOAD_SECONDS * 1000))
while [ "$(now_ms)" -lt "$end" ]; do
  sleep "0.$((150 + RANDOM % 300))"
  # A worker or the sender, at even odds; never the last two workers, so
  # that lighttpd, which restarts them about once a second, keeps some.
  alive=$(pgrep -P "$LIGHTTPD_PID" -x otpgate-fcgi)
  if [ $((RANDOM % 2)) = 0 ] && [ "$(echo "$alive" | wc -w)" -gt 2 ]; then
    victim=$(echo "$alive" | shuf -n 1)
    kill -KILL "$victim" 2>/dev/null && worker_kills=$((worker_kills + 1)) &&
      echo "worker $victim" >>"$T/kills"
  else
    # Only our kills may stop it.
    kill -0 "$SENDER_PID" 2>/dev/null || {
      wait "$SENDER_PID"
      die "the sender $SENDER_PID exited by itself (status $?)"
    }
    kill -KILL "$SENDER_PID"
    wait "$SENDER_PID" 2>/dev/null
    sender_kills=$((sender_kills + 1))
    echo "sender $SENDER_PID" >>"$T/kills"
    sender_start
  fi
done
stream_stop
say "load stopped: $(stream_count) requests; $sender_kills sender kills, $worker_kills worker kills"

# lighttpd brings its workers back by itself.
wait_until 5 workers_at_least "$WORKERS" ||
  die "lighttpd did not restart its workers: $(worker_pids | wc -l) of $WORKERS running"
say "ok: lighttpd restarted its workers ($WORKERS running)"

# ---- the sender finishes: leases of killed senders run out ----
outbox_drained() {
  [ "$(sql "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')")" = 0 ]
}
wait_until $((BATCH_LEASE + 15)) outbox_drained ||
  die "rows still waiting $((BATCH_LEASE + 15)) s after the load: $(sql "SELECT status, count(*) FROM outbox GROUP BY status")"
kill -TERM "$SENDER_PID"
wait_gone "$SENDER_PID" 10 || die "the sender ignored SIGTERM"
wait "$SENDER_PID"
say "the sender drained the outbox and stopped (status $?)"

# ---- what the database says ----
# Worker kills drop requests in flight: lighttpd answers them 500-503
# (a kill can strike a worker with a request queued on its socket as well
# as the one in hand).
check_stream $((worker_kills * 3 + 5))
multi=$(sql "SELECT count(*) FROM (SELECT o.request_id FROM otps o
             JOIN outbox b ON b.otp_id = o.id GROUP BY o.request_id HAVING count(*) <> 1)")
[ "$multi" = 0 ] || die "$multi requestIds have more than one outbox row"
# One account takes every code: a row still queued when a newer code was
# sent is 'superseded' and never goes out (the newer one does).
notsent=$(sql "SELECT status || ' ' || count(*) FROM outbox WHERE status NOT IN ('sent', 'superseded') GROUP BY status")
[ -z "$notsent" ] || die "rows neither sent nor superseded: $notsent"
check_superseded_rows
[ "$(sql 'PRAGMA integrity_check')" = ok ] || die "integrity_check: $(sql 'PRAGMA integrity_check')"
say "ok: exactly one outbox row per SUCCESS, every row 'sent' or superseded by a newer one, none 'sending'; integrity_check ok"

# ---- what the gateway says ----
{
  echo "CREATE TEMP TABLE gw (seq INTEGER PRIMARY KEY, id INTEGER, pid INTEGER);"
  echo "CREATE TEMP TABLE killed (pid INTEGER PRIMARY KEY);"
  echo "CREATE TEMP TABLE started (pid INTEGER PRIMARY KEY);"
  awk '{ printf "INSERT OR IGNORE INTO started VALUES (%d);\n", $1 }' "$T/senders"
  awk '{ printf "INSERT INTO gw (id, pid) VALUES (%d, %d);\n", $1, $2 }' "$T/gw/record"
  awk '$1 == "sender" { printf "INSERT OR IGNORE INTO killed VALUES (%d);\n", $2 }' "$T/kills"
  # Every row reached the gateway but superseded ones; nothing else did.
  echo "SELECT 'never delivered', count(*) FROM outbox WHERE status = 'sent' AND id NOT IN (SELECT id FROM gw);"
  echo "SELECT 'superseded delivered', count(*) FROM outbox WHERE status = 'superseded'
          AND id IN (SELECT id FROM gw);"
  echo "SELECT 'unknown ids', count(*) FROM gw WHERE id NOT IN (SELECT id FROM outbox);"
  # Deliveries that were not a row's last: the first of a duplicate.
  echo "CREATE TEMP TABLE extra AS SELECT g.id, g.pid FROM gw g
          WHERE EXISTS (SELECT 1 FROM gw h WHERE h.id = g.id AND h.seq > g.seq);"
  echo "SELECT 'duplicates', count(*) FROM extra;"
  # Each was made by a sender that was then killed (its last batch at
  # most), or by one killed before the script started (orphaned).
  echo "SELECT 'by live senders', count(*) FROM extra
          WHERE pid IN (SELECT pid FROM started) AND pid NOT IN (SELECT pid FROM killed);"
  echo "SELECT 'over a batch per kill', count(*) FROM (SELECT pid FROM extra
          WHERE pid IN (SELECT pid FROM killed) GROUP BY pid HAVING count(*) > $BATCH);"
  echo "SELECT 'most per kill', coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM extra
          WHERE pid IN (SELECT pid FROM killed) GROUP BY pid);"
  echo "SELECT 'orphaned', count(*) FROM extra WHERE pid NOT IN (SELECT pid FROM started);"
  echo "SELECT 'list', group_concat(id || ' (' || CASE WHEN pid IN (SELECT pid FROM started)
          THEN 'killed sender ' || pid ELSE 'orphaned' END || ')', ', ') FROM extra;"
} >"$T/gw.sql"
sql ".read $T/gw.sql" >"$T/gw.out" || die "cannot read the gateway's record"
val() { sed -n "s/^$1|//p" "$T/gw.out"; }
deliveries=$(wc -l <"$T/gw/record")
rows=$(sql 'SELECT count(*) FROM outbox')
say "gateway: $deliveries deliveries of $rows rows; $(val duplicates) duplicates: $(val list)"
[ "$(val 'never delivered')" = 0 ] || die "$(val 'never delivered') rows never reached the gateway"
[ "$(val 'superseded delivered')" = 0 ] || die "$(val 'superseded delivered') superseded rows reached the gateway"
[ "$(val 'unknown ids')" = 0 ] || die "the gateway got $(val 'unknown ids') messages with no outbox row"
[ "$(val 'by live senders')" = 0 ] ||
  die "$(val 'by live senders') duplicates were first sent by a sender that was not killed"
[ "$(val 'over a batch per kill')" = 0 ] ||
  die "$(val 'over a batch per kill') killed senders left more than a batch ($BATCH rows) to be sent again"
[ "$(val duplicates)" -le $((sender_kills * BATCH)) ] ||
  die "$(val duplicates) duplicates for $sender_kills sender kills of batches of $BATCH"
say "ok: every row reached the gateway; $(val duplicates) duplicates, each from a sender killed mid-batch ($(val orphaned) before its script started), at most $(val 'most per kill') per kill (bound: one batch, $BATCH), $sender_kills sender kills"
