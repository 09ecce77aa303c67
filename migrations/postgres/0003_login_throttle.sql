-- Failed-login bookkeeping per e-mail (SPEC 5: growing delay per account), shared by every
-- instance. The key is a SHA-256 of the normalised e-mail, so unknown addresses are throttled
-- exactly like known ones and no address is stored in clear. Instants are in milliseconds.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);

-- Daily jobs (expiry reminders): the instance that moves `last_day` forward runs the job, so
-- several instances never send the same reminder twice.
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY,
    last_day TEXT NOT NULL
);
