#!/bin/bash
# Sealed payloads ([payload] format = pgp) through lighttpd and the real
# workers, with GnuPG's gpg playing Google: its own key pairs, sealing
# requests and opening otpgate's answers. Every decision of the payload
# layer, each with a real sealed body; refusals record nothing.
. "$OTPGATE_SRCDIR/tests/deploy/lib.sh"
. "$OTPGATE_SRCDIR/tests/deploy/lighttpd-common.sh"
need_server lighttpd "apt-get install lighttpd lighttpd-mod-openssl"
need_tool gpg gnupg
need_tool basenc coreutils
deploy_setup pgp

ADMIN=$OTPGATE_BUILDDIR/src/otpgate-admin
export GNUPGHOME=$T/gnupg
install -d -m 700 "$GNUPGHOME"
K=$T/pgp
install -d -m 750 -g "$SVC_GROUP" "$K"
g() {
  gpg --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase '' \
    --trust-model always "$@" 2>>"$T/log/gpg.log"
}
fpr_of() { g --list-keys --with-colons "$1" | awk -F: '/^fpr/ { print $10; exit }'; }
# A key pair as Google's: RSA primary key for signing, an encryption subkey.
google_key() { # NAME [EXPIRY]
  g --quick-gen-key "$1 <$1@google.test>" rsa2048 sign,cert "${2:-1y}" ||
    die "gpg could not make $1"
  g --quick-add-key "$(fpr_of "$1@google.test")" rsa2048 encr "${2:-1y}"
}

# ---- keys ----
# Ours, made by otpgate-admin: Google gets the public half.
"$ADMIN" pgp generate --out "$K" --bits 2048 --expires 1y --uid "integrator <i@example.com>" \
  >"$T/log/generate.log" 2>&1 || die "pgp generate: $(cat "$T/log/generate.log")"
[ "$(stat -c %a "$K/integrator.sec")" = 600 ] || die "the secret key file is $(stat -c %a "$K/integrator.sec")"
chgrp "$SVC_GROUP" "$K/integrator.sec" && chmod 640 "$K/integrator.sec"
g --import "$K/integrator.pub.asc" || die "gpg does not take our public key"
OURS=$(fpr_of i@example.com)
google_key google1
google_key google2
google_key stranger
google_key revoked
G1=$(fpr_of google1@google.test) G2=$(fpr_of google2@google.test)
REVOKED=$(fpr_of revoked@google.test)
for k in google1 google2; do
  g --export "$k@google.test" >"$K/$k.pub" || die "gpg --export $k"
done

# ---- sealing as Google ----
# The body of a request: JSON sealed by gpg, base64url (padded as Google's
# sample does). Options after the JSON go to gpg.
seal() { # JSONFILE OUTFILE [gpg options...]
  in=$1 out=$2
  shift 2
  g --sign --encrypt --recipient "$OURS" --digest-algo SHA512 \
    --cipher-algo AES256 --compress-algo ZIP --set-filename _CONSOLE "$@" \
    --output - "$in" | basenc --base64url -w0 >"$out" || die "gpg could not seal $in"
}
signed_by() { echo "--local-user $1"; }

post_sealed() { # METHOD-PATH BODYFILE: the HTTP status
  curl -sS --http1.1 --max-time 20 --cacert "$T/tls/fullchain.pem" \
    --resolve "$HOST:$PORT:127.0.0.1" -o "$T/resp/last" -D "$T/resp/headers" \
    -w '%{http_code}' -H 'Content-Type: application/octet-stream; charset=utf-8' \
    --data-binary "@$2" "$BASE$1" 2>>"$T/log/curl.log" || true
}

