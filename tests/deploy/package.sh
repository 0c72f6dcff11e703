#!/bin/bash
# The Debian package, as an administrator gets it: built from this tree
# with dpkg-buildpackage -us -uc -b, installed on this machine, checked
# (what it installs, the user and directories it makes, that it starts
# nothing and makes no database), then used with the installed files only:
# otpgate-admin init as the README's "Common steps" say, the sender as
# otpgate, lighttpd from the installed example starting /usr/bin/otpgate-fcgi,
# one sendOtp, the SMS in the spool. Then the package is purged, and what
# the test made (the database, the secret, the user otpgate if it made it)
# is removed.
#
# Heavy (a package build, a package installed): not in make check's TESTS.
# contrib/check-all.sh runs it once, in the plain build:
#   make check TESTS=tests/deploy/package.sh
# Skipped (77) when not root or without dpkg-buildpackage, lighttpd, or
# when an otpgate installation (the package, /etc/otpgate, /var/lib/otpgate)
# is on this machine: it is never touched.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root: it installs and purges a package"
command -v dpkg-buildpackage >/dev/null 2>&1 ||
  skip "dpkg-buildpackage is not installed (apt-get install dpkg-dev debhelper)"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
need_tool dh debhelper
need_tool curl curl
need_tool sqlite3 sqlite3
need_tool openssl openssl
if dpkg-query -W -f='${Status}\n' otpgate 2>/dev/null | grep -qvE 'not-installed|^$'; then
  skip "the package otpgate is on this machine ($(dpkg-query -W -f='${Status}' otpgate)): not replaced by a test"
fi
for p in /etc/otpgate /var/lib/otpgate /run/otpgate; do
  [ ! -e "$p" ] || skip "$p exists: an otpgate installation is on this machine"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/otpgate-package.XXXXXX") || die "mktemp"
trap deploy_cleanup EXIT
trap 'exit 1' INT TERM HUP
chmod 755 "$T"
mkdir -p "$T/log" "$T/tls" "$T/req" "$T/resp" "$T/src"

# What the test leaves behind is removed at exit, whatever happens: the
# package, /etc/otpgate, /var/lib/otpgate and /run/otpgate with what init
# and the programs made there, and the user and group otpgate unless they
# were here before. Runs last (registered first).
had_user=no
if getent passwd otpgate >/dev/null || getent group otpgate >/dev/null; then
  had_user=yes
fi
package_cleanup() {
  if dpkg-query -W -f='${Status}' otpgate 2>/dev/null | grep -q installed; then
    dpkg --purge otpgate >>"$T/log/purge.log" 2>&1
  fi
  # None of the three was here before the test (checked above).
  rm -rf /var/lib/otpgate /etc/otpgate /run/otpgate
  if [ "$had_user" = no ]; then
    getent passwd otpgate >/dev/null && userdel otpgate
    getent group otpgate >/dev/null && groupdel otpgate
  fi
}
on_exit package_cleanup

# ---- the build, from a copy of the tree (the checkout stays clean) ----

version=$(dpkg-parsechangelog -l "$OTPGATE_SRCDIR/debian/changelog" -S Version) ||
  die "cannot read debian/changelog"
