-- Second factors (docs/security.md#second-factor): one TOTP secret per account, sealed with a
-- key kept outside the database; the last accepted step, so that no code is accepted twice on
-- any instance; recovery codes, stored hashed, each usable once.
CREATE TABLE user_totp (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