# Opens an answer as Google: it must be base64url with padding, decrypt
# with a Google key, carry MDC and AES-256, and be signed by our key with
# SHA-384. The JSON goes to $T/resp/plain.
open_answer() {
  grep -q 'Content-Type: application/octet-stream; charset=utf-8' "$T/resp/headers" ||
    die "answer's Content-Type: $(grep -i content-type "$T/resp/headers")"
  grep -qE '^[A-Za-z0-9_-]+={0,2}$' "$T/resp/last" || die "answer is not base64url: $(head -c 200 "$T/resp/last")"
  [ $(($(wc -c <"$T/resp/last") % 4)) = 0 ] || die "answer's base64url is not padded"
  basenc --base64url -d "$T/resp/last" >"$T/resp/bin" || die "answer does not decode"
  g --status-fd 3 --decrypt --output "$T/resp/plain" "$T/resp/bin" 3>"$T/resp/status" ||
    die "gpg cannot open the answer: $(cat "$T/resp/status")"
  awk '$2 == "VALIDSIG" && $10 == 9 { ok = 1 } END { exit !ok }' "$T/resp/status" ||
    die "answer not signed with SHA-384 by a key gpg knows: $(cat "$T/resp/status")"
  grep -q "VALIDSIG .* $OURS\$" "$T/resp/status" || die "answer not signed by our key $OURS"
  grep -q 'DECRYPTION_INFO 2 9' "$T/resp/status" || die "answer not AES-256 with MDC: $(grep DECRYPTION "$T/resp/status")"
}

# Every live Google key can open answers; the expired and revoked ones are
# not recipients.
check_recipients() {
  for k in google1 google2; do
    sub=$(g --list-keys --with-colons "$k@google.test" | awk -F: '/^sub/ { print $5 }')
    grep -q "ENC_TO $sub" "$T/resp/status" || die "answer not encrypted to $k"
  done
  for k in expired revoked; do
    sub=$(g --list-keys --with-colons "$k@google.test" | awk -F: '/^sub/ { print $5 }')
    ! grep -q "ENC_TO $sub" "$T/resp/status" || die "answer encrypted to the $k key"
  done
  say "ok: answers encrypted to google1 and google2 only"
}

body() { # FILE METHOD REQUEST_ID
  case $2 in
  sendOtp) sendotp_body "$1" "$3" ;;
  echo) printf '{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},"requestId":"%s","requestTimestamp":"%s"},"clientMessage":"ping"}' "$3" "$(now_ms)" >"$1" ;;
  esac
}

# A request sealed and sent: its status and decrypted answer checked.
expect() { # STATUS RESULT-OR-ERRORCODE METHOD BODYFILE WHAT
  code=$(post_sealed "/v1/$3" "$4")
  [ "$code" = "$1" ] || die "$5: HTTP $code, want $1: $(head -c 300 "$T/resp/last")"
  open_answer
  grep -qE "\"(result|errorResponseCode|clientMessage)\":\"$2\"" "$T/resp/plain" ||
    die "$5: $(cat "$T/resp/plain"), want $2"
  say "ok: $5 -> $1 $2"
}

# A key that expires in a few seconds signs while it is good; it has
# expired when its message arrives (librnp alone would accept a signature
# made before the expiry).
google_key expired seconds=6
expired_at=$(($(date +%s) + 6))
body "$T/req/by-expired.json" sendOtp by-expired
seal "$T/req/by-expired.json" "$T/req/by-expired" --local-user expired@google.test
g --export expired@google.test >"$K/expired.pub"

# The revoked key signs while it is still good, then is revoked.
body "$T/req/by-revoked.json" sendOtp by-revoked
seal "$T/req/by-revoked.json" "$T/req/by-revoked" $(signed_by "$REVOKED")
sed 's/^:-----BEGIN/-----BEGIN/' "$GNUPGHOME/openpgp-revocs.d/$REVOKED.rev" | g --import ||
  die "gpg could not revoke"
