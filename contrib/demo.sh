#!/bin/sh
# The first command: installs what is needed, builds, starts a demo on
# 127.0.0.1 (lighttpd with two otpgate-fcgi workers, and otpgate-sender
# with a script standing in for the SMS gateway), and performs the seeds'
# sendOtp round trip, printing the answer and the SMS. Then it switches to
# sealed payloads, as Google sends them in production: it makes our key
# pair and a stand-in for Google's, restarts the workers with
# [payload] format = pgp, and sends an echo sealed as Google would,
# opening the sealed answer.
#
#   sh contrib/demo.sh          start (again) and run the round trip
#   sh contrib/demo.sh stop     stop the demo
#
# OTPGATE_DEMO_DIR (default /tmp/otpgate-demo) and OTPGATE_DEMO_PORT (8480)
# move it. As root, the programs run as the unprivileged user nobody.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
demo=${OTPGATE_DEMO_DIR:-/tmp/otpgate-demo}
port=${OTPGATE_DEMO_PORT:-8480}

stop() {
  for f in "$demo/lighttpd.pid" "$demo/sender.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  sleep 0.5
}
if [ "${1:-}" = stop ]; then
  stop
  echo "demo stopped"
  exit 0
fi

cd "$top"
sh contrib/deps.sh
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p build-demo
(cd build-demo && { [ -f Makefile ] || ../configure -q; } && make -s -j"$(nproc)" >/dev/null)

stop
rm -rf "$demo"
mkdir -p "$demo/bin" "$demo/www"
chmod 2770 "$demo"   # as the README makes /var/lib/otpgate (otpgate-admin init checks it)
cp build-demo/src/otpgate-fcgi build-demo/src/otpgate-sender \
  build-demo/src/otpgate-admin contrib/demo/gateway.sh "$demo/bin/"
run_as=""
if [ "$(id -u)" -eq 0 ]; then
  run_as="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
fi

cat > "$demo/otpgate.conf" <<CONF
[database]
path = $demo/otpgate.db
[api]
metrics_file = $demo/metrics
[otp]
secret_file = $demo/otp.key
[sms]
template = Your demo code is {otp}. It expires in {minutes} minutes.
[sender]
transport = exec
exec_command = $demo/bin/gateway.sh $demo/sms.txt
wake_socket = $demo/sender.sock
[log]
syslog = no
CONF

admin="$demo/bin/otpgate-admin -c $demo/otpgate.conf"
$admin init
$admin account add demo-1 --phone +918067218010
$admin association add demo-association-1 demo-1

cat > "$demo/lighttpd.conf" <<CONF
server.modules = ("mod_fastcgi")
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$demo/www"
server.pid-file = "$demo/lighttpd.pid"
server.errorlog = "$demo/lighttpd-error.log"
server.max-request-size = 64
fastcgi.server = ("/integrator-base-path/e-wallets-v1/" => ((
  "bin-path" => "$demo/bin/otpgate-fcgi",
  "bin-environment" => ("OTPGATE_CONFIG" => "$demo/otpgate.conf"),
  "socket" => "$demo/fcgi.sock",
  "max-procs" => 2,
  "check-local" => "disable",
)))
CONF
if [ -n "$run_as" ]; then
  printf 'server.username = "nobody"\nserver.groupname = "nogroup"\n' >> "$demo/lighttpd.conf"
  chown -R nobody:nogroup "$demo"
fi

$run_as "$demo/bin/otpgate-sender" -c "$demo/otpgate.conf" \
  >>"$demo/sender.log" 2>&1 &
echo $! > "$demo/sender.pid"
lighttpd -f "$demo/lighttpd.conf"
for i in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done

now=$(($(date +%s%N) / 1000000))
request=$(cat <<JSON
{
  "requestHeader": {
    "protocolVersion": {"major": 1, "minor": 0, "revision": 0},
    "requestId": "0123434-otp-abc",
    "requestTimestamp": "$now"
  },
  "accountPhoneNumber": "+918067218010",
  "smsMatchingToken": "AB12345678C",
  "otpContext": {"association": {}}
}
JSON
)
url="http://127.0.0.1:$port/integrator-base-path/e-wallets-v1/sendOtp"
echo
echo "POST $url"
echo "$request"
echo
echo "answer:"
echo "$request" | curl -s -H 'Content-Type: application/json' --data-binary @- "$url" |
  python3 -m json.tool
for i in $(seq 50); do
  [ -s "$demo/sms.txt" ] && break
  sleep 0.1
done
echo
echo "the SMS the gateway received ($demo/sms.txt):"
cat "$demo/sms.txt"
echo
echo "the audit trail (otpgate-admin outbox list):"
$admin outbox list

# ---- the same, sealed ----
mkdir -p "$demo/pgp/ours" "$demo/pgp/google"
$admin pgp generate --out "$demo/pgp/ours" --uid "demo integrator <i@demo>" >/dev/null
$admin pgp generate --out "$demo/pgp/google" --uid "stand-in for Google <g@demo>" >/dev/null
cat >> "$demo/otpgate.conf" <<CONF
[payload]
format = pgp
[pgp]
secret_keys = $demo/pgp/ours/integrator.sec
google_keys = $demo/pgp/google/integrator.pub.asc
CONF
[ -n "$run_as" ] && chown -R nobody:nogroup "$demo"
kill "$(cat "$demo/lighttpd.pid")"
sleep 0.5
lighttpd -f "$demo/lighttpd.conf"
for i in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
now=$(($(date +%s%N) / 1000000))
echo_url="http://127.0.0.1:$port/integrator-base-path/e-wallets-v1/echo"
printf '{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},"requestId":"echo-sealed-1","requestTimestamp":"%s"},"clientMessage":"hello, sealed"}' "$now" >"$demo/echo.json"
$admin pgp seal --key "$demo/pgp/google/integrator.sec" <"$demo/echo.json" | tr -d '\n' >"$demo/echo.sealed"
echo
echo "sealed: POST $echo_url (base64url of an OpenPGP message signed by the"
echo "stand-in Google key and encrypted to ours; first 80 characters):"
head -c 80 "$demo/echo.sealed"; echo "..."
curl -s -H 'Content-Type: application/octet-stream; charset=utf-8' \
  --data-binary @"$demo/echo.sealed" "$echo_url" >"$demo/echo.answer"
echo
echo "the sealed answer, opened with the stand-in Google key:"
$admin pgp open --key "$demo/pgp/google/integrator.sec" <"$demo/echo.answer" |
  python3 -m json.tool
echo
echo "The demo runs on http://127.0.0.1:$port/ (files in $demo), now with"
echo "sealed payloads ([payload] format = pgp)."
echo "Stop it with: sh contrib/demo.sh stop"
