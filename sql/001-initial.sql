-- otpgate schema, version 1: the tables.
-- Times are integer milliseconds since the epoch, UTC.
-- Applied by `otpgate-admin init` inside one transaction, which then sets
-- PRAGMA user_version = 1.

-- The integrator's user accounts that may receive OTPs.
CREATE TABLE accounts (
  id              TEXT PRIMARY KEY NOT NULL
                  CHECK (length(id) BETWEEN 1 AND 100),
  -- E.164: '+', then 8 to 15 digits, the first not 0. NULL: no phone on file.
  phone           TEXT
                  CHECK (phone IS NULL OR (phone GLOB '+[1-9]*'
                         AND length(phone) BETWEEN 9 AND 16
                         AND substr(phone, 2) NOT GLOB '*[^0-9]*')),
  status          TEXT NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'not_eligible', 'closed',
                                    'closed_account_taken_over', 'closed_fraud')),
  -- Consecutive failed verifications; a success resets it, a new code does not.
  verify_failures INTEGER NOT NULL DEFAULT 0 CHECK (verify_failures >= 0),
  -- sendOtp answers OTP_LIMIT_REACHED until this time (0: not locked).
  locked_until    INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
-- sendOtp by accountPhoneNumber must find exactly one account.
CREATE UNIQUE INDEX accounts_phone ON accounts (phone) WHERE phone IS NOT NULL;

-- Google's associationId -> account.
CREATE TABLE associations (
  id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 255),
  account_id  TEXT NOT NULL REFERENCES accounts (id),
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX associations_account ON associations (account_id);

-- One row per code sent. The code itself is never stored: only its keyed hash.
CREATE TABLE otps (
  id             INTEGER PRIMARY KEY,
  request_id     TEXT NOT NULL UNIQUE,         -- the sendOtp requestId
  account_id     TEXT NOT NULL REFERENCES accounts (id),
  context        TEXT NOT NULL
                 CHECK (context IN ('none', 'association', 'mandate_creation',
                                    'association_with_mandate_creation')),
  code_hash      BLOB NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  used_at        INTEGER,
  superseded_at  INTEGER
);
-- The per-account send limit counts recent codes.
CREATE INDEX otps_account_created ON otps (account_id, created_at);
CREATE INDEX otps_expires ON otps (expires_at);

-- One row per SMS. While a row is live its text holds the code; once it is
-- final (sent, failed, expired, unknown) the code is masked in the same
-- transaction, leaving an audit trail without live secrets.
CREATE TABLE outbox (
  id               INTEGER PRIMARY KEY,
  otp_id           INTEGER REFERENCES otps (id) ON DELETE SET NULL,
  account_id       TEXT NOT NULL,
  destination      TEXT NOT NULL,
  text             TEXT NOT NULL,
  -- Where the code sits in text (0-based, in bytes), so it can be masked.
  code_offset      INTEGER NOT NULL CHECK (code_offset >= 0),
  code_length      INTEGER NOT NULL CHECK (code_length >= 0),
  status           TEXT NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'sending', 'sent', 'failed',
                                     'expired', 'unknown')),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- When the row is next due. For a 'sending' row this is its lease expiry,
  -- so one index finds both queued rows and rows whose lease ran out.
  next_attempt_at  INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  lease_owner      TEXT,
  gateway_ref      TEXT,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  sent_at          INTEGER,
  CHECK (code_offset + code_length <= length(CAST(text AS BLOB)))
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);

-- Idempotency: what was answered to each requestId (only 200 answers are kept;
-- a request that got 4xx/5xx is processed afresh).
CREATE TABLE requests (
  request_id   TEXT PRIMARY KEY NOT NULL,
  method       TEXT NOT NULL,
  fingerprint  BLOB NOT NULL,   -- keyed hash of the request minus requestTimestamp
  http_status  INTEGER NOT NULL,
  answer       TEXT NOT NULL,   -- the answer's fields, without responseHeader
  created_at   INTEGER NOT NULL
);
CREATE INDEX requests_created ON requests (created_at);

-- One row per running sender; sendOtp refuses to promise an SMS when no
-- sender has been seen recently.
CREATE TABLE senders (
  owner       TEXT PRIMARY KEY NOT NULL,   -- host:pid:start
  pid         INTEGER NOT NULL,
  started_at  INTEGER NOT NULL,
  seen_at     INTEGER NOT NULL
);