g --export revoked@google.test >"$K/revoked.pub"
chmod 644 "$K"/*.pub

cat >>"$CONF" <<EOF
[payload]
format = pgp
[pgp]
secret_keys = $K/integrator.sec
google_keys = $K/google1.pub,$K/google2.pub,$K/expired.pub,$K/revoked.pub
max_plaintext_bytes = 65536
EOF
conf_perms
"$ADMIN" -c "$CONF" pgp check >"$T/log/check.log" 2>&1 || die "pgp check: $(cat "$T/log/check.log")"
"$ADMIN" -c "$CONF" pgp list >"$T/log/list.log" 2>&1 || die "pgp list: $(cat "$T/log/list.log")"
grep -q "key=$REVOKED whose=google .*status=expired or revoked WARNING" "$T/log/list.log" ||
  die "pgp list does not flag the revoked key: $(cat "$T/log/list.log")"

lighttpd_start "$OTPGATE_SRCDIR/etc/lighttpd/otpgate.conf"
grep -q "key=$OURS whose=ours use=sign" "$T/log/lighttpd-error.log" "$T"/log/*.log ||
  die "the workers did not list our key at start-up"

# ---- what Google sends, answered ----
body "$T/req/s1.json" sendOtp s1
seal "$T/req/s1.json" "$T/req/s1" $(signed_by "$G1")
expect 200 SUCCESS sendOtp "$T/req/s1" "sendOtp signed by google1"
id1=$(sed -n 's/.*"paymentIntegratorSendOtpId":"\([0-9a-f]*\)".*/\1/p' "$T/resp/plain")
# The same request sealed again (another session key, unpadded): replayed.
seal "$T/req/s1.json" "$T/req/s1-again" $(signed_by "$G1")
tr -d '=' <"$T/req/s1-again" >"$T/req/s1-unpadded"
expect 200 SUCCESS sendOtp "$T/req/s1-unpadded" "the same sendOtp sealed again, unpadded"
grep -q "\"paymentIntegratorSendOtpId\":\"$id1\"" "$T/resp/plain" || die "a retry got another send id"
[ "$(sql "SELECT count(*) FROM outbox")" = 1 ] || die "a sealed retry sent a second SMS"

body "$T/req/e1.json" echo e1
seal "$T/req/e1.json" "$T/req/e1" $(signed_by "$(fpr_of stranger@google.test)") $(signed_by "$G1")
expect 200 ping echo "$T/req/e1" "echo signed by a stranger and google1"
body "$T/req/m1.json" echo m1
seal "$T/req/m1.json" "$T/req/m1" $(signed_by "$G1") --recipient stranger@google.test
expect 200 ping echo "$T/req/m1" "echo encrypted to a stranger and to us"
body "$T/req/s2.json" sendOtp s2
seal "$T/req/s2.json" "$T/req/s2" $(signed_by "$G2") --compress-algo none
expect 200 SUCCESS sendOtp "$T/req/s2" "sendOtp signed by google2 only (rotation), uncompressed"

# verifyOtp sealed: the code from the outbox's sealed copy is not ours to
# read here; a wrong code is a clean, sealed OTP_NOT_MATCHED.
printf '{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},"requestId":"v1","requestTimestamp":"%s"},"sendOtpRequestId":"s2","otp":"000000"}' "$(now_ms)" >"$T/req/v1.json"
seal "$T/req/v1.json" "$T/req/v1" $(signed_by "$G1")
expect 200 OTP_NOT_MATCHED verifyOtp "$T/req/v1" "verifyOtp sealed"

# ---- refusals: each sealed, each recording nothing ----
before=$(sql "SELECT (SELECT count(*) FROM requests) || '/' || (SELECT count(*) FROM otps) || '/' || (SELECT count(*) FROM outbox)")
body "$T/req/r.json" sendOtp refused
seal "$T/req/r.json" "$T/req/by-stranger" $(signed_by "$(fpr_of stranger@google.test)")
expect 401 INVALID_PAYLOAD_SIGNATURE sendOtp "$T/req/by-stranger" "signed by a stranger only"
# gpg has only our public key: otpgate's own test tool signs with ours.
"$ADMIN" -c "$CONF" pgp seal --key "$K/integrator.sec" <"$T/req/r.json" >"$T/req/by-ours.txt" 2>>"$T/log/gpg.log" ||
  die "pgp seal with our own key"
