-- Directory scale (issues 3 and 6): an indexed substring search and maintained role counts, so
-- the lists, the search and the APPLICATIONS tab stay fast at 100 000 accounts.

-- What the search matches: names, e-mail, service and job title, lower-cased and without
-- accents ("emi" finds "Émilie"). Computed by the application on every write
-- (directory::search::search_text); NULL until then (the gateway fills it at start-up, see
-- Directory::migrate).
ALTER TABLE users ADD COLUMN search_text TEXT;

-- pg_trgm makes `LIKE '%mar%'` an index lookup. It is a trusted extension (PostgreSQL 13+):
-- the database owner may create it. It goes to `public` so that a deployment (or a test) that
-- uses another schema and later drops it does not drop the extension of the whole database.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX users_search_trgm ON users USING gin (search_text public.gin_trgm_ops);

-- Role assignments per (role, structure of the account), kept by triggers: the member count of
-- a role inside a viewer's scope is a sum over the structures of that scope instead of a join
-- over every assignment. It counts assignments, like the members list (an account holding a
-- role on behalf of two structures is two lines).
CREATE TABLE role_member_counts (
    role_id BIGINT NOT NULL REFERENCES app_roles(id) ON DELETE CASCADE,
    structure_id BIGINT NOT NULL REFERENCES structures(id) ON DELETE CASCADE,
    members BIGINT NOT NULL,
    PRIMARY KEY (role_id, structure_id)
);
CREATE INDEX role_member_counts_structure ON role_member_counts(structure_id);

-- A removal only ever updates: when a role is deleted, its counts may already be gone (cascade)
-- and must not come back.
CREATE FUNCTION role_counts_add(p_role BIGINT, p_user BIGINT, p_delta BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_delta < 0 THEN
        UPDATE role_member_counts SET members = members + p_delta
        WHERE role_id = p_role
          AND structure_id = (SELECT u.structure_id FROM users u WHERE u.id = p_user);
    ELSE
        INSERT INTO role_member_counts (role_id, structure_id, members)
        SELECT p_role, u.structure_id, p_delta FROM users u WHERE u.id = p_user
        ON CONFLICT (role_id, structure_id) DO UPDATE
        SET members = role_member_counts.members + EXCLUDED.members;
    END IF;
END;
$$;

CREATE FUNCTION role_counts_assignment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM role_counts_add(OLD.role_id, OLD.user_id, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM role_counts_add(NEW.role_id, NEW.user_id, 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER role_counts_assignment AFTER INSERT OR DELETE OR UPDATE OF role_id, user_id
ON role_assignments FOR EACH ROW EXECUTE FUNCTION role_counts_assignment();

-- A cascade runs after the account row is gone, when its structure can no longer be read:
-- remove the assignments first, while it still can.
CREATE FUNCTION role_counts_user_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM role_assignments WHERE user_id = OLD.id;
    RETURN OLD;
END;
$$;
CREATE TRIGGER role_counts_user_delete BEFORE DELETE ON users
FOR EACH ROW EXECUTE FUNCTION role_counts_user_delete();

CREATE FUNCTION role_counts_user_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE role_member_counts c
    SET members = c.members - m.n
    FROM (SELECT role_id, COUNT(*) AS n FROM role_assignments WHERE user_id = NEW.id
          GROUP BY role_id) m
    WHERE c.role_id = m.role_id AND c.structure_id = OLD.structure_id;
    INSERT INTO role_member_counts (role_id, structure_id, members)
    SELECT role_id, NEW.structure_id, COUNT(*) FROM role_assignments WHERE user_id = NEW.id
    GROUP BY role_id
    ON CONFLICT (role_id, structure_id) DO UPDATE
    SET members = role_member_counts.members + EXCLUDED.members;
    RETURN NULL;
END;
$$;
CREATE TRIGGER role_counts_user_move AFTER UPDATE OF structure_id ON users
FOR EACH ROW WHEN (OLD.structure_id <> NEW.structure_id)
EXECUTE FUNCTION role_counts_user_move();

INSERT INTO role_member_counts (role_id, structure_id, members)
SELECT ra.role_id, u.structure_id, COUNT(*) FROM role_assignments ra JOIN users u ON u.id = ra.user_id
GROUP BY ra.role_id, u.structure_id;

-- Pages of a long list read their ids from this index alone (an index-only scan) before
-- reading the rows: a deep page skips index entries, not table rows.
CREATE INDEX users_name_id ON users(last_name, first_name, id);
DROP INDEX users_last_name;