src=$T/src/otpgate-$version
mkdir -p "$src"
if git -C "$OTPGATE_SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # The files of the checkout, as they are now (a tracked file deleted in
  # the work tree is left out), not its build trees.
  (cd "$OTPGATE_SRCDIR" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$src" -xf - || die "cannot copy the tree"
else
  # Not a checkout (an unpacked release): the files make dist ships.
  env -u MAKEFLAGS -u MFLAGS make --no-print-directory -s -C "$OTPGATE_BUILDDIR" \
    distdir distdir="$src" >"$T/log/distdir.log" 2>&1 ||
    die "make distdir: $(tail -20 "$T/log/distdir.log")"
fi
(cd "$src" && dpkg-checkbuilddeps) >"$T/log/builddeps.log" 2>&1 ||
  die "build dependencies missing (sh contrib/deps.sh --all installs them): $(cat "$T/log/builddeps.log")"
say "building the package in $src"
# The package never runs the suite (debian/rules: override_dh_auto_test);
# nocheck says so too.
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
  >"$T/log/build.log" 2>&1 || die "dpkg-buildpackage failed: $(tail -40 "$T/log/build.log")"
deb=$(ls "$T"/src/otpgate_"$version"_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "no otpgate_${version}_*.deb: $(ls "$T/src")"
say "built ${deb##*/}"

# ---- what the package holds ----

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T/contents"
has() { grep -qxF "$1" "$T/contents" || die "${deb##*/} does not hold $1"; }
for p in otpgate-fcgi otpgate-sender otpgate-admin; do has "/usr/bin/$p"; done
has /etc/otpgate/otpgate.conf
for u in otpgate-fcgi otpgate-sender; do has "/lib/systemd/system/$u.service"; done
has /usr/lib/sysusers.d/otpgate.conf
has /usr/lib/tmpfiles.d/otpgate.conf
for m in otpgate-fcgi otpgate-sender otpgate-admin; do has "/usr/share/man/man8/$m.8.gz"; done
has /usr/share/man/man5/otpgate.conf.5.gz
has /usr/share/doc/otpgate/README.md.gz
for f in apache2/otpgate.conf lighttpd/otpgate.conf lighttpd/otpgate-spawn-fcgi.conf nginx/otpgate.conf; do
  has "/usr/share/doc/otpgate/examples/$f"
done
for f in "$OTPGATE_SRCDIR"/sql/*.sql; do has "/usr/share/otpgate/sql/${f##*/}"; done
for f in "$OTPGATE_SRCDIR"/sql/postgresql/*.sql; do has "/usr/share/otpgate/sql/postgresql/${f##*/}"; done
dpkg-deb -I "$deb" conffiles | grep -qxF /etc/otpgate/otpgate.conf ||
  die "/etc/otpgate/otpgate.conf is not a conffile: $(dpkg-deb -I "$deb" conffiles)"
for s in postinst prerm postrm; do dpkg-deb -I "$deb" "$s" >"$T/$s" 2>/dev/null; done
! grep -nE 'deb-systemd-invoke +(start|restart|try-restart)|systemctl .*(start|enable)' "$T/postinst" ||
  die "the postinst starts or enables a service"
say "ok: the package holds the programs, the conffile, the units, sysusers.d and tmpfiles.d, man pages, README, examples, SQL"

# ---- installed ----

apt-get install -y -q --no-install-recommends "$deb" >"$T/log/install.log" 2>&1 ||
  die "apt-get install ${deb##*/}: $(tail -20 "$T/log/install.log")"
dpkg-query -W -f='${Status}' otpgate | grep -q 'install ok installed' || die "otpgate is not installed"
say "installed: $(dpkg-query -W -f='${Package} ${Version}' otpgate)"

# The user and group (sysusers.d): a system user without a login.
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd otpgate) || die "no user otpgate"
[ "$uid" -lt 1000 ] || die "otpgate has uid $uid, not a system user's"
[ "$(getent group "$gid" | cut -d: -f1)" = otpgate ] || die "otpgate's group is not otpgate"
case $shell in */nologin | */false) ;; *) die "otpgate has the shell $shell" ;; esac
[ "$home" = /var/lib/otpgate ] || die "otpgate's home is $home"
# The directories (tmpfiles.d) and the configuration (postinst), as the
# README's "Users, groups and modes" has them.
mode() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
[ "$(mode /var/lib/otpgate)" = "2770 otpgate:otpgate" ] ||
  die "/var/lib/otpgate is $(mode /var/lib/otpgate), want 2770 otpgate:otpgate"
[ "$(mode /run/otpgate)" = "2770 otpgate:otpgate" ] ||
  die "/run/otpgate is $(mode /run/otpgate), want 2770 otpgate:otpgate"
[ "$(mode /etc/otpgate/otpgate.conf)" = "640 root:otpgate" ] ||
  die "/etc/otpgate/otpgate.conf is $(mode /etc/otpgate/otpgate.conf), want 640 root:otpgate"
cmp -s "$OTPGATE_SRCDIR/etc/otpgate.conf" /etc/otpgate/otpgate.conf ||
  die "/etc/otpgate/otpgate.conf is not etc/otpgate.conf"
dpkg-query -W -f='${Conffiles}\n' otpgate | grep -q '^ /etc/otpgate/otpgate.conf ' ||
  die "dpkg does not list /etc/otpgate/otpgate.conf as a conffile"
say "ok: user otpgate (uid $uid), /var/lib/otpgate and /run/otpgate 2770, otpgate.conf 640 root:otpgate"

