-- Whole domain of SPEC section 2. Portable types only (sqlx Any driver): INTEGER for booleans
-- (0/1) and timestamps (Unix seconds), TEXT for dates (YYYY-MM-DD, compared as strings).

CREATE TABLE structures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER REFERENCES structures(id) ON DELETE RESTRICT,
    -- Materialised path of ids ("/1/7/"), so a subtree is one range scan.
    path TEXT NOT NULL DEFAULT '',
    short_name TEXT NOT NULL,
    long_name TEXT NOT NULL DEFAULT '',
    postal_address TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX structures_parent ON structures(parent_id);
CREATE INDEX structures_path ON structures(path);

-- Allowed e-mail domains; a structure without rows inherits its parent's.
CREATE TABLE structure_domains (
    structure_id INTEGER NOT NULL REFERENCES structures(id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    PRIMARY KEY (structure_id, domain)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    last_name TEXT NOT NULL,
    first_name TEXT NOT NULL,
    structure_id INTEGER NOT NULL REFERENCES structures(id) ON DELETE RESTRICT,
    job_title TEXT NOT NULL DEFAULT '',
    service TEXT NOT NULL DEFAULT '',
    postal_address TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    app_identifier TEXT NOT NULL DEFAULT '',
    telework INTEGER NOT NULL DEFAULT 0,
    valid_from TEXT,
    valid_until TEXT,
    locked INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    platform_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_login_at INTEGER,
    password_changed_at INTEGER,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX users_structure ON users(structure_id);
CREATE INDEX users_last_name ON users(last_name, first_name);

CREATE TABLE user_photos (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE referents (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    structure_id INTEGER NOT NULL REFERENCES structures(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, structure_id)
);
CREATE INDEX referents_structure ON referents(structure_id);

-- Mirrored from the [[apps]] of the configuration at start-up.
CREATE TABLE applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE app_roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id INTEGER NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE role_assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES app_roles(id) ON DELETE CASCADE,
    -- Structure on whose behalf the role is held (multi-establishment users).
    structure_id INTEGER NOT NULL REFERENCES structures(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    UNIQUE (user_id, role_id, structure_id)
);
CREATE INDEX role_assignments_role ON role_assignments(role_id);

-- First-visit and password-reset links; only the SHA-256 of the token is kept.
CREATE TABLE one_time_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor_id INTEGER,
    actor TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    structure_id INTEGER,
    client_ip TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_structure ON audit_events(structure_id, at);