tr -d '\n' <"$T/req/by-ours.txt" >"$T/req/by-ours"
expect 401 INVALID_PAYLOAD_SIGNATURE sendOtp "$T/req/by-ours" "signed by our own key"
while [ "$(date +%s)" -le "$expired_at" ]; do sleep 0.2; done
expect 401 INVALID_PAYLOAD_SIGNATURE sendOtp "$T/req/by-expired" "signed by an expired Google key"
check_recipients
expect 401 INVALID_PAYLOAD_SIGNATURE sendOtp "$T/req/by-revoked" "signed by a revoked Google key"
seal "$T/req/r.json" "$T/req/sha1" $(signed_by "$G1") --digest-algo SHA1
expect 401 INVALID_PAYLOAD_SIGNATURE sendOtp "$T/req/sha1" "signed with SHA-1"
g --encrypt --recipient "$OURS" --output - "$T/req/r.json" | basenc --base64url -w0 >"$T/req/unsigned"
expect 401 INVALID_PAYLOAD_SIGNATURE sendOtp "$T/req/unsigned" "encrypted, not signed"

g --sign --local-user "$G1" --output - "$T/req/r.json" | basenc --base64url -w0 >"$T/req/signed-only"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/signed-only" "signed, not encrypted"
g --symmetric --passphrase pw --output - "$T/req/r.json" | basenc --base64url -w0 >"$T/req/password"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/password" "encrypted to a password only"
g --sign --encrypt --recipient stranger@google.test --local-user "$G1" --output - "$T/req/r.json" |
  basenc --base64url -w0 >"$T/req/not-to-us"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/not-to-us" "encrypted to another key"
seal "$T/req/r.json" "$T/req/good" $(signed_by "$G1")
basenc --base64url -d "$T/req/good" >"$T/req/good.bin"
size=$(wc -c <"$T/req/good.bin")
python3 - "$T/req/good.bin" "$T/req/tampered.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) - 30] ^= 0x01          # inside the encrypted data: the MDC breaks
open(sys.argv[2], "wb").write(b)
PY
basenc --base64url -w0 "$T/req/tampered.bin" >"$T/req/tampered"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/tampered" "one byte changed"
head -c $((size - 40)) "$T/req/good.bin" | basenc --base64url -w0 >"$T/req/truncated"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/truncated" "truncated"
printf 'not*base64url!' >"$T/req/garbage"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/garbage" "not base64url"
printf 'AAAA' >"$T/req/nonsense"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/nonsense" "base64url of no OpenPGP message"
: >"$T/req/empty"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/empty" "an empty body"
expect 400 INVALID_PAYLOAD_ENCRYPTION sendOtp "$T/req/r.json" "plain JSON"
printf 'this is not JSON' >"$T/req/text.txt"
seal "$T/req/text.txt" "$T/req/text" $(signed_by "$G1")
expect 400 INVALID_DECRYPTED_REQUEST sendOtp "$T/req/text" "a sealed text that is not JSON"
# A compression bomb: 40 MB of one byte, about 50 KB sealed (the most
# that fits under the body limit), inflating 600 times past the cap.
head -c 40000000 /dev/zero | tr '\0' ' ' >"$T/req/bomb.txt"
seal "$T/req/bomb.txt" "$T/req/bomb" $(signed_by "$G1") --compress-algo ZLIB --compress-level 9
rm -f "$T/req/bomb.txt"
started=$(now_ms)
expect 400 INVALID_DECRYPTED_REQUEST sendOtp "$T/req/bomb" "a compression bomb ($(wc -c <"$T/req/bomb") bytes sealed)"
took=$(($(now_ms) - started))
[ "$took" -lt 5000 ] || die "the compression bomb took $took ms"
say "ok: the bomb was refused in $took ms"
after=$(sql "SELECT (SELECT count(*) FROM requests) || '/' || (SELECT count(*) FROM otps) || '/' || (SELECT count(*) FROM outbox)")
[ "$before" = "$after" ] || die "refusals wrote rows: requests/otps/outbox $before -> $after"

# The workers logged who signed, and never a plaintext.
grep -q "signer=$G1" "$T"/log/*.log || die "no signer= in the workers' log"
! grep -q '"smsMatchingToken"' "$T"/log/*.log || die "a plaintext in a log"
# The expiring and dead Google keys are warned about at each start-up.
check_log_clean "$T/log/lighttpd-stderr.log" '^$|warn: event=pgp_key key=.* status="(expires soon|expired or revoked)"'