# Nothing started, nothing enabled, no database.
for p in /proc/[0-9]*; do
  case $(readlink "$p/exe" 2>/dev/null) in
  /usr/bin/otpgate-*) die "the package started $(readlink "$p/exe") (pid ${p#/proc/})" ;;
  esac
done
! ls /etc/systemd/system/*.wants/otpgate-* >/dev/null 2>&1 ||
  die "the package enabled $(ls /etc/systemd/system/*.wants/otpgate-*)"
[ -z "$(ls -A /var/lib/otpgate)" ] || die "the package made files in /var/lib/otpgate: $(ls -A /var/lib/otpgate)"
[ ! -e /etc/otpgate/otp.key ] || die "the package made a secret"
for u in otpgate-fcgi otpgate-sender; do
  f=/lib/systemd/system/$u.service
  grep -q "^ExecStart=\(.* \)\{0,1\}/usr/bin/$u -c /etc/otpgate/otpgate.conf\$" "$f" ||
    die "$f: $(grep ^ExecStart= "$f")"
  grep -q "^Documentation=man:$u(8) man:otpgate.conf(5)\$" "$f" || die "$f: $(grep ^Documentation= "$f")"
  grep -q '^ReadWritePaths=/var/lib/otpgate /run/otpgate' "$f" || die "$f: $(grep ^ReadWritePaths= "$f")"
done
say "ok: nothing started or enabled, no database, no secret; the units run /usr/bin with /etc/otpgate"

# man otpgate.conf answers what each key does (where man-db is installed
# and dpkg keeps man pages).
if command -v man >/dev/null 2>&1 && [ -f /usr/share/man/man5/otpgate.conf.5.gz ]; then
  MANWIDTH=200 man -P cat 5 otpgate.conf >"$T/man.txt" 2>"$T/log/man.log" || die "man otpgate.conf: $(cat "$T/log/man.log")"
  n=0
  while IFS= read -r key; do
    grep -q "^ *$key = " "$T/man.txt" || die "man otpgate.conf does not give $key"
    n=$((n + 1))
  done < <(sed -n 's/^;\([a-z_]*\) *=.*/\1/p' /etc/otpgate/otpgate.conf)
  for m in otpgate-fcgi otpgate-sender otpgate-admin; do
    man -w "$m" >/dev/null 2>&1 || die "man $m: no page"
  done
  say "ok: man otpgate.conf gives all $n keys of /etc/otpgate/otpgate.conf; man otpgate-fcgi, -sender, -admin"
fi

# ---- used with the installed files: the README's "Common steps" ----

RUN_USER=www-data
RUN_GROUP=$(id -gn "$RUN_USER") || die "no user www-data"
SVC_USER=otpgate
SVC_GROUP=otpgate
adduser --quiet "$RUN_USER" otpgate || die "adduser $RUN_USER otpgate"
# otpgate-admin init as root, with the installed configuration.
/usr/bin/otpgate-admin init >"$T/log/init.log" 2>&1 || die "otpgate-admin init: $(cat "$T/log/init.log")"
! grep -qi warning "$T/log/init.log" || die "otpgate-admin init warns: $(cat "$T/log/init.log")"
chown -R otpgate:otpgate /var/lib/otpgate || die "chown /var/lib/otpgate"
[ "$(mode /var/lib/otpgate/otpgate.db)" = "660 otpgate:otpgate" ] ||
  die "the database is $(mode /var/lib/otpgate/otpgate.db), want 660 otpgate:otpgate"
[ "$(stat -c '%a %G' /etc/otpgate/otp.key)" = "640 otpgate" ] ||
  die "the secret is $(mode /etc/otpgate/otp.key), want 640, group otpgate"
/usr/bin/otpgate-admin account add acct-1 --phone "$PHONE" >/dev/null || die "account add"
/usr/bin/otpgate-admin association add assoc-1 acct-1 >/dev/null || die "association add"
say "ok: otpgate-admin init (database 660 otpgate:otpgate, secret 640 group otpgate), one account"

# The test's changes to the installed configuration, in a copy: the
# spool directory, and no syslog. Everything else is as installed (the
# database, the secret, the wake-up socket in /run/otpgate).
CONF=$T/otpgate.conf
{
  cat /etc/otpgate/otpgate.conf
  printf '\n; tests/deploy/package.sh\n[sender]\nspool_dir = %s\n[log]\nsyslog = no\n' "$T/spool"
} >"$CONF"
conf_perms
install -d -o otpgate -g otpgate -m 2770 "$T/spool" "$T/run" || die "cannot make $T/spool, $T/run"
# lib.sh's sql() reads $T/db/otpgate.db.
ln -s /var/lib/otpgate "$T/db"

