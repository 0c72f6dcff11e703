-- otpgate schema, version 4 (the audit's fixes):
--  * outbox: the code is never in clear. text holds the SMS with its code
--    masked from the start; sealed_code holds the code sealed with a key
--    derived from the secret (key_id names which), opened by the sender
--    just before sending and set to NULL once the row is final. A new final
--    status, 'superseded': a newer code was sent before this one went out.
--  * requests: idempotency keyed on (method, request_id); key_id names the
--    secret that keyed the fingerprint.
--  * otps: key_id names the secret that keyed code_hash; send_otp_id is
--    the paymentIntegratorSendOtpId answered, for support lookups.
--  * accounts: E.164 with 7 to 15 digits.
-- store_migrate() runs this with foreign keys off and checks them before
-- committing, as SQLite's procedure for changing a table's definition asks.

-- Live rows hold their code in clear, which this version cannot seal in
-- SQL: refuse until the outbox is drained (stop the workers, let the
-- sender finish, then run 'otpgate-admin init' again).
CREATE TEMP TABLE migration_004_guard (x);
CREATE TEMP TRIGGER migration_004_drained BEFORE INSERT ON migration_004_guard
WHEN (SELECT count(*) FROM main.outbox WHERE status IN ('queued', 'sending')) > 0
BEGIN
  SELECT RAISE(ABORT, 'the outbox has queued or sending messages: stop the workers, let otpgate-sender drain it, then run otpgate-admin init again');
END;
INSERT INTO migration_004_guard VALUES (1);
DROP TABLE migration_004_guard;

DROP VIEW audit_outbox;
DROP VIEW audit_otps;

CREATE TABLE accounts_004 (
  id              TEXT PRIMARY KEY NOT NULL
                  CHECK (length(id) BETWEEN 1 AND 100),
  -- E.164: '+', then 7 to 15 digits, the first not 0. NULL: no phone on file.
  phone           TEXT
                  CHECK (phone IS NULL OR (phone GLOB '+[1-9]*'
                         AND length(phone) BETWEEN 8 AND 16
                         AND substr(phone, 2) NOT GLOB '*[^0-9]*')),
  status          TEXT NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'not_eligible', 'closed',
                                    'closed_account_taken_over', 'closed_fraud')),
  verify_failures INTEGER NOT NULL DEFAULT 0 CHECK (verify_failures >= 0),
  locked_until    INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
INSERT INTO accounts_004 SELECT id, phone, status, verify_failures,
  locked_until, created_at, updated_at FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_004 RENAME TO accounts;
CREATE UNIQUE INDEX accounts_phone ON accounts (phone) WHERE phone IS NOT NULL;

CREATE TABLE requests_004 (
  method       TEXT NOT NULL,
  request_id   TEXT NOT NULL,
  key_id       INTEGER NOT NULL DEFAULT 1,
  fingerprint  BLOB NOT NULL,
  http_status  INTEGER NOT NULL,
  answer       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (method, request_id)
) WITHOUT ROWID;
INSERT INTO requests_004 (method, request_id, fingerprint, http_status,
  answer, created_at)
  SELECT method, request_id, fingerprint, http_status, answer, created_at
  FROM requests;
DROP TABLE requests;
ALTER TABLE requests_004 RENAME TO requests;
CREATE INDEX requests_created ON requests (created_at);

ALTER TABLE otps ADD COLUMN key_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE otps ADD COLUMN send_otp_id TEXT;
-- The answer of each successful sendOtp holds the id: copy it out.
UPDATE otps SET send_otp_id = (SELECT json_extract(r.answer,
    '$.paymentIntegratorSendOtpId') FROM requests AS r
  WHERE r.method = 'sendOtp' AND r.request_id = otps.request_id);
CREATE UNIQUE INDEX otps_send_otp_id ON otps (send_otp_id)
  WHERE send_otp_id IS NOT NULL;

CREATE TABLE outbox_004 (
  id               INTEGER PRIMARY KEY,
  otp_id           INTEGER REFERENCES otps (id) ON DELETE SET NULL,
  account_id       TEXT NOT NULL,
  destination      TEXT NOT NULL,
  -- The SMS with its code masked ('*'): what the audit shows.
  text             TEXT NOT NULL,
  code_offset      INTEGER NOT NULL CHECK (code_offset >= 0),
  code_length      INTEGER NOT NULL CHECK (code_length >= 0),
  -- The code, sealed (nonce and secretbox); NULL once the row is final.
  sealed_code      BLOB,
  key_id           INTEGER NOT NULL DEFAULT 1,
  status           TEXT NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'sending', 'sent', 'failed',
                                     'expired', 'unknown', 'superseded')),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at  INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  lease_owner      TEXT,
  gateway_ref      TEXT,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  sent_at          INTEGER,
  CHECK (code_offset + code_length <= length(CAST(text AS BLOB))),
  CHECK (sealed_code IS NULL OR status IN ('queued', 'sending'))
);
INSERT INTO outbox_004 (id, otp_id, account_id, destination, text,
  code_offset, code_length, status, attempts, next_attempt_at, expires_at,
  lease_owner, gateway_ref, last_error, created_at, updated_at, sent_at)
  SELECT id, otp_id, account_id, destination,
    CAST(substr(CAST(text AS BLOB), 1, code_offset)
      || replace(hex(zeroblob(code_length)), '00', '*')
      || substr(CAST(text AS BLOB), code_offset + code_length + 1) AS TEXT),
    code_offset, code_length, status, attempts, next_attempt_at, expires_at,
    lease_owner, gateway_ref, last_error, created_at, updated_at, sent_at
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_004 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX outbox_otp ON outbox (otp_id);

-- The audit views, as in version 2, with the send's id; the text is
-- masked in the table itself now.
CREATE VIEW audit_outbox AS
SELECT o.id                                             AS id,
       o.account_id                                     AS account,
       '+' || substr('***************', 1, length(o.destination) - 5)
         || substr(o.destination, -4)                   AS destination,
       o.text                                           AS text,
       o.status                                         AS status,
       o.attempts                                       AS attempts,
       strftime('%Y-%m-%d %H:%M:%fZ', o.created_at / 1000.0, 'unixepoch') AS created,
       strftime('%Y-%m-%d %H:%M:%fZ', o.updated_at / 1000.0, 'unixepoch') AS updated,
       CASE WHEN o.sent_at IS NULL THEN NULL
            ELSE strftime('%Y-%m-%d %H:%M:%fZ', o.sent_at / 1000.0, 'unixepoch') END AS sent,
       strftime('%Y-%m-%d %H:%M:%fZ', o.expires_at / 1000.0, 'unixepoch') AS expires,
       o.gateway_ref                                    AS gateway_ref,
       o.last_error                                     AS last_error,
       t.request_id                                     AS send_otp_request_id,
       t.send_otp_id                                    AS send_otp_id
  FROM outbox AS o LEFT JOIN otps AS t ON t.id = o.otp_id;

CREATE VIEW audit_otps AS
SELECT id, request_id, send_otp_id, account_id AS account, context,
       strftime('%Y-%m-%d %H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS created,
       strftime('%Y-%m-%d %H:%M:%fZ', expires_at / 1000.0, 'unixepoch') AS expires,
       attempts,
       CASE WHEN used_at IS NULL THEN NULL
            ELSE strftime('%Y-%m-%d %H:%M:%fZ', used_at / 1000.0, 'unixepoch') END AS used,
       CASE WHEN superseded_at IS NULL THEN NULL
            ELSE strftime('%Y-%m-%d %H:%M:%fZ', superseded_at / 1000.0, 'unixepoch') END AS superseded
  FROM otps;
