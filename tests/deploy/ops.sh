#!/bin/bash
# The operator's view through lighttpd (etc/lighttpd/otpgate.conf): the
# health and metrics routes (GET, loopback only), counters that add up
# across the four workers and survive their restart, the gateway's health
# deciding sendOtp, and a stopped sender refusing sendOtp at once.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
deploy_setup ops
# A breaker that opens after three refusals and lets a probe through after
# two seconds (the workers read these keys; the sender writes its count).
SENDER_EXTRA="breaker_failures = 3
breaker_seconds = 2"
start_sender
lighttpd_start "$OTPGATE_SRCDIR/etc/lighttpd/otpgate.conf"
BASEPATH=/integrator-base-path/e-wallets-v1

metric() { # NAME-WITH-LABELS: its value in the last metrics answer
  awk -v k="$1" '$1 == k { print $2 }' "$T/resp/last"
}

# ---- health ----
code=$(http GET "$BASEPATH/health" -)
[ "$code" = 200 ] || die "health: HTTP $code: $(cat "$T/resp/last")"
grep -qx '{"status":"ok"}' "$T/resp/last" || die "health: $(cat "$T/resp/last")"
code=$(http POST "$BASEPATH/health" "$T/resp/last" -D "$T/resp/headers")
[ "$code" = 405 ] || die "POST health: HTTP $code, want 405"
grep -qi '^Allow: GET' "$T/resp/headers" || die "POST health: no Allow: GET"
code=$(http GET "$BASEPATH/sendOtp" -)
[ "$code" = 405 ] || die "GET sendOtp: HTTP $code, want 405 (Google's paths stay POST only)"
say "ok: health 200 ok; POST health 405 Allow: GET; GET sendOtp still 405"

# ---- metrics add up across workers and survive their restart ----
# In parallel, so that every worker takes some.
check_parallel 40 metrics
code=$(http GET "$BASEPATH/metrics" - -D "$T/resp/headers")
[ "$code" = 200 ] || die "metrics: HTTP $code: $(head -c 300 "$T/resp/last")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/resp/headers" ||
  die "metrics: $(grep -i content-type "$T/resp/headers")"
ok=$(metric 'otpgate_requests_total{method="sendOtp",status="200",result="SUCCESS"}')
[ "${ok:-0}" -ge 40 ] || die "metrics count ${ok:-no} sendOtp SUCCESS, want at least 40"
workers=$(grep -h "method=sendOtp requestId=metrics-" "$T"/log/lighttpd-*.log |
  sed 's/.*otpgate-fcgi\[\([0-9]*\)\].*/\1/' | sort -u | wc -l)
[ "$workers" -ge 2 ] || die "the 40 sendOtps were served by $workers worker(s): nothing to add up"
for k in '# TYPE otpgate_request_duration_seconds histogram' \
  'otpgate_request_duration_seconds_bucket{method="sendOtp",le="+Inf"}' \
  'otpgate_outbox_rows{status=' 'otpgate_outbox_oldest_queued_seconds' \
  'otpgate_sender_heartbeat_age_seconds{owner=' 'otpgate_sender_breaker_open{owner=' \
  'otpgate_database_up 1' 'otpgate_metrics_counters_kept 1'; do
  grep -qF "$k" "$T/resp/last" || die "metrics lack $k"
done
before=$ok
lighttpd_graceful
wait_until 10 https_answers || die "lighttpd did not come back"
sleep 1
code=$(http GET "$BASEPATH/metrics" -)
after=$(metric 'otpgate_requests_total{method="sendOtp",status="200",result="SUCCESS"}')
[ "${after:-0}" -ge "$before" ] || die "metrics fell from $before to ${after:-none} across a restart"
say "ok: metrics count $ok sendOtp SUCCESS across $workers workers, $after after their restart"

# ---- the gateway's health decides ----
send_result() { # REQUEST_ID: HTTP status and result
  sendotp_body "$T/req/$1" "$1"
  code=$(http POST "$BASEPATH/sendOtp" "$T/req/$1")
  echo "$code $(json_result "$T/resp/last")"
}
failures_at_least() { [ "$(sql "SELECT coalesce(max(failures), 0) FROM senders")" -ge "$1" ]; }
rmdir "$T/spool" 2>/dev/null || rm -rf "$T/spool"
# Each SMS is refused (retries of a refused one count too): the third
# refusal in a row opens the breaker.
[ "$(send_result gw-down-1)" = "200 SUCCESS" ] || die "gw-down-1: $(cat "$T/resp/last")"
for i in 2 3 4 5 6; do
  failures_at_least 3 && break
  wait_until 10 failures_at_least $((i - 1)) || die "the gateway's refusal $((i - 1)) was not counted"
  failures_at_least 3 && break
  r=$(send_result "gw-down-$i")
  [ "$r" = "200 SUCCESS" ] || die "gw-down-$i before 3 refusals: $r"
