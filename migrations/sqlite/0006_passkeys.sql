-- Passkeys and security keys (WebAuthn) used as a second factor (docs/security.md#passkeys).
-- `passkey` is the credential as webauthn-rs keeps it (public key, signature counter), as JSON:
-- public material, nothing a dump can sign with. `user_handle` is the random identifier the
-- authenticators hold for the account, the same on every credential of one account.
CREATE TABLE user_passkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    user_handle TEXT NOT NULL,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX user_passkeys_user ON user_passkeys (user_id);
