-- Accounts linked to an identity at an external OpenID Connect provider
-- (docs/identity-providers.md#account-linking): the identity is the issuer and its `sub`; an
-- account has at most one identity per provider, and an identity belongs to one account.
CREATE TABLE identity_links (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    provider TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The e-mail the provider asserted when the link was made, for référents to read.
    email TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_login_at INTEGER,
    PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX identity_links_user_provider ON identity_links (user_id, provider);
