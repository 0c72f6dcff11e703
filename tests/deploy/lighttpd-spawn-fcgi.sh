#!/bin/bash
# lighttpd connecting to workers run by spawn-fcgi and multiwatch,
# configured from etc/lighttpd/otpgate-spawn-fcgi.conf and
# contrib/systemd/otpgate-fcgi.service.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
need_server spawn-fcgi "apt-get install spawn-fcgi"
need_server multiwatch "apt-get install multiwatch"
deploy_setup lighttpd-spawn
start_sender
start_spawn_fcgi
lighttpd_start "$OTPGATE_SRCDIR/etc/lighttpd/otpgate-spawn-fcgi.conf"

lighttpd_check_site
check_log_clean "$T/log/workers.log" '^$'

# A graceful restart of lighttpd (the workers keep running) and a SIGTERM
# to a worker while requests flow.
log_mark
before=$(worker_pids | sort | tr '\n' ' ')
stream_start 4
stream_advance 40
lighttpd_graceful
stream_advance 40
[ "$(worker_pids | sort | tr '\n' ' ')" = "$before" ] ||
  die "lighttpd's restart touched the spawn-fcgi workers"
term_one_worker
stream_advance 40
stream_stop
check_stream 0
check_send_otp /v1/sendOtp
grep -q 'graceful shutdown started' "$T/log/lighttpd-error.log" || die "lighttpd did not restart"
check_log_clean "$T/log/lighttpd-error.log" 'server started|server stopped by|graceful shutdown started'
check_log_clean "$T/log/lighttpd-stderr.log" '^$'
# multiwatch's words for restarting the worker stopped above (the first
# when the worker was less than 10 s old).
check_log_clean "$T/log/workers.log" \
  '^(Spawning child\[[0-9]+\] failed, next try|Child\[[0-9]+\] died, respawn)$'
check_process_users "$SVC_USER"
check_sender_drained
stop_spawn_fcgi
