#!/bin/bash
# The README's smstools3 recipe (spool transport, "smstools3 on Debian: the
# spool's permissions"), checked with the users it names: the sender runs
# as otpgate (otpgate-test here) and writes into the outgoing directory;
# smsd, as Debian's smstools starts it (user smsd, -g dialout: its groups
# are dialout and those that list it as a member, initgroups(3)), reads the
# sender's file, takes it over as smsd does with a file it may not write
# (a copy put in its place), moves it to checked and deletes it; nobody
# else can list the directory or read a code. smsd is a stand-in user,
# otpgate-smsd-test, made as Debian's package makes smsd (a system user
# with its own group, a member of dialout); smstools3 itself is not needed.
# The recipe's two group memberships stay on the machine, as otpgate-test
# does. Skipped (77) when not root.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root: users, groups and owners are what it checks"
need_tool setpriv util-linux
need_tool cgi-fcgi libfcgi-bin
deploy_setup smstools
getent group dialout >/dev/null || die "no group dialout (Debian's base-passwd has it)"

SMSD=otpgate-smsd-test
lockdir=/run/lock
[ -d "$lockdir" ] || lockdir=/tmp
# The stand-in smsd, as smstools' postinst makes smsd; then the recipe:
# otpgate joins smsd's group, and smsd is made a member of its own group.
(
  flock 9 || exit 1
  if ! id "$SMSD" >/dev/null 2>&1; then
    adduser --system --quiet --no-create-home --home /nonexistent --group "$SMSD" &&
      adduser --quiet "$SMSD" dialout || exit 1
  fi
  for who in "$SVC_USER" "$SMSD"; do
    getent group "$SMSD" | cut -d: -f4 | tr ',' '\n' | grep -qxF "$who" ||
      adduser --quiet "$who" "$SMSD" || exit 1
  done
) 9>>"$lockdir/otpgate-test-users.lock" || die "cannot make $SMSD or apply the recipe's groups"

# The spool as smstools' package makes it (smsd:smsd, setgid and sticky),
# with the recipe's mode 3770 (Debian's is 3775).
install -d -m 755 "$T/sms"
install -d -o "$SMSD" -g "$SMSD" -m 3770 "$T/sms/outgoing" "$T/sms/checked" ||
  die "cannot make the spool"

# One sendOtp through a worker, so that the outbox holds one SMS.
conf_sender <<CONF
transport = spool
spool_dir = $T/sms/outgoing
wake_socket =
heartbeat_max_age_seconds = 0
CONF
exec_as_svc "$WORKER" -c "$CONF" --socket "$T/run/fcgi.sock" >>"$T/log/worker.log" 2>&1 &
WORKER_PID=$!
on_exit "kill -TERM $WORKER_PID"
wait_until 10 test -S "$T/run/fcgi.sock" || die "the worker does not listen: $(cat "$T/log/worker.log")"
sendotp_body "$T/req/one" "sms-1"
env -i REQUEST_METHOD=POST SCRIPT_NAME="$API_PATH" REQUEST_URI="$API_PATH" \
  CONTENT_TYPE=application/json SERVER_PROTOCOL=HTTP/1.1 \
  CONTENT_LENGTH="$(wc -c <"$T/req/one")" \
  cgi-fcgi -bind -connect "$T/run/fcgi.sock" <"$T/req/one" >"$T/resp/one" 2>>"$T/log/cgi-fcgi.log" ||
  die "cgi-fcgi: $(cat "$T/log/cgi-fcgi.log")"
[ "$(json_result "$T/resp/one")" = SUCCESS ] || die "sendOtp: $(cat "$T/resp/one")"
id=$(sql "SELECT id FROM outbox")

# The sender as its unit runs it (user otpgate, its groups from
# /etc/group, umask 0007), once.
cp "$OTPGATE_BUILDDIR/src/otpgate-sender" "$T/bin/otpgate-sender"
chmod 755 "$T/bin/otpgate-sender"
exec_as_svc "$T/bin/otpgate-sender" -c "$CONF" --once >>"$T/log/sender.log" 2>&1 &
wait $! || die "otpgate-sender --once failed: $(cat "$T/log/sender.log")"
[ "$(sql "SELECT status FROM outbox WHERE id = $id")" = sent ] ||
  die "the row is $(sql "SELECT status, last_error FROM outbox WHERE id = $id")"
