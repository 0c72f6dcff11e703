#!/bin/bash
# nginx + spawn-fcgi/multiwatch, configured from etc/nginx/otpgate.conf and
# contrib/systemd/otpgate-fcgi.service.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
need_server nginx "apt-get install nginx-light"
need_server spawn-fcgi "apt-get install spawn-fcgi"
need_server multiwatch "apt-get install multiwatch"
deploy_setup nginx
start_sender

# The site, as shipped, with its port, paths and certificate moved into $T.
SITE=$T/nginx-site.conf
sed -e "s|^\( *\)listen 443 ssl;|\1listen 127.0.0.1:$PORT ssl;|" \
  -e '/listen \[::\]:443/d' \
  -e "s|/etc/ssl/otpgate/|$T/tls/|" \
  -e "s|/var/log/nginx/|$T/log/nginx-|" \
  -e "s|unix:/run/otpgate/otpgate-fcgi.sock|unix:$T/run/otpgate-fcgi.sock|" \
  "$OTPGATE_SRCDIR/etc/nginx/otpgate.conf" >"$SITE"
grep -q "listen 127.0.0.1:$PORT ssl;" "$SITE" || die "could not move the listen directive"
! grep -v '^ *#' "$SITE" | grep -qE '/etc/ssl|/var/log|/run/otpgate/|\b443\b' ||
  die "unsubstituted paths in $SITE"
cp /etc/nginx/fastcgi_params "$T/fastcgi_params"

# What Debian's /etc/nginx/nginx.conf provides around a site.
mkdir -p "$T/nginx"
{
  [ "$(id -u)" -eq 0 ] && echo "user $RUN_USER $RUN_GROUP;"
  cat <<CONF
worker_processes 2;
pid $T/nginx.pid;
error_log $T/log/nginx-main-error.log notice;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    client_body_temp_path $T/nginx/body;
    fastcgi_temp_path $T/nginx/fastcgi;
    proxy_temp_path $T/nginx/proxy;
    scgi_temp_path $T/nginx/scgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    access_log off;
    include $SITE;
}
CONF
} >"$T/nginx.conf"

nginx -t -q -e "$T/log/nginx-main-error.log" -c "$T/nginx.conf" >>"$T/log/nginx-main-error.log" 2>&1 ||
  die "nginx -t rejects the configuration: $(cat "$T/log/nginx-main-error.log")"
start_spawn_fcgi
nginx -e "$T/log/nginx-main-error.log" -c "$T/nginx.conf" || die "nginx did not start"
on_exit "stop_pidfile '$T/nginx.pid' QUIT; stop_pidfile '$T/nginx.pid' KILL"
wait_pidfile "$T/nginx.pid" 10 || die "nginx wrote no pid file"
wait_http 10 || die "nginx does not answer on $PORT"

check_send_otp /integrator-base-path/e-wallets-v1/sendOtp
check_send_otp /v1/sendOtp
check_not_post GET
check_not_post PUT
# nginx answered those itself: no worker saw them.
! grep -q 'status=405' "$T/log/workers.log" || die "a GET reached a worker"
check_other_paths
check_body_limits
check_tls
log_mark
check_parallel 200
check_log_clean "$T/log/nginx-main-error.log" '\[notice\]'
check_log_clean "$T/log/nginx-otpgate.error.log" '^$'
check_log_clean "$T/log/workers.log" '^$'

# A reload of nginx and a SIGTERM to a worker while requests flow.
log_mark
stream_start 4
stream_advance 40
nginx -e "$T/log/nginx-main-error.log" -c "$T/nginx.conf" -s reload || die "nginx -s reload"
stream_advance 40
term_one_worker
stream_advance 40
stream_stop
check_stream 0
check_send_otp /v1/sendOtp
grep -q 'reconfiguring' "$T/log/nginx-main-error.log" || die "nginx did not reload"

check_log_clean "$T/log/nginx-main-error.log" '\[notice\]'
check_log_clean "$T/log/nginx-otpgate.error.log" '^$'
# multiwatch's words for restarting the worker stopped above (the first
# when the worker was less than 10 s old).
check_log_clean "$T/log/workers.log" \
  '^(Spawning child\[[0-9]+\] failed, next try|Child\[[0-9]+\] died, respawn)$'
check_process_users "$SVC_USER"
check_sender_drained
stop_spawn_fcgi
