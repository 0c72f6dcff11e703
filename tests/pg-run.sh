#!/bin/sh
# tests/pg-run.sh PROGRAM [ARGS...]: runs PROGRAM against a PostgreSQL
# server of its own, started here and stopped when PROGRAM ends.
#
# A temporary directory holds the cluster (initdb -A trust -U otpgate,
# UTF8, locale C, no fsync) and its unix socket (no TCP); PROGRAM runs with
# OTPGATE_TEST_PG=<socket directory>, which tells tests/testhelp.c to give
# each test a fresh database on that server ([database] driver =
# postgresql). The exit status is PROGRAM's; 77 (skipped) when PostgreSQL
# is not installed (contrib/deps.sh installs it), or 99 (a hard error)
# instead when OTPGATE_REQUIRE_PG=1. A PROGRAM named *.pg is a wrapper
# script (Makefile.am writes tests/pg/check_*.pg) and runs under sh.
#
# PostgreSQL refuses to run as root: as root, the server runs as the user
# postgres (Debian's package makes it), or nobody; the socket's directory
# stays reachable by nobody, as whom the tests run the otpgate programs.
#
# OTPGATE_PG_BINDIR names the directory of initdb and pg_ctl; otherwise
# `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
# OTPGATE_KEEP_TMP=1 keeps the directory (the server's log is in it).
set -u

[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 99; }

missing() { # REASON PROGRAM
  msg="PostgreSQL is not installed: $1 (apt-get install postgresql, or contrib/deps.sh)"
  if [ "${OTPGATE_REQUIRE_PG:-}" = 1 ]; then
    echo "ERROR: $msg" >&2
    exit 99
  fi
  # Loud: a skipped PostgreSQL run must not pass for a green one.
  echo "SKIP: $msg; the PostgreSQL run of $2 did NOT happen" >&2
  echo "SKIP: $msg" # into the test's log
  exit 77
}

bindir=${OTPGATE_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  bindir=$(pg_config --bindir 2>/dev/null || true)
  [ -x "$bindir/initdb" ] || bindir=""
fi
if [ -z "$bindir" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n); do
    [ -x "$d/initdb" ] && bindir=$d
  done
fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] ||
  missing "no initdb and pg_ctl found" "$1"

# As root: the server's user, and how to become it.
as_pg() { "$@"; }
pguser=""
if [ "$(id -u)" -eq 0 ]; then
  for u in postgres nobody; do
    id -u "$u" >/dev/null 2>&1 && { pguser=$u; break; }
  done
  [ -n "$pguser" ] || { echo "ERROR: as root, no user postgres or nobody to run PostgreSQL" >&2; exit 99; }
  if command -v runuser >/dev/null 2>&1; then
    as_pg() { runuser -u "$pguser" -- "$@"; }
  elif command -v setpriv >/dev/null 2>&1; then
    as_pg() { setpriv --reuid="$pguser" --regid="$pguser" --init-groups -- "$@"; }
  else
    echo "ERROR: as root, runuser or setpriv is needed to run PostgreSQL" >&2
    exit 99
  fi
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/otpgate-pg-XXXXXX") || exit 99
chmod 0755 "$T"
mkdir "$T/sock" && chmod 0755 "$T/sock"
[ -z "$pguser" ] || chown -R "$pguser" "$T"

started=no
cleanup() {
  if [ "$started" = yes ]; then
    as_pg "$bindir/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 ||
      echo "pg-run.sh: pg_ctl stop failed (server in $T)" >&2
  fi
  if [ -n "${OTPGATE_KEEP_TMP:-}" ]; then
    echo "pg-run.sh: kept $T"
  else
    rm -rf "$T"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The server's log goes into the test's log when anything goes wrong.
fail_setup() {
  echo "ERROR: pg-run.sh: $*" >&2
  [ -f "$T/initdb.log" ] && sed 's/^/initdb: /' "$T/initdb.log" >&2
  [ -f "$T/log" ] && sed 's/^/postgres: /' "$T/log" >&2
  exit 99
}

as_pg "$bindir/initdb" -D "$T/data" -A trust -U otpgate -E UTF8 --locale=C \
  --no-sync >"$T/initdb.log" 2>&1 || fail_setup "initdb failed"
started=yes
as_pg "$bindir/pg_ctl" -D "$T/data" -l "$T/log" -w -t 60 \
  -o "-c listen_addresses='' -c unix_socket_directories='$T/sock' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null 2>&1 || fail_setup "pg_ctl start failed"

OTPGATE_TEST_PG=$T/sock
export OTPGATE_TEST_PG
echo "pg-run.sh: $("$bindir/pg_ctl" --version) at $OTPGATE_TEST_PG"

case $1 in
  *.pg) sh "$@" ;;
  *) "$@" ;;
esac
status=$?
exit $status
