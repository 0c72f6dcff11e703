-- otpgate schema, version 5: the gateway's health beside each sender's
-- heartbeat. sendOtp promises no SMS while every live sender's last
-- [sender] breaker_failures sends failed or needed a retry (the breaker is
-- open); after [sender] breaker_seconds one request goes through as a probe.
ALTER TABLE senders ADD COLUMN failures INTEGER NOT NULL DEFAULT 0; -- consecutive sends the gateway did not take
ALTER TABLE senders ADD COLUMN failed_at INTEGER NOT NULL DEFAULT 0; -- the latest of them
ALTER TABLE senders ADD COLUMN probe_at INTEGER NOT NULL DEFAULT 0;  -- when a worker last let a probe through
