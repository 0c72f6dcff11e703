-- otpgate schema, version 6: the operator's hand.
--  * admin_audit: one row per otpgate-admin change to accounts,
--    associations or the outbox (who, what, when), written in the same
--    transaction as the change; listed by `otpgate-admin audit`.
--  * otps: account_id no longer references accounts, as outbox.account_id
--    never did: `otpgate-admin account delete` removes an account and its
--    associations but keeps its codes' rows and their SMS rows for the
--    audit (purged by [retention] like any other).
-- store_migrate() runs this with foreign keys off and checks them before
-- committing, as SQLite's procedure for changing a table's definition asks.

CREATE TABLE admin_audit (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  who     TEXT NOT NULL,    -- the Unix user that ran otpgate-admin
  action  TEXT NOT NULL,    -- the command: 'account unlock', 'outbox cancel', ...
  target  TEXT NOT NULL,    -- what it acted on: an account, association or outbox ID
  detail  TEXT              -- what changed; never a phone number or a code
);
CREATE INDEX admin_audit_at ON admin_audit (at);

DROP VIEW audit_outbox;
DROP VIEW audit_otps;

CREATE TABLE otps_006 (
  id             INTEGER PRIMARY KEY,
  request_id     TEXT NOT NULL UNIQUE,
  account_id     TEXT NOT NULL,
  context        TEXT NOT NULL
                 CHECK (context IN ('none', 'association', 'mandate_creation',
                                    'association_with_mandate_creation')),
  code_hash      BLOB NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  used_at        INTEGER,
  superseded_at  INTEGER,
  key_id         INTEGER NOT NULL DEFAULT 1,
  send_otp_id    TEXT
);
INSERT INTO otps_006 (id, request_id, account_id, context, code_hash,
  created_at, expires_at, attempts, used_at, superseded_at, key_id,
  send_otp_id)
  SELECT id, request_id, account_id, context, code_hash, created_at,
    expires_at, attempts, used_at, superseded_at, key_id, send_otp_id
  FROM otps;
DROP TABLE otps;
ALTER TABLE otps_006 RENAME TO otps;
CREATE INDEX otps_account_created ON otps (account_id, created_at);
CREATE INDEX otps_expires ON otps (expires_at);
CREATE UNIQUE INDEX otps_send_otp_id ON otps (send_otp_id)
  WHERE send_otp_id IS NOT NULL;

-- The audit views, as in version 4.
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
