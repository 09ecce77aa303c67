-- Indexes for the AIA screens (issue 3): role filters and per-user role lists, membership
-- counts, journal filters and the GDPR pseudonymisation of audit rows.
CREATE INDEX IF NOT EXISTS role_assignments_user ON role_assignments(user_id);
CREATE INDEX IF NOT EXISTS role_assignments_structure ON role_assignments(structure_id);
CREATE INDEX IF NOT EXISTS referents_user ON referents(user_id);
CREATE INDEX IF NOT EXISTS users_created_by ON users(created_by);
CREATE INDEX IF NOT EXISTS users_structure_name ON users(structure_id, last_name, first_name, id);
CREATE INDEX IF NOT EXISTS audit_events_action ON audit_events(action, at);
CREATE INDEX IF NOT EXISTS audit_events_actor_id ON audit_events(actor_id);
CREATE INDEX IF NOT EXISTS audit_events_actor_lower ON audit_events(LOWER(actor));
CREATE INDEX IF NOT EXISTS audit_events_target_lower ON audit_events(LOWER(target));
CREATE INDEX IF NOT EXISTS role_assignments_created_by ON role_assignments(created_by);
