-- 0005: ?search= served by indexes.  SearchFilter matches each term as
-- Django's icontains does on PostgreSQL, UPPER(field::text) LIKE UPPER(%term%),
-- so each search field gets a GIN trigram index (pg_trgm) on exactly that
-- expression: PostgreSQL then answers the LIKE from the index and rechecks
-- the candidate rows, with the same results as a scan.
--
-- pg_trgm is a trusted extension (PostgreSQL 13 and later): the owner of
-- the database, or a role with CREATE on it, may create it.  Where it cannot
-- be created, nothing fails: search keeps scanning the tables as before,
-- `ecoatlas migrate` says why at every run (it calls
-- ecoatlas_search_indexes() after the migrations) and `ecoatlas check
-- --deploy` reports it.  Once a superuser has run CREATE EXTENSION pg_trgm
-- in the database, the next `ecoatlas migrate` builds the indexes.

-- The index for each search field: name, table, indexed expression (the
-- expression lib/ea_sql_list.c puts inside UPPER(...)).
CREATE OR REPLACE FUNCTION ecoatlas_search_index_specs(
    OUT index_name text, OUT table_name text, OUT expr text)
RETURNS SETOF record LANGUAGE sql IMMUTABLE AS $$
    VALUES ('ecoatlas_country_name_trgm',          'core_country',        'name::text'),
           ('ecoatlas_region_name_trgm',           'core_region',         'name::text'),
           ('ecoatlas_dataset_name_trgm',          'core_energydataset',  'name::text'),
           ('ecoatlas_dataset_source_trgm',        'core_energydataset',  'source::text'),
           ('ecoatlas_hydrosite_name_trgm',        'core_hydrosite',      'name::text'),
           ('ecoatlas_hydrosite_notes_trgm',       'core_hydrosite',      'notes::text'),
           ('ecoatlas_hydrosite_properties_trgm',  'core_hydrosite',      'properties::text'),
           ('ecoatlas_resourcemetric_metric_trgm', 'core_resourcemetric', 'metric::text'),
           ('ecoatlas_climateseries_variable_trgm','core_climateseries',  'variable::text')
$$;

-- Names of the search indexes that do not exist (none when search is
-- served by indexes).  Reads the catalog only.
CREATE OR REPLACE FUNCTION ecoatlas_search_missing() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT s.index_name FROM ecoatlas_search_index_specs() s
    WHERE to_regclass(quote_ident(s.index_name)) IS NULL
$$;

-- Create pg_trgm if it is missing and may be created, then every missing
-- search index.  Returns NULL when all of them exist, else why not.
CREATE OR REPLACE FUNCTION ecoatlas_search_indexes() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ops text;
    s record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ecoatlas_search_missing()) THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RETURN format('the PostgreSQL extension pg_trgm cannot be created (%s)', SQLERRM);
        END;
    END IF;
    -- the operator class, wherever the extension was installed
    SELECT format('%I.gin_trgm_ops', n.nspname) INTO ops
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    -- as generate-sample does for its index builds (this transaction only)
    IF pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('256MB') THEN
        PERFORM set_config('maintenance_work_mem', '256MB', true);
    END IF;
    FOR s IN SELECT * FROM ecoatlas_search_index_specs() LOOP
        IF to_regclass(quote_ident(s.index_name)) IS NULL THEN
            EXECUTE format('CREATE INDEX %I ON %I USING gin (upper(%s) %s)',
                           s.index_name, s.table_name, s.expr, ops);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

SELECT ecoatlas_search_indexes();
