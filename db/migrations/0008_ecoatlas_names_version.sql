-- 0008: a version of the names of countries and regions, raised by every
-- statement that writes core_country or core_region, in its transaction.
--
-- A list page of hydro sites or resource metrics shows each row's country
-- and region name.  Joining the two tables for every page costs PostgreSQL
-- about a third of the page (bench/RESULTS.md, "What PostgreSQL alone
-- allows").  Instead, mod_ecoatlas keeps the names of this small pair of
-- tables in each process with the version they were read at, and a page
-- reads the version in the same statement (the same snapshot) as its
-- rows: the kept names are used only when they are the names of that very
-- snapshot, else they are read again, or the page is joined as before
-- (docs/operations.md, "Names of countries and regions").
--
-- The version only grows, and it is never a number seen before: it starts
-- at the current time in microseconds and each change takes the larger of
-- the next number and the current time.  So a table made again (this
-- migration applied anew) or a database restored to an earlier state and
-- changed since cannot show a version that a process kept with other names.
CREATE TABLE IF NOT EXISTS ecoatlas_names_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    v bigint NOT NULL
);
INSERT INTO ecoatlas_names_version (one, v)
VALUES (true, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) ON CONFLICT (one) DO NOTHING;

CREATE OR REPLACE FUNCTION ecoatlas_names_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ecoatlas_names_version
       SET v = greatest(v + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['core_country', 'core_region'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS ecoatlas_names ON %I', t);
        EXECUTE format('DROP TRIGGER IF EXISTS ecoatlas_names_truncate ON %I', t);
        EXECUTE format('CREATE TRIGGER ecoatlas_names AFTER INSERT OR UPDATE OR DELETE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_names_bump()', t);
        EXECUTE format('CREATE TRIGGER ecoatlas_names_truncate AFTER TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_names_bump()', t);
    END LOOP;
END $$;
