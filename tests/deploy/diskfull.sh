#!/bin/bash
# A disk that fills (issue 8): the database on a small tmpfs (a loop-mounted
# ext4 image where tmpfs cannot be mounted) behind lighttpd's bin-path
# workers. A file fills what is free, sendOtp load runs into the full disk:
# the workers answer 503 with an ErrorResponse, never SUCCESS without its
# rows, and keep running (the same processes); once the file is removed
# they answer 200 SUCCESS again, and nothing committed is lost.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
[ "$(id -u)" -eq 0 ] || skip "mounting a small filesystem needs root"
SIZE_MB=8
deploy_setup diskfull

# ---- the database directory on a small filesystem of its own ----
cp -a "$T/db" "$T/db.seed" || die "cannot copy the database"
# OTPGATE_DISKFULL_FS=ext4 takes the image even where tmpfs would do.
if [ "${OTPGATE_DISKFULL_FS:-tmpfs}" = tmpfs ] &&
  mount -t tmpfs -o "size=${SIZE_MB}m,mode=0755" otpgate-test "$T/db" 2>"$T/log/mount.log"; then
  FS=tmpfs
else
  # No tmpfs (a container without it, say): a loop-mounted ext4 image,
  # with no blocks reserved for root.
  need_tool mkfs.ext4 e2fsprogs
  truncate -s "${SIZE_MB}M" "$T/disk.img" && mkfs.ext4 -q -F -m 0 "$T/disk.img" &&
    mount -o loop "$T/disk.img" "$T/db" 2>>"$T/log/mount.log" ||
    skip "neither a tmpfs nor a loop-mounted ext4 image can be mounted: $(cat "$T/log/mount.log")"
  FS="ext4 image"
fi
# Registered first, so run last: after the servers and workers are gone.
on_exit "umount -l '$T/db'"
# The directory as the README makes /var/lib/otpgate (deploy_setup).
cp -a "$T/db.seed/." "$T/db/" && chown "$SVC_USER:$SVC_GROUP" "$T/db" &&
  chmod 2770 "$T/db" || die "cannot copy the database onto the small filesystem"
say "database on a $SIZE_MB MiB $FS: $(df -k --output=avail "$T/db" | tail -n 1) KiB free"

lighttpd_start "$OTPGATE_SRCDIR/etc/lighttpd/otpgate.conf"
workers() { pgrep -P "$LIGHTTPD_PID" -x otpgate-fcgi | sort -n | tr '\n' ' '; }
PIDS=$(workers)
[ "$(echo "$PIDS" | wc -w)" = 4 ] || die "lighttpd started workers $PIDS, want 4"

# ---- before: answers that must survive ----
: >"$T/before"
for i in $(seq 1 20); do
  sendotp_body "$T/req/before-$i" "before-$i"
  code=$(http POST "$API_PATH" "$T/req/before-$i")
  [ "$code" = 200 ] && [ "$(json_result "$T/resp/last")" = SUCCESS ] ||
    die "before the disk filled: HTTP $code $(cat "$T/resp/last")"
  echo "before-$i" >>"$T/before"
done
say "ok: 20 sendOtp -> 200 SUCCESS before the disk filled"

# ---- fill it, and run into it ----
log_mark
# All that is free, then 512 KiB back: the load itself runs the disk full
# (the WAL grows by a few pages with each commit).
dd if=/dev/zero of="$T/db/filler" bs=64k 2>/dev/null
truncate -s -512K "$T/db/filler" || die "cannot shrink the filler"
say "filled: $(du -k "$T/db/filler" | cut -f1) KiB of filler, $(df -k --output=avail "$T/db" | tail -n 1) KiB free"
stream_start 4
stream_has_503() { grep -qs ' 503 *$' "$T"/stream.*; }
wait_until 30 stream_has_503 ||
  die "no 503 within 30 s of load on a full disk ($(stream_count) answers: $(cat "$T"/stream.* | cut -d' ' -f2- | sort | uniq -c | tr '\n' ';'))"
full_at=$(stream_count)
say "the disk ran full after $full_at answers"
stream_advance 40
stream_stop
cat "$T"/stream.* >"$T/full.answers"
say "on the full disk: $(cut -d' ' -f2- "$T/full.answers" | sort | uniq -c | tr '\n' ';')"

# Each answer is 200 SUCCESS (a commit that still fitted) or the worker's
# 503 ErrorResponse; nothing from lighttpd (500-502: a worker died).
bad=$(grep -v -E ' (200 SUCCESS|503 )$' "$T/full.answers" || true)
[ -z "$bad" ] || die "answers on a full disk other than 200 SUCCESS or 503: $bad"
for id in $(grep ' 503 $' "$T/full.answers" | cut -d' ' -f1); do
  f=$T/resp/$id
  grep -q '"responseHeader"' "$f" && grep -q '"errorDescription"' "$f" &&
    grep -q '"paymentIntegratorErrorIdentifier" *: *"[0-9a-f]\{16\}"' "$f" &&
    ! grep -q '"result"' "$f" || die "503 for $id is not an ErrorResponse: $(cat "$f")"
