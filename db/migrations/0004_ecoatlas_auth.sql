-- 0004: named, hashed API tokens and server-side sessions (docs/decisions.md D8, D9).
-- Only SHA-256 digests of keys are stored: a leaked table does not leak
-- credentials.  Django's authtoken_token keys keep working (looked up as
-- they are).  Changes NOTIFY ecoatlas_auth so that every httpd child drops
-- what it cached about credentials at once (revocation within a second).

CREATE TABLE ecoatlas_token (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES auth_user(id) ON DELETE CASCADE,
    key_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(key_sha256) = 32),
    prefix varchar(8) NOT NULL,           -- first characters of the key, to recognise it
    name varchar(128) NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    last_used timestamptz NULL,
    expires timestamptz NULL
);
CREATE INDEX ecoatlas_token_user_id ON ecoatlas_token (user_id);
CREATE INDEX ecoatlas_token_prefix ON ecoatlas_token (prefix);

CREATE TABLE ecoatlas_session (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES auth_user(id) ON DELETE CASCADE,
    key_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(key_sha256) = 32),
    created timestamptz NOT NULL DEFAULT now(),
    expires timestamptz NOT NULL
);
CREATE INDEX ecoatlas_session_user_id ON ecoatlas_session (user_id);
CREATE INDEX ecoatlas_session_expires ON ecoatlas_session (expires);

CREATE FUNCTION ecoatlas_notify_auth() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ecoatlas_auth', '');
    RETURN NULL;
END $$;

-- Only changes that can withdraw or grant access notify (not last_used, not
-- a new session: every login would otherwise empty every child's cache).
CREATE TRIGGER ecoatlas_notify_auth AFTER INSERT OR DELETE OR UPDATE OF key_sha256, user_id, expires
    ON ecoatlas_token FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_notify_auth();
CREATE TRIGGER ecoatlas_notify_auth AFTER DELETE OR UPDATE OF key_sha256, user_id, expires
    ON ecoatlas_session FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_notify_auth();
CREATE TRIGGER ecoatlas_notify_auth AFTER INSERT OR DELETE OR UPDATE
    ON authtoken_token FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_notify_auth();
CREATE TRIGGER ecoatlas_notify_auth AFTER DELETE OR UPDATE OF username, password, is_active, is_staff, is_superuser
    ON auth_user FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_notify_auth();

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['auth_user', 'authtoken_token', 'ecoatlas_token', 'ecoatlas_session'] LOOP
        EXECUTE format('CREATE TRIGGER ecoatlas_notify_auth_truncate AFTER TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_notify_auth()', t);
    END LOOP;
END $$;