done
wait_until 10 failures_at_least 3 || die "3 refusals not counted"
[ "$(send_result breaker-open)" = "200 MESSAGE_UNABLE_TO_BE_SENT" ] ||
  die "sendOtp with the gateway down: $(cat "$T/resp/last")"
code=$(http GET "$BASEPATH/health" -)
[ "$code" = 503 ] && grep -q 'breaker open' "$T/resp/last" || die "health with the breaker open: $code $(cat "$T/resp/last")"
code=$(http GET "$BASEPATH/metrics" -)
grep -q '^otpgate_sender_breaker_open{owner=".*"} 1$' "$T/resp/last" || die "metrics do not show the breaker open"
install -d -o "$SVC_USER" -g "$SVC_GROUP" -m 2770 "$T/spool"
sleep 2.5
[ "$(send_result probe)" = "200 SUCCESS" ] || die "no probe after breaker_seconds: $(cat "$T/resp/last")"
wait_until 10 outbox_all_sent || die "the probe was not sent"
wait_until 5 sh -c "[ \"\$(sqlite3 '$T/db/otpgate.db' 'SELECT max(failures) FROM senders')\" = 0 ]" ||
  die "the sent probe did not close the breaker"
[ "$(send_result after-probe)" = "200 SUCCESS" ] || die "after the probe: $(cat "$T/resp/last")"
say "ok: breaker opened after 3 refusals (sendOtp MESSAGE_UNABLE_TO_BE_SENT, health 503, metrics 1), a probe after 2 s closed it"

# ---- the bill's caps ----
printf '[sms]\nmax_per_minute = 1\n' >>"$CONF"
lighttpd_graceful
wait_until 10 https_answers || die "lighttpd did not come back"
sleep 1
[ "$(send_result capped)" = "200 MESSAGE_UNABLE_TO_BE_SENT" ] || die "over the cap: $(cat "$T/resp/last")"
code=$(http GET "$BASEPATH/metrics" -)
[ "$(metric 'otpgate_sms_capped_total{cap="max_per_minute"}')" -ge 1 ] ||
  die "metrics do not count the cap: $(grep capped "$T/resp/last")"
sed -i '/^max_per_minute = 1$/d' "$CONF"
lighttpd_graceful
wait_until 10 https_answers || die "lighttpd did not come back"
sleep 1
say "ok: [sms] max_per_minute refused a sendOtp through lighttpd, and metrics count it"

# ---- loopback only ----
# The shipped rule, with the allowed address moved away from 127.0.0.1.
sed -i 's/127\\\.0\\\.0\\\.1|::1/127\\.0\\.0\\.2/' "$SITE"
grep -qF '(127\.0\.0\.2)' "$SITE" || die "could not move the allowed address in $SITE"
lighttpd_graceful
wait_until 10 https_answers || die "lighttpd did not come back"
code=$(http GET "$BASEPATH/metrics" -)
[ "$code" = 403 ] || die "metrics from a disallowed address: HTTP $code, want 403"
code=$(http GET "$BASEPATH/health" -)
[ "$code" = 403 ] || die "health from a disallowed address: HTTP $code, want 403"
sendotp_body "$T/req/still" still-served
code=$(http POST "$BASEPATH/sendOtp" "$T/req/still")
[ "$code" = 200 ] || die "sendOtp after the rule change: HTTP $code"
say "ok: health and metrics refused (403) to an address not allowed; sendOtp unaffected"

# ---- a sender that stops cleanly: sendOtp refuses at once ----
kill -TERM "$SENDER_PID"
wait_gone "$SENDER_PID" 10 || die "the sender ignored SIGTERM"
[ "$(sql "SELECT count(*) FROM senders")" = 0 ] || die "the stopped sender left its heartbeat"
sendotp_body "$T/req/nosender" no-sender
code=$(http POST "$BASEPATH/sendOtp" "$T/req/nosender")
[ "$code" = 200 ] && [ "$(json_result "$T/resp/last")" = MESSAGE_UNABLE_TO_BE_SENT ] ||
  die "sendOtp with no sender: HTTP $code $(cat "$T/resp/last")"
say "ok: sendOtp answers MESSAGE_UNABLE_TO_BE_SENT the moment the sender stops"
