#!/bin/bash
# Apache 2.4 + mod_fcgid, configured from etc/apache2/otpgate.conf.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
need_server apache2 "apt-get install apache2"
MODULES=/usr/lib/apache2/modules
[ -f "$MODULES/mod_fcgid.so" ] || skip "mod_fcgid is not installed (apt-get install libapache2-mod-fcgid)"
deploy_setup apache
start_sender

# The site, as shipped, with its port, paths and certificate moved into $T.
SITE=$T/apache-site.conf
sed -e "s|<VirtualHost \*:443>|<VirtualHost 127.0.0.1:$PORT>|" \
  -e "s|/etc/ssl/otpgate/|$T/tls/|" \
  -e "s|\${APACHE_LOG_DIR}/|$T/log/apache-|" \
  -e "s|FcgidInitialEnv OTPGATE_CONFIG /etc/otpgate/otpgate.conf|FcgidInitialEnv OTPGATE_CONFIG $CONF|" \
  -e "s|/usr/bin/otpgate-fcgi|$WORKER|" \
  "$OTPGATE_SRCDIR/etc/apache2/otpgate.conf" >"$SITE"
for want in "<VirtualHost 127.0.0.1:$PORT>" "OTPGATE_CONFIG $CONF" ")$\" $WORKER"; do
  grep -qF "$want" "$SITE" || die "could not substitute '$want' in $SITE"
done
! grep -v '^ *#' "$SITE" | grep -qE '/etc/ssl|APACHE_LOG_DIR|/etc/otpgate|/usr/bin|\b443\b' ||
  die "unsubstituted paths in $SITE"

# What Debian's /etc/apache2/apache2.conf, ports.conf and the enabled
# modules (a2enmod fcgid ssl rewrite headers alias) provide around a site.
# mod_fcgid makes its socket directory itself, owned by User.
mkdir -p "$T/apache-run" "$T/www"
{
  cat <<CONF
ServerName localhost
ServerRoot $T
PidFile $T/apache.pid
DefaultRuntimeDir $T/apache-run
Mutex file:$T/apache-run default
ErrorLog $T/log/apache-main-error.log
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
Listen 127.0.0.1:$PORT
DocumentRoot $T/www
LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule authz_host_module $MODULES/mod_authz_host.so
LoadModule ssl_module $MODULES/mod_ssl.so
LoadModule socache_shmcb_module $MODULES/mod_socache_shmcb.so
LoadModule rewrite_module $MODULES/mod_rewrite.so
LoadModule headers_module $MODULES/mod_headers.so
LoadModule alias_module $MODULES/mod_alias.so
LoadModule fcgid_module $MODULES/mod_fcgid.so
SSLSessionCache shmcb:$T/apache-run/ssl_scache(512000)
FcgidIPCDir $T/fcgid
FcgidProcessTableFile $T/apache-run/fcgid_shm
CONF
  [ "$(id -u)" -eq 0 ] && printf 'User %s\nGroup %s\n' "$RUN_USER" "$RUN_GROUP"
  echo "Include $SITE"
} >"$T/apache2.conf"

apache() { apache2 -f "$T/apache2.conf" "$@"; }
apache -t >"$T/log/apache-configtest.log" 2>&1 ||
  die "apache2 -t rejects the configuration: $(cat "$T/log/apache-configtest.log")"
apache -k start || die "apache2 did not start"
on_exit "apache2 -f '$T/apache2.conf' -k stop; sleep 1; stop_pidfile '$T/apache.pid' KILL"
wait_pidfile "$T/apache.pid" 10 || die "apache2 wrote no pid file"
wait_http 10 || die "apache2 does not answer on $PORT"

check_send_otp /integrator-base-path/e-wallets-v1/sendOtp
check_send_otp /v1/sendOtp
check_not_post GET
check_not_post PUT
# Apache answered those itself: no worker saw them.
! grep -q 'status=405' "$T/log/apache-otpgate-error.log" || die "a GET reached a worker"
check_other_paths
# mod_fcgid cannot stop a body without a length cleanly: the site refuses
# those with 411.
CHUNKED=411 check_body_limits
check_tls
# mod_fcgid passes the workers' stderr on at level warn (their info lines
# are allowed by check_log_clean); AH01882 is mod_ssl noticing that the
# installed OpenSSL is older than the one it was built with (a Debian
# update skew, nothing to do with this configuration).
NOISE='AH01882: '
log_mark
check_parallel 200
[ "$(worker_pids | wc -l)" -ge 2 ] || die "mod_fcgid ran the 200 requests on fewer than 2 workers"
say "mod_fcgid workers: $(worker_pids | wc -l)"
check_log_clean "$T/log/apache-main-error.log" "$NOISE"
check_log_clean "$T/log/apache-otpgate-error.log" "$NOISE"

# A graceful restart of Apache and a SIGTERM to a worker while requests
# flow.
log_mark
stream_start 4
stream_advance 40
apache -k graceful || die "apache2 -k graceful"
say "apache graceful restart"
stream_advance 40
victim=$(worker_pids | head -n 1)
[ -n "$victim" ] || die "no worker to stop"
kill -TERM "$victim"
wait_gone "$victim" 10 || die "worker $victim ignored SIGTERM"
say "worker $victim stopped on SIGTERM"
stream_advance 40
stream_stop
# mod_fcgid gives each worker its own socket and may pick a worker that the
# restart is stopping: the request queued on that socket is lost (500,
# "End of script output before headers"). Such a request wrote nothing or
# everything; check_stream checks that.
check_stream 5
check_send_otp /v1/sendOtp
grep -q 'SIGUSR1 received.  Doing graceful restart' "$T/log/apache-main-error.log" ||
  die "no graceful restart in the log"

# Apache's notices about the restart, and the lost requests above, if any.
LOST='mod_fcgid: error reading data from FastCGI server|End of script output before headers: otpgate-fcgi'
# The worker the test stopped with SIGTERM is reaped as a "zombie".
check_log_clean "$T/log/apache-main-error.log" "$NOISE|:notice\]|$LOST|mod_fcgid: cleanup zombie process"
check_log_clean "$T/log/apache-otpgate-error.log" "$NOISE|$LOST"
check_process_users "$RUN_USER"
check_sender_drained