# The sender as otpgate-sender.service runs it: as otpgate, umask 0007.
exec_as_svc /usr/bin/otpgate-sender -c "$CONF" >>"$T/log/sender.log" 2>&1 &
SENDER_PID=$!
on_exit "kill -TERM $SENDER_PID; sleep 0.5; kill -KILL $SENDER_PID"
wait_until 10 sender_alive || die "no heartbeat from the sender after 10 s: $(cat "$T/log/sender.log")"
[ -S /run/otpgate/sender.sock ] || die "the sender made no wake-up socket in /run/otpgate"
say "sender: pid $SENDER_PID as otpgate, wake-up socket /run/otpgate/sender.sock"

# The installed workers, found by their configuration (lib.sh's
# worker_pids looks for copies in $T/bin).
installed_workers() {
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/bin/otpgate-fcgi ] || continue
    tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "OTPGATE_CONFIG=$CONF" && echo "${p#/proc/}"
  done
}
on_exit 'for pid in $(installed_workers); do kill -KILL "$pid"; done'

# lighttpd from the installed example: bin-path /usr/bin/otpgate-fcgi.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$T/tls/privkey.pem" -out "$T/tls/fullchain.pem" -days 2 \
  -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
  -addext "basicConstraints=critical,CA:FALSE" >/dev/null 2>&1 ||
  die "openssl could not make a test certificate"
chmod 644 "$T/tls/fullchain.pem"
PORT=$(free_port) || die "no free port"
BASE=https://$HOST:$PORT
WORKER=/usr/bin/otpgate-fcgi
lighttpd_start /usr/share/doc/otpgate/examples/lighttpd/otpgate.conf
wait_until 10 eval '[ "$(installed_workers | wc -l)" -ge 4 ]' ||
  die "lighttpd started $(installed_workers | wc -l) workers, want 4"
for pid in $(installed_workers); do
  [ "$(proc_euid "$pid")" = "$(id -u "$RUN_USER")" ] || die "worker $pid runs as uid $(proc_euid "$pid")"
done
say "lighttpd on 127.0.0.1:$PORT with $(installed_workers | wc -l) workers (/usr/bin/otpgate-fcgi as $RUN_USER)"

log_mark
check_send_otp "$API_PATH"
check_sender_drained
# The workers (www-data) logged only their request: the wake-up datagram
# to the sender's socket in /run/otpgate went through, ...
check_log_clean "$T/log/lighttpd-error.log" 'server started'
# ... and made the metrics file there, shared through the group.
[ "$(stat -c '%a %G' /run/otpgate/metrics 2>/dev/null)" = "660 otpgate" ] ||
  die "/run/otpgate/metrics is $(mode /run/otpgate/metrics), want 660, group otpgate"
[ "$(proc_euid "$SENDER_PID")" = "$uid" ] || die "the sender runs as uid $(proc_euid "$SENDER_PID"), not otpgate"

# ---- purged ----

kill -INT "$LIGHTTPD_PID" 2>/dev/null
wait_gone "$LIGHTTPD_PID" 10 || die "lighttpd did not stop"
kill -TERM "$SENDER_PID"
wait_gone "$SENDER_PID" 10 || die "the sender did not stop on SIGTERM"
dpkg --purge otpgate >"$T/log/purge.log" 2>&1 || die "dpkg --purge otpgate: $(cat "$T/log/purge.log")"
! dpkg-query -W -f='${Status}' otpgate 2>/dev/null | grep -q installed || die "otpgate is still installed"
while IFS= read -r f; do
  [ -d "$f" ] && continue
  [ ! -e "$f" ] || die "dpkg --purge left $f"
done <"$T/contents"
! dpkg-statoverride --list /etc/otpgate/otpgate.conf >/dev/null 2>&1 ||
  die "the purge left the statoverride of /etc/otpgate/otpgate.conf"
[ -f /var/lib/otpgate/otpgate.db ] || die "the purge removed the database (the administrator's data)"
say "ok: dpkg --purge removed every file of the package and its statoverride; the database stays"
