-- 0001: the tables of the Django EcoPowerAtlas application (core 0001 + 0002,
-- auth_user, authtoken_token), as Django creates them on PostgreSQL.
-- Skipped by `ecoatlas migrate` on a database the Django application created.

CREATE TABLE IF NOT EXISTS auth_user (
    id serial PRIMARY KEY,
    password varchar(128) NOT NULL,
    last_login timestamptz NULL,
    is_superuser boolean NOT NULL,
    username varchar(150) NOT NULL UNIQUE,
    first_name varchar(150) NOT NULL,
    last_name varchar(150) NOT NULL,
    email varchar(254) NOT NULL,
    is_staff boolean NOT NULL,
    is_active boolean NOT NULL,
    date_joined timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS authtoken_token (
    key varchar(40) PRIMARY KEY,
    created timestamptz NOT NULL,
    user_id integer NOT NULL UNIQUE
        REFERENCES auth_user(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE core_country (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    name varchar(128) NOT NULL UNIQUE,
    iso2 varchar(2) NOT NULL UNIQUE,
    iso3 varchar(3) NOT NULL UNIQUE,
    population bigint NULL,
    boundary jsonb NULL
);

CREATE TABLE core_energydataset (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    name varchar(128) NOT NULL UNIQUE,
    dataset_type varchar(24) NOT NULL,
    source varchar(256) NOT NULL,
    description text NOT NULL,
    file_name varchar(256) NOT NULL,
    file_checksum varchar(128) NOT NULL,
    metadata jsonb NOT NULL
);

CREATE TABLE core_region (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    name varchar(128) NOT NULL,
    level varchar(64) NOT NULL,
    boundary jsonb NULL,
    country_id bigint NOT NULL
        REFERENCES core_country(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT core_region_country_id_name_uniq UNIQUE (country_id, name)
);

CREATE TABLE core_resourcemetric (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    resource_type varchar(16) NOT NULL,
    metric varchar(64) NOT NULL,
    value numeric(14,4) NOT NULL,
    unit varchar(32) NOT NULL,
    year integer NULL CHECK (year >= 0),
    country_id bigint NOT NULL
        REFERENCES core_country(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    dataset_id bigint NOT NULL
        REFERENCES core_energydataset(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    region_id bigint NULL
        REFERENCES core_region(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT unique_metric_per_scope UNIQUE (dataset_id, country_id, resource_type, metric, year)
);

CREATE TABLE core_hydrosite (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    name varchar(128) NOT NULL,
    latitude numeric(9,6) NULL,
    longitude numeric(9,6) NULL,
    elevation_m numeric(7,2) NULL,
    head_m numeric(6,2) NULL,
    storage_capacity_mwh numeric(10,2) NULL,
    turbine_capacity_mw numeric(9,2) NULL,
    status varchar(32) NOT NULL,
    notes text NOT NULL,
    properties jsonb NOT NULL,
    -- PROTECT: deleting a country that still has sites is refused
    country_id bigint NOT NULL
        REFERENCES core_country(id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
    dataset_id bigint NULL
        REFERENCES core_energydataset(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    region_id bigint NULL
        REFERENCES core_region(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT unique_site_per_country UNIQUE (country_id, name)
);

CREATE TABLE core_climateseries (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    variable varchar(64) NOT NULL,
    unit varchar(32) NOT NULL,
    statistics jsonb NOT NULL,
    series jsonb NOT NULL,
    country_id bigint NOT NULL
        REFERENCES core_country(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    dataset_id bigint NOT NULL
        REFERENCES core_energydataset(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    region_id bigint NULL
        REFERENCES core_region(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    site_id bigint NULL
        REFERENCES core_hydrosite(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT unique_climate_series UNIQUE (dataset_id, country_id, region_id, site_id, variable)
);

CREATE TABLE core_reportattachment (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    name varchar(128) NOT NULL,
    document varchar(100) NULL,
    data varchar(100) NULL,
    description text NOT NULL,
    is_public boolean NOT NULL,
    site_id bigint NULL
        REFERENCES core_hydrosite(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

-- Django gives every ForeignKey a plain index.
CREATE INDEX core_region_country_id_idx ON core_region (country_id);
CREATE INDEX core_resourcemetric_country_id_idx ON core_resourcemetric (country_id);
CREATE INDEX core_resourcemetric_dataset_id_idx ON core_resourcemetric (dataset_id);
CREATE INDEX core_resourcemetric_region_id_idx ON core_resourcemetric (region_id);
CREATE INDEX core_hydrosite_country_id_idx ON core_hydrosite (country_id);
CREATE INDEX core_hydrosite_dataset_id_idx ON core_hydrosite (dataset_id);
CREATE INDEX core_hydrosite_region_id_idx ON core_hydrosite (region_id);
CREATE INDEX core_climateseries_country_id_idx ON core_climateseries (country_id);
CREATE INDEX core_climateseries_dataset_id_idx ON core_climateseries (dataset_id);
CREATE INDEX core_climateseries_region_id_idx ON core_climateseries (region_id);
CREATE INDEX core_climateseries_site_id_idx ON core_climateseries (site_id);
CREATE INDEX core_reportattachment_site_id_idx ON core_reportattachment (site_id);