done
[ "$(grep -c ' 503 $' "$T/full.answers")" -ge 20 ] ||
  die "fewer than 20 answers of 503 on a full disk: the disk did not stay full"
say "ok: $(grep -c ' 503 $' "$T/full.answers") answers of 503 with an ErrorResponse on the full disk"
[ "$(workers)" = "$PIDS" ] || die "workers changed on a full disk: $PIDS -> $(workers)"
! grep -E 'child (exited|signalled)' "$T/log/lighttpd-error.log" ||
  die "a worker exited on a full disk"
# The workers' standard error is lighttpd's.
WLOG=$T/log/lighttpd-stderr.log
grep -qE 'otpgate-fcgi\[[0-9]+\] .*status=503 .*detail="store: ' "$WLOG" ||
  die "no worker logged why it answered 503: $(grep -m 3 'status=503' "$WLOG")"
say "ok: the same workers run ($PIDS)"

# ---- free the space: normal service again ----
rm -f "$T/db/filler"
say "freed: $(df -k --output=avail "$T/db" | tail -n 1) KiB free"
log_mark
# Service through lighttpd is back: a batch of 40 at once.
: >"$T/after"
check_parallel 40 after
cat "$T/batch.out" >>"$T/after"
# And every worker answers SUCCESS again, whichever of them answered 503:
# lighttpd hands a request to the least busy worker, so a batch need not
# reach all four; each is asked on its own socket (one per process).
need_tool cgi-fcgi libfcgi-bin
n=0
for sock in "$T"/run/otpgate-fcgi.sock-*; do
  n=$((n + 1))
  id=direct-$n
  sendotp_body "$T/req/$id" "$id"
  env -i REQUEST_METHOD=POST SCRIPT_NAME="$API_PATH" REQUEST_URI="$API_PATH" \
    CONTENT_TYPE=application/json SERVER_PROTOCOL=HTTP/1.1 \
    CONTENT_LENGTH="$(wc -c <"$T/req/$id")" \
    cgi-fcgi -bind -connect "$sock" <"$T/req/$id" >"$T/resp/$id" 2>>"$T/log/cgi-fcgi.log" ||
    die "cgi-fcgi to $sock failed: $(cat "$T/log/cgi-fcgi.log")"
  grep -q '^Status: 200' "$T/resp/$id" ||
    die "worker on $sock: $(head -c 300 "$T/resp/$id")"
  [ "$(json_result "$T/resp/$id")" = SUCCESS ] ||
    die "worker on $sock after the space was freed: $(cat "$T/resp/$id")"
  echo "200 $id" >>"$T/after"
done
[ "$n" = 4 ] || die "$n worker sockets in $T/run, want 4"
[ "$(workers)" = "$PIDS" ] || die "workers changed: $PIDS -> $(workers)"
check_log_clean "$T/log/lighttpd-error.log" '^$'
check_log_clean "$WLOG" '^$'
say "ok: after the space was freed, the same workers answer 200 SUCCESS"

# ---- nothing committed is lost ----
[ "$(sql 'PRAGMA integrity_check')" = ok ] || die "integrity_check: $(sql 'PRAGMA integrity_check')"
# Every SUCCESS (before, on the full disk, after) has its three rows, and
# there are no half records: the idempotency record, the OTP and the SMS
# were committed together or not at all.
{
  cat "$T/before"
  grep ' 200 SUCCESS$' "$T/full.answers" | cut -d' ' -f1
  grep '^200 ' "$T/after" | cut -d' ' -f2
} >"$T/successes"
{
  echo "CREATE TEMP TABLE ok (id TEXT PRIMARY KEY);"
  sed "s/.*/INSERT INTO ok VALUES ('&');/" "$T/successes"
  echo "SELECT count(*) FROM ok WHERE id NOT IN (
          SELECT o.request_id FROM otps o JOIN outbox b ON b.otp_id = o.id
          JOIN requests r ON r.request_id = o.request_id AND r.http_status = 200);"
  echo "SELECT count(*) FROM requests WHERE method = 'sendOtp' AND http_status = 200;"
  echo "SELECT count(*) FROM otps;"
  echo "SELECT count(*) FROM outbox;"
} >"$T/successes.sql"
set -- $(sql ".read $T/successes.sql")
want=$(wc -l <"$T/successes")
[ "$1" = 0 ] || die "$1 of $want SUCCESS answers have lost their rows"
[ "$2" = "$want" ] && [ "$3" = "$want" ] && [ "$4" = "$want" ] ||
  die "$want SUCCESS answers, but requests(200) $2, otps $3, outbox $4"
say "ok: integrity_check ok; $want SUCCESS answers (before, during, after), each with its rows, and no other rows"
