#!/bin/sh
# Installs what otpgate needs to build, test and run its demo on Debian 12.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -eu

BUILD="build-essential autoconf automake pkg-config libfcgi-dev libjson-c-dev
  libsqlite3-dev libsodium-dev libinih-dev libcurl4-openssl-dev librnp-dev
  libsystemd-dev libcsv-dev check"
RUN="sqlite3 curl spawn-fcgi multiwatch python3 procps iproute2 wrk libfcgi-bin gnupg"
SERVERS="lighttpd lighttpd-mod-openssl apache2 libapache2-mod-fcgid nginx-light openssl"
TOOLS="valgrind clang"
# The PostgreSQL store: libpq to build; the server (initdb, pg_ctl) for
# the tests, which start their own (tests/pg-run.sh) and never the system's.
BUILD="$BUILD libpq-dev"
RUN="$RUN postgresql"
# The man pages (scdoc); the Debian package (tests/deploy/package.sh).
BUILD="$BUILD scdoc"
TOOLS="$TOOLS dpkg-dev debhelper"

want="$BUILD $RUN $SERVERS"
[ "${1:-}" = "--all" ] && want="$want $TOOLS"

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -qq
# Servers must not start (and grab ports) just because they were installed.
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
  --no-install-recommends $missing >/dev/null
$SUDO rm -f /usr/sbin/policy-rc.d
