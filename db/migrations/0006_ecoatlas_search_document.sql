-- 0006: one search document per hydro site.  SearchFilter tests each term
-- on name, notes and properties (Django's icontains on each:
-- UPPER(field::text) LIKE UPPER('%term%')).  With one trigram index per
-- field (0005), a term is three index scans ORed, and every candidate row
-- is rechecked by upper-casing its whole properties JSON again; a common
-- term pays that for each of its matching rows.
--
-- ecoatlas_search keeps the three upper-cased fields, joined by a line feed,
-- computed by PostgreSQL whenever a row is written (a stored generated
-- column: no trigger, and every writer, the Django application included,
-- keeps it right without knowing of it).  A search term never contains a
-- line feed (SearchFilter splits the value at whitespace), so it is a
-- substring of the document exactly when it is a substring of one of the
-- fields: lib/ea_sql_list.c tests the document instead of the three fields,
-- with the same answers (t/14_search_exact.t compares them), through one
-- trigram index and a recheck that reads one stored text.
--
-- Adding the column rewrites core_hydrosite (about a minute for 1,000,000
-- sites; writes wait meanwhile).  Django's models do not name the column:
-- its queries list their columns, and INSERTs leave a generated column to
-- PostgreSQL.

-- PostgreSQL refuses to change the type of a column that a generated column
-- reads: before a Django migration alters name, notes or properties, the
-- operator drops ecoatlas_search (docs/operations.md), and the next
-- `ecoatlas migrate` adds it back, through this function, which
-- ecoatlas_search_indexes() calls when an index is missing.  The catalog is
-- read first, so that an existing column costs no lock on the table.
CREATE OR REPLACE FUNCTION ecoatlas_search_document() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'core_hydrosite'::regclass AND attname = 'ecoatlas_search'
                     AND NOT attisdropped) THEN
        ALTER TABLE core_hydrosite ADD COLUMN ecoatlas_search text
            GENERATED ALWAYS AS (upper(name::text) || E'\n' || upper(notes::text) || E'\n'
                                 || upper(properties::text)) STORED;
    END IF;
END
$$;

SELECT ecoatlas_search_document();

-- The index for each search field: name, table, indexed expression (the
-- expression lib/ea_sql_list.c tests).  The three indexes of core_hydrosite
-- of 0005 give way to one on the document.
CREATE OR REPLACE FUNCTION ecoatlas_search_index_specs(
    OUT index_name text, OUT table_name text, OUT expr text)
RETURNS SETOF record LANGUAGE sql IMMUTABLE AS $$
    VALUES ('ecoatlas_country_name_trgm',          'core_country',        'upper(name::text)'),
           ('ecoatlas_region_name_trgm',           'core_region',         'upper(name::text)'),
           ('ecoatlas_dataset_name_trgm',          'core_energydataset',  'upper(name::text)'),
           ('ecoatlas_dataset_source_trgm',        'core_energydataset',  'upper(source::text)'),
           ('ecoatlas_hydrosite_search_trgm',      'core_hydrosite',      'ecoatlas_search'),
           ('ecoatlas_resourcemetric_metric_trgm', 'core_resourcemetric', 'upper(metric::text)'),
           ('ecoatlas_climateseries_variable_trgm','core_climateseries',  'upper(variable::text)')
$$;

DROP INDEX IF EXISTS ecoatlas_hydrosite_name_trgm;
DROP INDEX IF EXISTS ecoatlas_hydrosite_notes_trgm;
DROP INDEX IF EXISTS ecoatlas_hydrosite_properties_trgm;

-- As in 0005, with each expression taken whole from the specs.
CREATE OR REPLACE FUNCTION ecoatlas_search_indexes() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ops text;
    s record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ecoatlas_search_missing()) THEN
        RETURN NULL;
    END IF;
    -- the document first: it was dropped if its index is missing
    PERFORM ecoatlas_search_document();
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RETURN format('the PostgreSQL extension pg_trgm cannot be created (%s)', SQLERRM);
        END;
    END IF;
    SELECT format('%I.gin_trgm_ops', n.nspname) INTO ops
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('256MB') THEN
        PERFORM set_config('maintenance_work_mem', '256MB', true);
    END IF;
    FOR s IN SELECT * FROM ecoatlas_search_index_specs() LOOP
        IF to_regclass(quote_ident(s.index_name)) IS NULL THEN
            EXECUTE format('CREATE INDEX %I ON %I USING gin ((%s) %s)',
                           s.index_name, s.table_name, s.expr, ops);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

SELECT ecoatlas_search_indexes();
