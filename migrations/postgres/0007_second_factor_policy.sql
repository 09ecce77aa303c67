-- The second-factor policy (docs/security.md#second-factor-policy): a structure may require a
-- second factor of every account in it and below it; an account records the deadline it was
-- given to enrol when the rule first applied to it (the grace period), cleared once enrolled.
ALTER TABLE structures ADD COLUMN second_factor_required BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN second_factor_due BIGINT;
