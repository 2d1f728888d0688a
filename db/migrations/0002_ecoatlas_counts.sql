-- 0002: mod_ecoatlas's own objects on top of the core schema (applied on
-- Django-created databases too): indexes for the read queries, and row
-- counts kept exact by statement-level triggers so that paginated lists
-- never count a large table per request.

-- Lock the counted tables while the counts are initialised, so no write
-- slips in between the first count and the triggers.
LOCK TABLE core_country, core_region, core_energydataset, core_hydrosite,
           core_resourcemetric, core_climateseries IN SHARE ROW EXCLUSIVE MODE;

-- ---- indexes for default orderings, filters and the `ordering` fields ----
CREATE INDEX IF NOT EXISTS ecoatlas_hydrosite_name ON core_hydrosite (name, id);
CREATE INDEX IF NOT EXISTS ecoatlas_hydrosite_country_name ON core_hydrosite (country_id, name, id);
CREATE INDEX IF NOT EXISTS ecoatlas_hydrosite_country_storage ON core_hydrosite (country_id, storage_capacity_mwh DESC, id DESC);
CREATE INDEX IF NOT EXISTS ecoatlas_hydrosite_head ON core_hydrosite (head_m, id);
CREATE INDEX IF NOT EXISTS ecoatlas_hydrosite_storage ON core_hydrosite (storage_capacity_mwh, id);
CREATE INDEX IF NOT EXISTS ecoatlas_hydrosite_turbine ON core_hydrosite (turbine_capacity_mw, id);
CREATE INDEX IF NOT EXISTS ecoatlas_hydrosite_status ON core_hydrosite (status);
CREATE INDEX IF NOT EXISTS ecoatlas_resourcemetric_created ON core_resourcemetric (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS ecoatlas_resourcemetric_value ON core_resourcemetric (value, id);
CREATE INDEX IF NOT EXISTS ecoatlas_resourcemetric_year ON core_resourcemetric (year, id);
CREATE INDEX IF NOT EXISTS ecoatlas_resourcemetric_type ON core_resourcemetric (resource_type, year);
CREATE INDEX IF NOT EXISTS ecoatlas_climateseries_created ON core_climateseries (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS ecoatlas_climateseries_variable ON core_climateseries (variable);
CREATE INDEX IF NOT EXISTS ecoatlas_region_name ON core_region (name);
CREATE INDEX IF NOT EXISTS ecoatlas_country_iso3_upper ON core_country (upper(iso3));
CREATE INDEX IF NOT EXISTS ecoatlas_country_population ON core_country (population, id);
CREATE INDEX IF NOT EXISTS ecoatlas_country_created ON core_country (created_at, id);
CREATE INDEX IF NOT EXISTS ecoatlas_dataset_created ON core_energydataset (created_at, id);

-- ---- exact row counts ------------------------------------------------------
CREATE TABLE ecoatlas_rowcount (
    tbl text PRIMARY KEY,
    n bigint NOT NULL
);

-- Hydro sites per filterable group, with the sums the summaries need:
-- 0 stands for NULL in region_id/dataset_id (ids start at 1), so the
-- primary key can serve ON CONFLICT.
CREATE TABLE ecoatlas_hydrosite_count (
    country_id bigint NOT NULL,
    region_id bigint NOT NULL,
    dataset_id bigint NOT NULL,
    status varchar(32) NOT NULL,
    n bigint NOT NULL,
    storage numeric NOT NULL,
    turbine numeric NOT NULL,
    PRIMARY KEY (country_id, region_id, dataset_id, status)
);

-- Resource metrics per filterable group: year -1 stands for NULL.
CREATE TABLE ecoatlas_resourcemetric_count (
    country_id bigint NOT NULL,
    resource_type varchar(16) NOT NULL,
    year bigint NOT NULL,
    n bigint NOT NULL,
    total numeric NOT NULL,
    PRIMARY KEY (country_id, resource_type, year)
);
CREATE INDEX ecoatlas_resourcemetric_count_type ON ecoatlas_resourcemetric_count (resource_type, year);

CREATE FUNCTION ecoatlas_rowcount_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ecoatlas_rowcount SET n = n + (SELECT count(*) FROM newrows) WHERE tbl = TG_TABLE_NAME;
    RETURN NULL;
END $$;

CREATE FUNCTION ecoatlas_rowcount_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ecoatlas_rowcount SET n = n - (SELECT count(*) FROM oldrows) WHERE tbl = TG_TABLE_NAME;
    RETURN NULL;
END $$;

CREATE FUNCTION ecoatlas_rowcount_trunc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ecoatlas_rowcount SET n = 0 WHERE tbl = TG_TABLE_NAME;
    IF TG_TABLE_NAME = 'core_hydrosite' THEN DELETE FROM ecoatlas_hydrosite_count; END IF;
    IF TG_TABLE_NAME = 'core_resourcemetric' THEN DELETE FROM ecoatlas_resourcemetric_count; END IF;
    RETURN NULL;
END $$;

-- Group maintenance: add the groups of the new rows, subtract those of the
-- old rows (an UPDATE does both), then drop empty groups.
CREATE FUNCTION ecoatlas_hydrosite_groups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO ecoatlas_hydrosite_count AS c (country_id, region_id, dataset_id, status, n, storage, turbine)
            SELECT country_id, coalesce(region_id, 0), coalesce(dataset_id, 0), status, -count(*),
                   -coalesce(sum(storage_capacity_mwh), 0), -coalesce(sum(turbine_capacity_mw), 0)
            FROM oldrows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (country_id, region_id, dataset_id, status) DO UPDATE
            SET n = c.n + excluded.n, storage = c.storage + excluded.storage, turbine = c.turbine + excluded.turbine;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO ecoatlas_hydrosite_count AS c (country_id, region_id, dataset_id, status, n, storage, turbine)
            SELECT country_id, coalesce(region_id, 0), coalesce(dataset_id, 0), status, count(*),
                   coalesce(sum(storage_capacity_mwh), 0), coalesce(sum(turbine_capacity_mw), 0)
            FROM newrows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (country_id, region_id, dataset_id, status) DO UPDATE
            SET n = c.n + excluded.n, storage = c.storage + excluded.storage, turbine = c.turbine + excluded.turbine;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM ecoatlas_hydrosite_count WHERE n <= 0;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION ecoatlas_resourcemetric_groups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO ecoatlas_resourcemetric_count AS c (country_id, resource_type, year, n, total)
            SELECT country_id, resource_type, coalesce(year, -1), -count(*), -sum(value)
            FROM oldrows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (country_id, resource_type, year) DO UPDATE
            SET n = c.n + excluded.n, total = c.total + excluded.total;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO ecoatlas_resourcemetric_count AS c (country_id, resource_type, year, n, total)
            SELECT country_id, resource_type, coalesce(year, -1), count(*), sum(value)
            FROM newrows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (country_id, resource_type, year) DO UPDATE
            SET n = c.n + excluded.n, total = c.total + excluded.total;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM ecoatlas_resourcemetric_count WHERE n <= 0;
    END IF;
    RETURN NULL;
END $$;

-- Rebuild every count from the tables (after bulk loads with triggers off,
-- or to repair): SELECT ecoatlas_recount();
CREATE FUNCTION ecoatlas_recount() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['core_country', 'core_region', 'core_energydataset',
                             'core_hydrosite', 'core_resourcemetric', 'core_climateseries'] LOOP
        EXECUTE format('INSERT INTO ecoatlas_rowcount (tbl, n) SELECT %L, count(*) FROM %I
                        ON CONFLICT (tbl) DO UPDATE SET n = excluded.n', t, t);
    END LOOP;
    DELETE FROM ecoatlas_hydrosite_count;
    INSERT INTO ecoatlas_hydrosite_count (country_id, region_id, dataset_id, status, n, storage, turbine)
        SELECT country_id, coalesce(region_id, 0), coalesce(dataset_id, 0), status, count(*),
               coalesce(sum(storage_capacity_mwh), 0), coalesce(sum(turbine_capacity_mw), 0)
        FROM core_hydrosite GROUP BY 1, 2, 3, 4;
    DELETE FROM ecoatlas_resourcemetric_count;
    INSERT INTO ecoatlas_resourcemetric_count (country_id, resource_type, year, n, total)
        SELECT country_id, resource_type, coalesce(year, -1), count(*), sum(value)
        FROM core_resourcemetric GROUP BY 1, 2, 3;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['core_country', 'core_region', 'core_energydataset',
                             'core_hydrosite', 'core_resourcemetric', 'core_climateseries'] LOOP
        EXECUTE format('CREATE TRIGGER ecoatlas_rowcount_ins AFTER INSERT ON %I
                        REFERENCING NEW TABLE AS newrows FOR EACH STATEMENT
                        EXECUTE FUNCTION ecoatlas_rowcount_ins()', t);
        EXECUTE format('CREATE TRIGGER ecoatlas_rowcount_del AFTER DELETE ON %I
                        REFERENCING OLD TABLE AS oldrows FOR EACH STATEMENT
                        EXECUTE FUNCTION ecoatlas_rowcount_del()', t);
        EXECUTE format('CREATE TRIGGER ecoatlas_rowcount_trunc AFTER TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_rowcount_trunc()', t);
    END LOOP;
END $$;

CREATE TRIGGER ecoatlas_groups_ins AFTER INSERT ON core_hydrosite
    REFERENCING NEW TABLE AS newrows FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_hydrosite_groups();
CREATE TRIGGER ecoatlas_groups_del AFTER DELETE ON core_hydrosite
    REFERENCING OLD TABLE AS oldrows FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_hydrosite_groups();
CREATE TRIGGER ecoatlas_groups_upd AFTER UPDATE ON core_hydrosite
    REFERENCING OLD TABLE AS oldrows NEW TABLE AS newrows FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_hydrosite_groups();
CREATE TRIGGER ecoatlas_groups_ins AFTER INSERT ON core_resourcemetric
    REFERENCING NEW TABLE AS newrows FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_resourcemetric_groups();
CREATE TRIGGER ecoatlas_groups_del AFTER DELETE ON core_resourcemetric
    REFERENCING OLD TABLE AS oldrows FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_resourcemetric_groups();
CREATE TRIGGER ecoatlas_groups_upd AFTER UPDATE ON core_resourcemetric
    REFERENCING OLD TABLE AS oldrows NEW TABLE AS newrows FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_resourcemetric_groups();

SELECT ecoatlas_recount();