f=$T/sms/outgoing/otpgate-$id
[ -f "$f" ] || die "no $f: $(ls -la "$T/sms/outgoing")"
[ "$(stat -c '%a %U:%G' "$f")" = "640 $SVC_USER:$SMSD" ] ||
  die "$f is $(stat -c '%a %U:%G' "$f"), want 640 $SVC_USER:$SMSD (the directory's group: setgid)"
[ -z "$(find "$T/sms/outgoing" -name '.otpgate-*')" ] || die "a hidden file was left in the spool"
say "ok: the sender ($SVC_USER, in group $SMSD) wrote $f, 640, group $SMSD"

# smsd's groups: -g dialout, then initgroups(smsd, dialout): dialout and
# every group whose member list names smsd (its own group only because the
# recipe put it there).
member_of() { getent group | awk -F: -v u="$1" '{ n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) print $1 }'; }
groups=$(
  echo dialout
  member_of "$SMSD"
)
groups=$(echo "$groups" | sort -u | paste -sd, -)
as_smsd() { # GROUPS COMMAND...
  g=$1
  shift
  setpriv --reuid="$SMSD" --regid=dialout --groups="$g" -- "$@"
}
as_smsd "$groups" grep -q "^To: ${PHONE#+}\$" "$f" || die "smsd (groups $groups) cannot read $f"
# What smsd does with a file it cannot write: a copy of its own in its
# place (it owns the directory, so the sticky bit lets it), then the move
# to checked, then (sent) the delete.
as_smsd "$groups" sh -eu -c '
  f=$1 checked=$2
  tmp=$(mktemp "$f.XXXXXX")
  cat "$f" >"$tmp"
  rm -f "$f"
  mv "$tmp" "$f"
  [ -O "$f" ]
  mv "$f" "$checked/"
  grep -q "^To: " "$checked/${f##*/}"
  rm "$checked/${f##*/}"
' sh "$f" "$T/sms/checked" || die "smsd (groups $groups) cannot take over, move and delete $f"
[ -z "$(find "$T/sms/outgoing" "$T/sms/checked" -mindepth 1)" ] || die "files left in the spool: $(ls -la "$T/sms/outgoing" "$T/sms/checked")"
say "ok: smsd ($SMSD, groups $groups) read the file, took it over, moved it to checked, deleted it"

# Without the recipe's "adduser smsd smsd", smsd could not read the code.
without=$(echo "$groups" | tr ',' '\n' | grep -vxF "$SMSD" | paste -sd, -)
printf 'To: 1\n\nx\n' >"$T/probe"
install -o "$SVC_USER" -g "$SMSD" -m 640 "$T/probe" "$T/sms/outgoing/otpgate-probe"
! as_smsd "$without" cat "$T/sms/outgoing/otpgate-probe" >/dev/null 2>&1 ||
  die "smsd read the file without being a member of its own group: the recipe's step is not needed?"
# Without the recipe's "adduser otpgate smsd", the sender could not write.
svc_without=$(id -nG "$SVC_USER" | tr ' ' '\n' | grep -vxF "$SMSD" | paste -sd, -)
! setpriv --reuid="$SVC_USER" --regid="$SVC_GROUP" --groups="$svc_without" \
  touch "$T/sms/outgoing/otpgate-x" 2>/dev/null ||
  die "$SVC_USER wrote into the spool without being in group $SMSD"
# Nobody else can list the spool or read a code.
! setpriv --reuid=nobody --regid=nogroup --clear-groups ls "$T/sms/outgoing" >/dev/null 2>&1 ||
  die "nobody can list $T/sms/outgoing"
! setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$T/sms/outgoing/otpgate-probe" >/dev/null 2>&1 ||
  die "nobody can read a file in the spool"
say "ok: without 'adduser smsd smsd' smsd (groups $without) cannot read it, without 'adduser otpgate smsd' the sender cannot write; nobody else can list or read the spool"
