#!/bin/bash
# The operator's view through lighttpd (etc/lighttpd/otpgate.conf): the
# health and metrics routes (GET, loopback only), counters that add up
# across the four workers and survive their restart, the gateway's health
# deciding sendOtp, and a stopped sender refusing sendOtp at once.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
deploy_setup ops
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
