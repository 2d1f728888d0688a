-- 0003: tell mod_ecoatlas's response caches that data changed.  NOTIFY is
-- delivered at commit (and folded to one per transaction), so a cache drops
-- its pages exactly when a change becomes visible.
CREATE FUNCTION ecoatlas_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ecoatlas_data', '');
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['core_country', 'core_region', 'core_energydataset',
                             'core_hydrosite', 'core_resourcemetric', 'core_climateseries'] LOOP
        EXECUTE format('CREATE TRIGGER ecoatlas_notify AFTER INSERT OR UPDATE OR DELETE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_notify_change()', t);
        EXECUTE format('CREATE TRIGGER ecoatlas_notify_truncate AFTER TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION ecoatlas_notify_change()', t);
    END LOOP;
END $$;
