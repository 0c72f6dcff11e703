-- otpgate schema, version 3: deleting an expired OTP sets outbox.otp_id to
-- NULL in its SMS rows; without this index each delete scans the outbox.
CREATE INDEX outbox_otp ON outbox (otp_id);
