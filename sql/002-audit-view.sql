-- otpgate schema, version 2: views for auditors who open the file with the
-- sqlite3 shell. No code and no full phone number appears in them.

-- One row per SMS: destination masked to its last 4 digits, the code masked
-- in the text whatever the row's state, times in readable UTC.
CREATE VIEW audit_outbox AS
SELECT o.id                                             AS id,
       o.account_id                                     AS account,
       '+' || substr('***************', 1, length(o.destination) - 5)
         || substr(o.destination, -4)                   AS destination,
       CAST(substr(CAST(o.text AS BLOB), 1, o.code_offset)
         || substr('**********', 1, o.code_length)
         || substr(CAST(o.text AS BLOB), o.code_offset + o.code_length + 1)
         AS TEXT)                                       AS text,
       o.status                                         AS status,
       o.attempts                                       AS attempts,
       strftime('%Y-%m-%d %H:%M:%fZ', o.created_at / 1000.0, 'unixepoch') AS created,
       strftime('%Y-%m-%d %H:%M:%fZ', o.updated_at / 1000.0, 'unixepoch') AS updated,
       CASE WHEN o.sent_at IS NULL THEN NULL
            ELSE strftime('%Y-%m-%d %H:%M:%fZ', o.sent_at / 1000.0, 'unixepoch') END AS sent,
       strftime('%Y-%m-%d %H:%M:%fZ', o.expires_at / 1000.0, 'unixepoch') AS expires,
       o.gateway_ref                                    AS gateway_ref,
       o.last_error                                     AS last_error,
       (SELECT request_id FROM otps WHERE otps.id = o.otp_id) AS send_otp_request_id
  FROM outbox AS o;

-- The OTP log: one row per code, never the code or its hash.
CREATE VIEW audit_otps AS
SELECT id, request_id, account_id AS account, context,
       strftime('%Y-%m-%d %H:%M:%fZ', created_at / 1000.0, 'unixepoch') AS created,
       strftime('%Y-%m-%d %H:%M:%fZ', expires_at / 1000.0, 'unixepoch') AS expires,
       attempts,
       CASE WHEN used_at IS NULL THEN NULL
            ELSE strftime('%Y-%m-%d %H:%M:%fZ', used_at / 1000.0, 'unixepoch') END AS used,
       CASE WHEN superseded_at IS NULL THEN NULL
            ELSE strftime('%Y-%m-%d %H:%M:%fZ', superseded_at / 1000.0, 'unixepoch') END AS superseded
  FROM otps;
