#!/bin/sh
# make install installs everything a user needs, where configure said: the
# programs, the configuration, the systemd units with this build's paths
# (no placeholder left, Documentation= naming installed man pages), the
# sysusers.d and tmpfiles.d files, the man pages, the docs, the SQL and the
# web servers' examples; and make uninstall takes it all away again.
set -eu
b=${OTPGATE_BUILDDIR:-.}
s=${OTPGATE_SRCDIR:-.}
dest=$(mktemp -d "${TMPDIR:-/tmp}/otpgate-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# Not a part of the make that runs the tests: its own, in the build tree.
submake() { env -u MAKEFLAGS -u MFLAGS make --no-print-directory -s -C "$b" "$@"; }

submake install DESTDIR="$dest" >"$dest.log" 2>&1 ||
  { cat "$dest.log"; rm -f "$dest.log"; fail "make install"; }
rm -f "$dest.log"

# The directories as make sees them (configure's, fully expanded).
dirs=$(printf 'print-dirs:\n\t@echo "bindir=$(bindir) sysconfdir=$(sysconfdir) localstatedir=$(localstatedir) runstatedir=$(runstatedir) mandir=$(mandir) docdir=$(docdir) datadir=$(datadir) unitdir=$(systemdsystemunitdir) sysusersdir=$(sysusersdir) tmpfilesdir=$(tmpfilesdir)"\n' |
  submake -f Makefile -f - print-dirs | grep "^bindir=")
eval "$dirs"
echo "installed with $dirs"

want() { # PATH [MODE]
  [ -f "$dest$1" ] || fail "make install did not install $1"
  if [ $# -gt 1 ]; then
    m=$(stat -c %a "$dest$1")
    [ "$m" = "$2" ] || fail "$1 has mode $m, want $2"
  fi
}
for p in otpgate-fcgi otpgate-sender otpgate-admin; do want "$bindir/$p" 755; done
want "$sysconfdir/otpgate/otpgate.conf" 640
cmp -s "$s/etc/otpgate.conf" "$dest$sysconfdir/otpgate/otpgate.conf" ||
  fail "the installed otpgate.conf is not etc/otpgate.conf"

for m in otpgate-fcgi.8 otpgate-sender.8 otpgate-admin.8; do want "$mandir/man8/$m"; done
want "$mandir/man5/otpgate.conf.5"
want "$docdir/README.md"
want "$docdir/HACKING.md"
for f in "$s"/sql/*.sql; do want "$datadir/otpgate/sql/${f##*/}"; done
for f in "$s"/sql/postgresql/*.sql; do want "$datadir/otpgate/sql/postgresql/${f##*/}"; done
want "$docdir/examples/apache2/otpgate.conf"
want "$docdir/examples/lighttpd/otpgate.conf"
want "$docdir/examples/lighttpd/otpgate-spawn-fcgi.conf"
want "$docdir/examples/nginx/otpgate.conf"
for f in apache2/otpgate.conf lighttpd/otpgate.conf lighttpd/otpgate-spawn-fcgi.conf nginx/otpgate.conf; do
  cmp -s "$s/etc/$f" "$dest$docdir/examples/$f" || fail "examples/$f is not etc/$f"
done

# The units, sysusers.d and tmpfiles.d files, unless configured away.
if [ "$unitdir" != no ]; then
  for u in otpgate-fcgi otpgate-sender; do
    f=$dest$unitdir/$u.service
    want "$unitdir/$u.service" 644
    ! grep -n '@[a-z]*dir@' "$f" || fail "$u.service: a placeholder left"
    grep -q "^Documentation=man:$u(8) man:otpgate.conf(5)\$" "$f" ||
      fail "$u.service: Documentation= does not name the installed man pages"
    grep -q "^ExecStart=\\(.* \\)\\{0,1\\}$bindir/$u -c $sysconfdir/otpgate/otpgate.conf\$" "$f" ||
      fail "$u.service: ExecStart= is not $bindir/$u -c $sysconfdir/otpgate/otpgate.conf: $(grep ^ExecStart= "$f")"
    grep -q "^ReadWritePaths=$localstatedir/lib/otpgate $runstatedir/otpgate\( \|\$\)" "$f" ||
      fail "$u.service: ReadWritePaths= is not this build's: $(grep ^ReadWritePaths= "$f")"
    ! grep -qE '^(StateDirectory|RuntimeDirectory)=' "$f" ||
      fail "$u.service: StateDirectory=/RuntimeDirectory= (always under /var/lib and /run) instead of tmpfiles.d"
  done
  grep -q "spawn-fcgi -n -s $runstatedir/otpgate/otpgate-fcgi.sock " "$dest$unitdir/otpgate-fcgi.service" ||
    fail "otpgate-fcgi.service: the socket is not under $runstatedir/otpgate"
  if command -v systemd-analyze >/dev/null 2>&1; then
    # The units' syntax (an unknown key, a bad value); the programs are
    # not where the units will find them (DESTDIR), which it may say.
    out=$(cd "$dest$unitdir" && systemd-analyze verify --man=no ./otpgate-sender.service \
      ./otpgate-fcgi.service 2>&1 | grep -v ' is not executable: ' || true)
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
  fi
fi
if [ "$sysusersdir" != no ]; then
  want "$sysusersdir/otpgate.conf"
  grep -q "^u otpgate - \"[^\"]*\" $localstatedir/lib/otpgate\$" "$dest$sysusersdir/otpgate.conf" ||
    fail "sysusers.d/otpgate.conf does not make the user otpgate"
fi
if [ "$tmpfilesdir" != no ]; then
  want "$tmpfilesdir/otpgate.conf"
  grep -q "^d $localstatedir/lib/otpgate 2770 otpgate otpgate -\$" "$dest$tmpfilesdir/otpgate.conf" ||
    fail "tmpfiles.d/otpgate.conf does not make $localstatedir/lib/otpgate 2770 otpgate:otpgate"
  grep -q "^d $runstatedir/otpgate 2770 otpgate otpgate -\$" "$dest$tmpfilesdir/otpgate.conf" ||
    fail "tmpfiles.d/otpgate.conf does not make $runstatedir/otpgate"
fi
echo "ok: programs, configuration, units, sysusers.d, tmpfiles.d, man pages, docs, SQL, examples"

# make uninstall leaves no file behind (but a changed configuration).
submake uninstall DESTDIR="$dest" >/dev/null 2>&1 || fail "make uninstall"
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "ok: make uninstall removes them all"
