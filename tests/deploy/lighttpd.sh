#!/bin/bash
# lighttpd starting the workers itself (bin-path, max-procs), configured from
# etc/lighttpd/otpgate.conf.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
deploy_setup lighttpd
start_sender
lighttpd_start "$OTPGATE_SRCDIR/etc/lighttpd/otpgate.conf"
[ "$(worker_pids | wc -l)" = 4 ] || die "lighttpd started $(worker_pids | wc -l) workers, want 4 (max-procs)"

lighttpd_check_site

# A graceful restart of lighttpd (which restarts its workers too) and a
# SIGTERM to a worker while requests flow.
log_mark
stream_start 4
stream_advance 40
lighttpd_graceful
stream_advance 40
term_one_worker
stream_advance 40
stream_stop
# Each worker has its own socket (bin-path): a request queued to the worker
# stopped above may be lost (5xx) rather than served by another.
check_stream 5
check_send_otp /v1/sendOtp
grep -q 'graceful shutdown started' "$T/log/lighttpd-error.log" || die "lighttpd did not restart"
# What lighttpd says about the restart and about the worker stopped on
# purpose (it retries a request it could not send on another worker, and
# answers 5xx for one it had sent; a connection the stopped worker
# resets mid-read is reported as such).
check_log_clean "$T/log/lighttpd-error.log" \
  'server started|server stopped by|graceful shutdown started|child exited: 0 |connect .*/otpgate-fcgi.sock-[0-9]+: Connection refused|response not received, request (not )?sent|unexpected end-of-file \(perhaps the fastcgi process died\)|read\(\) [0-9]+ [0-9]+: Connection reset by peer'
check_log_clean "$T/log/lighttpd-stderr.log" '^$'
check_process_users "$RUN_USER"
check_sender_drained
