-- Directory scale (issues 3 and 6): an indexed substring search and maintained role counts, so
-- the lists, the search and the APPLICATIONS tab stay fast at 100 000 accounts.

-- What the search matches: names, e-mail, service and job title, lower-cased and without
-- accents ("emi" finds "Émilie"). Computed by the application on every write
-- (directory::search::search_text), because neither SQLite nor a portable SQL expression folds
-- accents; NULL until then (the gateway fills it at start-up, see Directory::migrate).
ALTER TABLE users ADD COLUMN search_text TEXT;

-- SQLite indexes substrings with an FTS5 trigram table: the phrase query
-- `user_search MATCH '"mar"'` finds the accounts whose text contains "mar" from the index
-- alone (PostgreSQL uses a pg_trgm index on the column instead; see directory/search.rs).
CREATE VIRTUAL TABLE user_search USING fts5(search_text, user_id UNINDEXED, tokenize = 'trigram');

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_search (rowid, search_text, user_id) VALUES (NEW.id, NEW.search_text, NEW.id);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF search_text ON users BEGIN
    DELETE FROM user_search WHERE rowid = OLD.id;
    INSERT INTO user_search (rowid, search_text, user_id) VALUES (NEW.id, NEW.search_text, NEW.id);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM user_search WHERE rowid = OLD.id;
END;
INSERT INTO user_search (rowid, search_text, user_id) SELECT id, search_text, id FROM users;

-- Role assignments per (role, structure of the account), kept by triggers: the member count of
-- a role inside a viewer's scope is a sum over the structures of that scope instead of a join
-- over every assignment. It counts assignments, like the members list (an account holding a
-- role on behalf of two structures is two lines).
CREATE TABLE role_member_counts (
    role_id INTEGER NOT NULL REFERENCES app_roles(id) ON DELETE CASCADE,
    structure_id INTEGER NOT NULL REFERENCES structures(id) ON DELETE CASCADE,
    members INTEGER NOT NULL,
    PRIMARY KEY (role_id, structure_id)
);
CREATE INDEX role_member_counts_structure ON role_member_counts(structure_id);

CREATE TRIGGER role_counts_insert AFTER INSERT ON role_assignments BEGIN
    INSERT INTO role_member_counts (role_id, structure_id, members)
    SELECT NEW.role_id, u.structure_id, 1 FROM users u WHERE u.id = NEW.user_id
    ON CONFLICT (role_id, structure_id) DO UPDATE SET members = members + 1;
END;
CREATE TRIGGER role_counts_delete AFTER DELETE ON role_assignments BEGIN
    UPDATE role_member_counts SET members = members - 1
    WHERE role_id = OLD.role_id
      AND structure_id = (SELECT u.structure_id FROM users u WHERE u.id = OLD.user_id);
END;
CREATE TRIGGER role_counts_update AFTER UPDATE OF role_id, user_id ON role_assignments BEGIN
    UPDATE role_member_counts SET members = members - 1
    WHERE role_id = OLD.role_id
      AND structure_id = (SELECT u.structure_id FROM users u WHERE u.id = OLD.user_id);
    INSERT INTO role_member_counts (role_id, structure_id, members)
    SELECT NEW.role_id, u.structure_id, 1 FROM users u WHERE u.id = NEW.user_id
    ON CONFLICT (role_id, structure_id) DO UPDATE SET members = members + 1;
END;
-- A cascade runs after the account row is gone, when its structure can no longer be read:
-- remove the assignments first, while it still can.
CREATE TRIGGER role_counts_user_delete BEFORE DELETE ON users BEGIN
    DELETE FROM role_assignments WHERE user_id = OLD.id;
END;
CREATE TRIGGER role_counts_user_move AFTER UPDATE OF structure_id ON users
WHEN OLD.structure_id <> NEW.structure_id BEGIN
    UPDATE role_member_counts
    SET members = members - (SELECT COUNT(*) FROM role_assignments ra
                             WHERE ra.user_id = NEW.id AND ra.role_id = role_member_counts.role_id)
    WHERE structure_id = OLD.structure_id;
    INSERT INTO role_member_counts (role_id, structure_id, members)
    SELECT ra.role_id, NEW.structure_id, COUNT(*) FROM role_assignments ra WHERE ra.user_id = NEW.id
    GROUP BY ra.role_id
    ON CONFLICT (role_id, structure_id) DO UPDATE SET members = members + excluded.members;
END;
INSERT INTO role_member_counts (role_id, structure_id, members)
SELECT ra.role_id, u.structure_id, COUNT(*) FROM role_assignments ra JOIN users u ON u.id = ra.user_id
GROUP BY ra.role_id, u.structure_id;
