-- A structure may turn off password sign-in for the accounts in it and below it, which then
-- sign in through an identity provider (docs/identity-providers.md#password-sign-in-turned-off).
ALTER TABLE structures ADD COLUMN password_sign_in_disabled BIGINT NOT NULL DEFAULT 0;
