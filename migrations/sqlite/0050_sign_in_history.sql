-- Sign-in history (docs/security.md#sign-in-history): every attempt on an existing account
-- whose credentials were checked, success or failure, shown to the user on "Sécurité du compte"
-- (the last 20) and used to tell them of a sign-in from a browser not seen lately. Rows older
-- than the retention period are purged daily; an account's rows go with the account.
CREATE TABLE sign_ins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    success INTEGER NOT NULL,
    -- password, totp, recovery_code, link, passkey...
    method TEXT NOT NULL,
    -- why a failure failed: bad_password, bad_code, replayed_code, unusable
    reason TEXT NOT NULL DEFAULT '',
    client_ip TEXT NOT NULL,
    -- "Firefox 128 sur Windows 10": the description only, not the whole header.
    agent TEXT NOT NULL,
    -- SHA-256 of the browser-id cookie, hex; empty when the browser had none.
    browser_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sign_ins_user_at ON sign_ins (user_id, at);
CREATE INDEX sign_ins_at ON sign_ins (at);
