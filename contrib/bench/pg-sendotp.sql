-- One sendOtp's transaction on PostgreSQL, statement for statement as
-- otpgate-fcgi runs it for the benchmark's requests (by accountPhoneNumber;
-- src/store_pg_*.c), for pgbench -f: the ceiling of contrib/bench/run's
-- PostgreSQL rows. Variables (pgbench -D): naccounts, first_phone.
-- One difference: the SMS row goes in as sent (no sender runs here), so the
-- queue stays as short as a sender that keeps up leaves it; the sender's
-- own two updates are not in the ceiling, which makes it higher, not lower.
\set n random(0, :naccounts - 1)
\set r random(1, 1000000000000)
\set now 1000000000000 + random(0, 999999)
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('sendOtp' || chr(10) || 'pb-' || :r, 0));
SELECT key_id, fingerprint, http_status, answer FROM requests WHERE method = 'sendOtp' AND request_id = 'pb-' || :r;
SELECT a.id, a.phone, a.status, a.verify_failures, a.locked_until FROM accounts AS a WHERE a.phone = '+' || (:first_phone + :n) FOR UPDATE OF a;
SELECT count(*) FROM otps WHERE account_id = 'bench-' || :n AND created_at >= :now - 600000;
SELECT owner, failures, failed_at, probe_at FROM senders WHERE seen_at >= 0 ORDER BY seen_at DESC, owner COLLATE "C";
UPDATE otps SET superseded_at = :now WHERE account_id = 'bench-' || :n AND used_at IS NULL AND superseded_at IS NULL AND expires_at > :now;
UPDATE outbox SET status = 'superseded', sealed_code = NULL, last_error = 'a newer code was sent', updated_at = :now WHERE status = 'queued' AND account_id = 'bench-' || :n;
INSERT INTO otps (request_id, account_id, context, code_hash, created_at, expires_at, key_id, send_otp_id) VALUES ('pb-' || :r, 'bench-' || :n, 'none', decode(md5('c' || :r) || md5('d' || :r), 'hex'), :now, :now + 300000, 1, md5('s' || :r)) ON CONFLICT DO NOTHING RETURNING id;
WITH ins AS (INSERT INTO outbox (otp_id, account_id, destination, text, code_offset, code_length, next_attempt_at, expires_at, created_at, updated_at, sealed_code, key_id, status, sent_at) VALUES (currval(pg_get_serial_sequence('otps', 'id')), 'bench-' || :n, '+' || (:first_phone + :n), '****** is your code', 0, 6, :now, :now + 300000, :now, :now, NULL, 1, 'sent', :now) RETURNING id) SELECT ins.id, pg_notify('otpgate_outbox', '') FROM ins;
INSERT INTO requests (method, request_id, key_id, fingerprint, http_status, answer, created_at) VALUES ('sendOtp', 'pb-' || :r, 1, decode(md5('g' || :r) || md5('h' || :r), 'hex'), 200, '{"responseHeader":{"responseTimestamp":"1"},"paymentIntegratorSendOtpId":"0123456789abcdef0123456789abcdef","sendOtpResultCode":{"success":{}}}', :now) ON CONFLICT DO NOTHING;
END;
