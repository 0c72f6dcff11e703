# Shared by lighttpd.sh (bin-path) and lighttpd-spawn-fcgi.sh: generates
# lighttpd's configuration from the shipped file $1 and starts lighttpd in
# the foreground (LIGHTTPD_PID).

lighttpd_start() { # SHIPPED-FILE
  SITE=$T/lighttpd-otpgate.conf
  sed -e "s|\$SERVER\[\"socket\"\] == \":443\"|\$SERVER[\"socket\"] == \"127.0.0.1:$PORT\"|" \
    -e "s|/etc/ssl/otpgate/|$T/tls/|" \
    -e "s|\"/usr/bin/otpgate-fcgi\"|\"$WORKER\"|" \
    -e "s|\"/etc/otpgate/otpgate.conf\"|\"$CONF\"|" \
    -e "s|\"/run/lighttpd/|\"$T/run/|" \
    -e "s|\"/run/otpgate/|\"$T/run/|" \
    "$1" >"$SITE"
  grep -qF "\$SERVER[\"socket\"] == \"127.0.0.1:$PORT\"" "$SITE" || die "could not move the TLS socket"
  # (The worker may be the installed one: tests/deploy/package.sh.)
  ! grep -v '^ *#' "$SITE" | grep -vF "\"$WORKER\"" |
    grep -qE '"/etc/ssl|"/etc/otpgate|"/usr/bin|"/run/|:443"' ||
    die "unsubstituted paths in $SITE"

  # What Debian's /etc/lighttpd/lighttpd.conf provides around a module
  # configuration (here only on 127.0.0.1, and the TLS socket is the only
  # one).
  mkdir -p "$T/www"
  {
    cat <<CONF
server.modules = ( "mod_access" )
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$T/lighttpd.pid"
server.errorlog = "$T/log/lighttpd-error.log"
CONF
    [ "$(id -u)" -eq 0 ] && printf 'server.username = "%s"\nserver.groupname = "%s"\n' "$RUN_USER" "$RUN_GROUP"
    echo "include \"$SITE\""
  } >"$T/lighttpd.conf"

  # A graceful restart (SIGUSR1) reads the configuration and the key again
  # as server.username: the key must be readable by its group, as the
  # shipped file says.
  chgrp "$RUN_GROUP" "$T/tls/privkey.pem"
  chmod 640 "$T/tls/privkey.pem"
  # lighttpd opens its error log after it has dropped to server.username.
  touch "$T/log/lighttpd-error.log"
  chown "$RUN_USER:$RUN_GROUP" "$T/log/lighttpd-error.log"
  lighttpd -tt -f "$T/lighttpd.conf" >"$T/log/lighttpd-configtest.log" 2>&1 ||
    die "lighttpd -tt rejects the configuration: $(cat "$T/log/lighttpd-configtest.log")"
  lighttpd -D -f "$T/lighttpd.conf" >>"$T/log/lighttpd-stderr.log" 2>&1 &
  LIGHTTPD_PID=$!
  on_exit "kill -INT $LIGHTTPD_PID; sleep 1; kill -KILL $LIGHTTPD_PID"
  wait_http 10 || die "lighttpd does not answer on $PORT"
}

# The checks both lighttpd set-ups pass: sendOtp on two mount points, other
# verbs and paths, body limits, TLS, HTTP/2, 200 requests at once, and
# clean logs.
lighttpd_check_site() {
  check_send_otp /integrator-base-path/e-wallets-v1/sendOtp
  check_send_otp /v1/sendOtp
  # lighttpd passes other verbs on: the worker answers 405.
  check_not_post GET
  check_not_post PUT
  check_other_paths
  CHUNKED_CLOSE_OK=1 check_body_limits
  check_tls
  check_http2
  log_mark
  check_parallel 200
  check_log_clean "$T/log/lighttpd-error.log" '^$'
  check_log_clean "$T/log/lighttpd-stderr.log" '^$'
}

# Graceful restart: lighttpd finishes the requests in hand, then reloads.
lighttpd_graceful() {
  kill -USR1 "$LIGHTTPD_PID" || die "lighttpd is gone"
  say "lighttpd: SIGUSR1 (graceful restart)"
}
