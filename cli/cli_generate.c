/* ecoatlas generate-sample: fill an empty database with realistic,
 * deterministic synthetic data (the same --seed always gives the same
 * rows), fast enough for a million hydro sites: rows are produced in C and
 * streamed with COPY, in one transaction. */
#include "cli.h"
#include "ea_buf.h"
#include "ea_import.h"

#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- reference data ------------------------------------------------------
 * The 54 African UN member states: population (approximate, 2023) and an
 * approximate bounding box of the mainland/main islands, which is where
 * the generated sites are placed.  level: what the first administrative
 * division is called there. */
typedef struct {
    const char *name, *iso2, *iso3;
    long long population;
    double lat_min, lat_max, lon_min, lon_max;
    const char *level;
} gen_country;

/* Benin first, so that the Django fixture minimal_core.json (country pk 1 =
 * Benin) loads on top of a generated data set; then alphabetical. */
static const gen_country gen_countries[] = {
    {"Benin", "BJ", "BEN", 13700000, 6.2, 12.4, 0.8, 3.8, "Department"},
    {"Algeria", "DZ", "DZA", 45600000, 19.0, 37.1, -8.7, 12.0, "Province"},
    {"Angola", "AO", "AGO", 36700000, -18.0, -4.4, 11.7, 24.1, "Province"},
    {"Botswana", "BW", "BWA", 2700000, -26.9, -17.8, 20.0, 29.4, "District"},
    {"Burkina Faso", "BF", "BFA", 22700000, 9.4, 15.1, -5.5, 2.4, "Region"},
    {"Burundi", "BI", "BDI", 13200000, -4.5, -2.3, 29.0, 30.9, "Province"},
    {"Cabo Verde", "CV", "CPV", 600000, 14.8, 17.2, -25.4, -22.7, "Municipality"},
    {"Cameroon", "CM", "CMR", 28600000, 1.7, 13.1, 8.5, 16.2, "Region"},
    {"Central African Republic", "CF", "CAF", 5700000, 2.2, 11.0, 14.4, 27.5, "Prefecture"},
    {"Chad", "TD", "TCD", 18300000, 7.4, 23.5, 13.5, 24.0, "Province"},
    {"Comoros", "KM", "COM", 850000, -12.4, -11.4, 43.2, 44.5, "Island"},
    {"Democratic Republic of the Congo", "CD", "COD", 102300000, -13.5, 5.4, 12.2, 31.3, "Province"},
    {"Republic of the Congo", "CG", "COG", 6100000, -5.0, 3.7, 11.2, 18.6, "Department"},
    {"Côte d'Ivoire", "CI", "CIV", 28900000, 4.4, 10.7, -8.6, -2.5, "District"},
    {"Djibouti", "DJ", "DJI", 1100000, 10.9, 12.7, 41.8, 43.4, "Region"},
    {"Egypt", "EG", "EGY", 112700000, 22.0, 31.7, 24.7, 36.9, "Governorate"},
    {"Equatorial Guinea", "GQ", "GNQ", 1700000, 0.9, 3.8, 8.4, 11.3, "Province"},
    {"Eritrea", "ER", "ERI", 3700000, 12.4, 18.0, 36.4, 43.1, "Region"},
    {"Eswatini", "SZ", "SWZ", 1200000, -27.3, -25.7, 30.8, 32.1, "Region"},
    {"Ethiopia", "ET", "ETH", 126500000, 3.4, 14.9, 33.0, 48.0, "Region"},
    {"Gabon", "GA", "GAB", 2400000, -3.9, 2.3, 8.7, 14.5, "Province"},
    {"Gambia", "GM", "GMB", 2800000, 13.1, 13.8, -16.8, -13.8, "Region"},
    {"Ghana", "GH", "GHA", 34100000, 4.7, 11.2, -3.3, 1.2, "Region"},
    {"Guinea", "GN", "GIN", 14200000, 7.2, 12.7, -15.1, -7.6, "Region"},
    {"Guinea-Bissau", "GW", "GNB", 2200000, 10.9, 12.7, -16.7, -13.6, "Region"},
    {"Kenya", "KE", "KEN", 55100000, -4.7, 5.0, 33.9, 41.9, "County"},
    {"Lesotho", "LS", "LSO", 2300000, -30.7, -28.6, 27.0, 29.5, "District"},
    {"Liberia", "LR", "LBR", 5400000, 4.3, 8.6, -11.5, -7.4, "County"},
    {"Libya", "LY", "LBY", 6900000, 19.5, 33.2, 9.3, 25.2, "District"},
    {"Madagascar", "MG", "MDG", 30300000, -25.6, -11.9, 43.2, 50.5, "Region"},
    {"Malawi", "MW", "MWI", 20900000, -17.1, -9.4, 32.7, 35.9, "Region"},
    {"Mali", "ML", "MLI", 23300000, 10.2, 25.0, -12.2, 4.3, "Region"},
    {"Mauritania", "MR", "MRT", 4900000, 14.7, 27.3, -17.1, -4.8, "Region"},
    {"Mauritius", "MU", "MUS", 1300000, -20.5, -19.98, 57.3, 57.8, "District"},
    {"Morocco", "MA", "MAR", 37800000, 27.7, 35.9, -13.2, -1.0, "Region"},
    {"Mozambique", "MZ", "MOZ", 33900000, -26.9, -10.5, 30.2, 40.8, "Province"},
    {"Namibia", "NA", "NAM", 2600000, -28.97, -16.96, 11.7, 25.3, "Region"},
    {"Niger", "NE", "NER", 27200000, 11.7, 23.5, 0.2, 16.0, "Region"},
    {"Nigeria", "NG", "NGA", 223800000, 4.3, 13.9, 2.7, 14.7, "State"},
    {"Rwanda", "RW", "RWA", 14100000, -2.8, -1.05, 28.9, 30.9, "Province"},
    {"São Tomé and Príncipe", "ST", "STP", 230000, 0.0, 1.7, 6.45, 7.5, "District"},
    {"Senegal", "SN", "SEN", 17800000, 12.3, 16.7, -17.5, -11.4, "Region"},
    {"Seychelles", "SC", "SYC", 100000, -4.8, -4.2, 55.2, 55.9, "District"},
    {"Sierra Leone", "SL", "SLE", 8800000, 6.9, 10.0, -13.3, -10.3, "Province"},
    {"Somalia", "SO", "SOM", 18100000, -1.7, 12.0, 41.0, 51.4, "Region"},
    {"South Africa", "ZA", "ZAF", 60400000, -34.8, -22.1, 16.5, 32.9, "Province"},
    {"South Sudan", "SS", "SSD", 11100000, 3.5, 12.2, 24.1, 35.9, "State"},
    {"Sudan", "SD", "SDN", 48100000, 8.7, 22.2, 21.8, 38.6, "State"},
    {"Tanzania", "TZ", "TZA", 67400000, -11.7, -1.0, 29.3, 40.4, "Region"},
    {"Togo", "TG", "TGO", 9100000, 6.1, 11.1, -0.15, 1.8, "Region"},
    {"Tunisia", "TN", "TUN", 12500000, 30.2, 37.5, 7.5, 11.6, "Governorate"},
    {"Uganda", "UG", "UGA", 48600000, -1.5, 4.2, 29.6, 35.0, "Region"},
    {"Zambia", "ZM", "ZMB", 20600000, -18.1, -8.2, 22.0, 33.7, "Province"},
    {"Zimbabwe", "ZW", "ZWE", 16700000, -22.4, -15.6, 25.2, 33.1, "Province"},
};
#define GEN_NCOUNTRIES ((int)(sizeof gen_countries / sizeof gen_countries[0]))

static const char *const gen_region_names[] = {
    "Northern", "Southern", "Eastern", "Western", "Central", "North-Eastern",
    "North-Western", "South-Eastern", "South-Western", "Coastal", "Highlands",
    "Lakes", "Plateau", "Upper Valley", "Lower Valley", "Capital",
};
#define GEN_NREGION_NAMES ((int)(sizeof gen_region_names / sizeof gen_region_names[0]))

/* Syllables and landforms for site names such as "Kalomba Ridge 17". */
static const char *const gen_syllables[] = {
    "ka", "lo", "mba", "ni", "to", "za", "ru", "be", "ndo", "si", "wa", "ke",
    "mu", "ra", "go", "li", "ta", "nye", "bu", "so", "ma", "di", "ye", "ko",
    "ha", "fa", "tse", "lu", "ngo", "vi", "je", "ou",
};
static const char *const gen_landforms[] = {
    "Ridge", "Gorge", "Valley", "Hills", "Falls", "Plateau", "Escarpment",
    "Highlands", "Creek", "Basin", "Pass", "Heights", "Range", "Bluff",
};
static const char *const gen_notes[] = {
    "Greenfield pair identified from a 30 m elevation model.",
    "Access road within 5 km of the upper reservoir.",
    "Upper reservoir on a plateau; lower reservoir in the river valley.",
    "Close to an existing transmission line.",
    "Seasonal river: the initial fill needs a water supply study.",
    "Protected area within 10 km; environmental screening required.",
    "Ranked in the top decile of the national shortlist.",
    "Geotechnical survey pending.",
};
static const char *const gen_reservoir_types[] = {
    "greenfield", "greenfield", "greenfield", "greenfield", "greenfield",
    "greenfield", "bluefield", "bluefield", "brownfield", "turkey_nest",
};
/* ANU atlas storage classes, GWh, with how often each occurs (percent) */
static const int gen_storage_gwh[] = {2, 5, 15, 50, 150};
static const int gen_storage_pct[] = {30, 28, 22, 13, 7};

#define GEN_N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define GEN_PI 3.14159265358979323846

/* ---- datasets -------------------------------------------------------------- */
enum { DS_PHES_2024 = 1, DS_PHES_2021, DS_SOLAR, DS_WIND, DS_HYDRO_BIO, DS_CLIMATE, DS_COUNT = DS_CLIMATE };

typedef struct {
    const char *name, *type, *source, *description, *file_name;
} gen_dataset;

static const gen_dataset gen_datasets[DS_COUNT] = {
    {"PHES Atlas 2024", "phes", "Synthetic sample (ecoatlas generate-sample)",
     "Pumped hydro energy storage sites: reservoir pairs with head, storage and power.",
     "phes_atlas_2024.csv"},
    {"PHES Atlas 2021", "phes", "Synthetic sample (ecoatlas generate-sample)",
     "Earlier release of the PHES site survey.", "phes_atlas_2021.csv"},
    {"Solar Resource 2024", "resource", "Synthetic sample (ecoatlas generate-sample)",
     "Solar irradiation and installed photovoltaic capacity by country and year.",
     "solar_resource_2024.csv"},
    {"Wind Resource 2024", "resource", "Synthetic sample (ecoatlas generate-sample)",
     "Mean wind speed at 100 m and installed wind capacity by country and year.",
     "wind_resource_2024.csv"},
    {"Hydro and Bioenergy Potential 2024", "resource", "Synthetic sample (ecoatlas generate-sample)",
     "Hydropower, biomass and other renewable potential and capacity.",
     "hydro_bioenergy_2024.csv"},
    {"Climate Normals", "climate", "Synthetic sample (ecoatlas generate-sample)",
     "Monthly rainfall and mean temperature, 2015-2024.", "climate_normals.csv"},
};

/* ---- resource metrics ------------------------------------------------------ */
typedef enum { SCALE_NONE, SCALE_POPULATION, SCALE_AREA } gen_scale;

typedef struct {
    const char *type, *metric, *unit;
    int dataset;
    double lo, hi;       /* range of the 2015 value before scaling */
    double growth;       /* yearly growth; 0 for a property of the climate */
    gen_scale scale;
} gen_metric;

static const gen_metric gen_metrics[] = {
    {"solar", "ghi_kwh_m2_day", "kWh/m2/day", DS_SOLAR, 4.5, 6.8, 0, SCALE_NONE},
    {"solar", "installed_capacity_mw", "MW", DS_SOLAR, 1, 120, 0.25, SCALE_POPULATION},
    {"wind", "mean_wind_speed_100m", "m/s", DS_WIND, 4.2, 8.8, 0, SCALE_NONE},
    {"wind", "installed_capacity_mw", "MW", DS_WIND, 0, 80, 0.18, SCALE_POPULATION},
    {"hydro", "technical_potential_gwh", "GWh/yr", DS_HYDRO_BIO, 200, 25000, 0, SCALE_AREA},
    {"hydro", "installed_capacity_mw", "MW", DS_HYDRO_BIO, 20, 1500, 0.03, SCALE_POPULATION},
    {"biomass", "residue_potential_pj", "PJ/yr", DS_HYDRO_BIO, 5, 400, 0.01, SCALE_POPULATION},
    {"biomass", "installed_capacity_mw", "MW", DS_HYDRO_BIO, 1, 60, 0.05, SCALE_POPULATION},
    {"other", "geothermal_potential_mw", "MW", DS_HYDRO_BIO, 0, 2500, 0, SCALE_NONE},
    {"other", "installed_capacity_mw", "MW", DS_HYDRO_BIO, 0, 40, 0.08, SCALE_POPULATION},
};
#define GEN_FIRST_YEAR 2015
#define GEN_YEARS 10
#define GEN_MONTHS (GEN_YEARS * 12)

/* Rows look created during 2024: 2024-01-01T00:00:00Z. */
#define GEN_EPOCH 1704067200LL
#define GEN_YEAR_SECONDS (366LL * 86400)
/* COPY data goes to the server in chunks of about this size. */
#define GEN_CHUNK (1 << 20)
#define GEN_MAX_SITES 100000000LL

/* ---- deterministic randomness ----------------------------------------------
 * splitmix64: small, fast and well mixed, which is all sample data needs.
 * Every kind of row draws from its own stream, so that, say, the regions
 * stay the same whatever the number of sites. */
typedef struct {
    uint64_t state;
} gen_rng;

static uint64_t rng_next(gen_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static gen_rng rng_stream(uint64_t seed, uint64_t stream)
{
    gen_rng r = {seed ^ (stream * 0xD1B54A32D192ED03ULL)};
    rng_next(&r);
    return r;
}

/* uniform in [0, 1) */
static double rng_unit(gen_rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform in [0, n) */
static uint32_t rng_below(gen_rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static int rng_chance(gen_rng *r, double p)
{
    return rng_unit(r) < p;
}

/* ---- COPY text-format output (lib/ea_buf.c, lib/ea_import.c's escaping) ---- */
static void buf_tab(ea_buf *b)
{
    ea_buf_putc(b, '\t');
}

static void buf_null(ea_buf *b)
{
    ea_buf_put(b, "\\N", 2);
}

static void buf_int(ea_buf *b, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    ea_buf_put(b, tmp, (size_t)n);
}

/* v / 10^decimals with exactly that many decimals, without going through
 * printf's floating point: a million rows have six numbers each. */
static void buf_fixed(ea_buf *b, long long v, int decimals)
{
    char tmp[32];
    char *end = tmp + sizeof tmp, *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    for (int i = 0; i < decimals; i++) {
        *--p = (char)('0' + u % 10);
        u /= 10;
    }
    if (decimals > 0) {
        *--p = '.';
    }
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    ea_buf_put(b, p, (size_t)(end - p));
}

static long long gen_round(double v, int decimals)
{
    static const double scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    return llround(v * scale[decimals]);
}

/* A text value with COPY's escapes; our own strings never need them, but a
 * future table entry with a tab or backslash must not corrupt the stream. */
static void buf_text(ea_buf *b, const char *s)
{
    ea_copy_text(b, s);
}

static void buf_lower(ea_buf *b, const char *s)
{
    for (; *s; s++) {
        ea_buf_putc(b, (char)tolower((unsigned char)*s));
    }
}

static void buf_2digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DD HH:MM:SS+00" */
static void buf_timestamp(ea_buf *b, long long unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[22];
    int y = tm.tm_year + 1900;
    buf_2digits(s, y / 100);
    buf_2digits(s + 2, y % 100);
    s[4] = '-';
    buf_2digits(s + 5, tm.tm_mon + 1);
    s[7] = '-';
    buf_2digits(s + 8, tm.tm_mday);
    s[10] = ' ';
    buf_2digits(s + 11, tm.tm_hour);
    s[13] = ':';
    buf_2digits(s + 14, tm.tm_min);
    s[16] = ':';
    buf_2digits(s + 17, tm.tm_sec);
    memcpy(s + 19, "+00", 3);
    ea_buf_put(b, s, 22);
}

/* created_at somewhere in 2024, updated_at the same or up to 90 days later */
static void buf_timestamps(ea_buf *b, gen_rng *r)
{
    long long created = GEN_EPOCH + (long long)(rng_unit(r) * GEN_YEAR_SECONDS);
    long long updated = rng_chance(r, 0.5) ? created : created + rng_below(r, 90 * 86400);
    buf_timestamp(b, created);
    buf_tab(b);
    buf_timestamp(b, updated);
}

/* ---- COPY stream ------------------------------------------------------------ */
typedef struct {
    cli_ctx *ctx;
    ea_buf buf;
    const char *table;
    long long rows;
} gen_copy;

static int copy_begin(gen_copy *c, const char *table, const char *columns)
{
    c->table = table;
    c->rows = 0;
    ea_buf_reset(&c->buf);
    /* FREEZE: the tables were truncated in this transaction, so the rows
     * can be written frozen and all-visible (no later VACUUM rewrite). */
    const char *sql = apr_psprintf(c->ctx->pool, "COPY %s (%s) FROM STDIN WITH (FREEZE)", table, columns);
    PGresult *res = PQexec(c->ctx->pg, sql);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok) {
        cli_err(c->ctx, "COPY into %s: %s", table, cli_chomp(c->ctx->pool, PQresultErrorMessage(res)));
    }
    PQclear(res);
    return ok ? 0 : -1;
}

static int copy_flush(gen_copy *c)
{
    return ea_copy_flush(c->ctx->pg, &c->buf);
}

static int copy_row_done(gen_copy *c)
{
    ea_buf_putc(&c->buf, '\n');
    c->rows++;
    return c->buf.len >= GEN_CHUNK ? copy_flush(c) : 0;
}

/* Ends the COPY and collects its result; a failure that made
 * PQputCopyData give up shows up here too. */
static int copy_end(gen_copy *c, int failed)
{
    if (!failed) {
        failed = copy_flush(c) != 0;
    }
    PQputCopyEnd(c->ctx->pg, failed ? "generation aborted" : NULL);
    PGresult *res;
    int ok = !failed;
    while ((res = PQgetResult(c->ctx->pg)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (ok || PQresultErrorMessage(res)[0]) {
                cli_err(c->ctx, "COPY into %s: %s", c->table,
                        cli_chomp(c->ctx->pool, PQresultErrorMessage(res)));
            }
            ok = 0;
        }
        PQclear(res);
    }
    return ok ? 0 : -1;
}

/* ---- generation state ------------------------------------------------------- */
typedef struct {
    cli_ctx *ctx;
    uint64_t seed;
    long long sites;
    int compact;                         /* --rows compact: the short rows of old */
    gen_copy copy;
    int region_first[GEN_NCOUNTRIES];    /* id of the country's first region */
    int region_count[GEN_NCOUNTRIES];
    long long site_count[GEN_NCOUNTRIES];
    long long n_regions, n_metrics, n_climate;
    apr_array_header_t *site_restore;    /* see gen_detach */
} gen_state;

/* Stream numbers: one per kind of row (sites: one per country). */
enum { RS_COUNTRIES = 1, RS_REGIONS, RS_DATASETS, RS_METRICS, RS_CLIMATE, RS_SITES = 100 };

static double gen_area_km2(const gen_country *c)
{
    double lat_mid = (c->lat_min + c->lat_max) / 2 * GEN_PI / 180;
    return (c->lat_max - c->lat_min) * 111.0 * (c->lon_max - c->lon_min) * 111.0 * cos(lat_mid);
}

static int gen_countries_copy(gen_state *g)
{
    gen_rng r = rng_stream(g->seed, RS_COUNTRIES);
    ea_buf *b = &g->copy.buf;
    if (copy_begin(&g->copy, "core_country", "id, created_at, updated_at, name, iso2, iso3, population, boundary") != 0) {
        return -1;
    }
    for (int i = 0; i < GEN_NCOUNTRIES; i++) {
        const gen_country *c = &gen_countries[i];
        buf_int(b, i + 1);
        buf_tab(b);
        buf_timestamps(b, &r);
        buf_tab(b);
        buf_text(b, c->name);
        buf_tab(b);
        buf_text(b, c->iso2);
        buf_tab(b);
        buf_text(b, c->iso3);
        buf_tab(b);
        buf_int(b, c->population);
        buf_tab(b);
        /* the bounding box as a GeoJSON polygon: a stand-in boundary */
        ea_buf_printf(b, "{\"type\": \"Polygon\", \"coordinates\": [[[%.2f, %.2f], [%.2f, %.2f], "
                      "[%.2f, %.2f], [%.2f, %.2f], [%.2f, %.2f]]]}",
                   c->lon_min, c->lat_min, c->lon_max, c->lat_min, c->lon_max, c->lat_max,
                   c->lon_min, c->lat_max, c->lon_min, c->lat_min);
        if (copy_row_done(&g->copy) != 0) {
            return copy_end(&g->copy, 1);
        }
    }
    return copy_end(&g->copy, 0);
}

static int gen_datasets_copy(gen_state *g)
{
    gen_rng r = rng_stream(g->seed, RS_DATASETS);
    ea_buf *b = &g->copy.buf;
    if (copy_begin(&g->copy, "core_energydataset", "id, created_at, updated_at, name, dataset_type, "
                   "source, description, file_name, file_checksum, metadata") != 0) {
        return -1;
    }
    for (int i = 0; i < DS_COUNT; i++) {
        const gen_dataset *d = &gen_datasets[i];
        buf_int(b, i + 1);
        buf_tab(b);
        buf_timestamps(b, &r);
        buf_tab(b);
        buf_text(b, d->name);
        buf_tab(b);
        buf_text(b, d->type);
        buf_tab(b);
        buf_text(b, d->source);
        buf_tab(b);
        buf_text(b, d->description);
        buf_tab(b);
        buf_text(b, d->file_name);
        buf_tab(b);
        /* a made-up sha256 checksum: 64 hex digits */
        for (int k = 0; k < 4; k++) {
            ea_buf_printf(b, "%016llx", (unsigned long long)rng_next(&r));
        }
        buf_tab(b);
        ea_buf_printf(b, "{\"version\": \"%s\", \"generator\": \"ecoatlas generate-sample\", "
                      "\"seed\": %llu}", i == DS_PHES_2021 - 1 ? "2021.2" : "2024.1",
                   (unsigned long long)g->seed);
        if (copy_row_done(&g->copy) != 0) {
            return copy_end(&g->copy, 1);
        }
    }
    return copy_end(&g->copy, 0);
}

/* 3-8 regions per country, names drawn without repetition so that
 * (country, name) stays unique. */
static int gen_regions_copy(gen_state *g)
{
    gen_rng r = rng_stream(g->seed, RS_REGIONS);
    ea_buf *b = &g->copy.buf;
    if (copy_begin(&g->copy, "core_region", "id, created_at, updated_at, name, level, boundary, country_id") != 0) {
        return -1;
    }
    long long id = 0;
    for (int c = 0; c < GEN_NCOUNTRIES; c++) {
        int order[GEN_NREGION_NAMES];
        for (int i = 0; i < GEN_NREGION_NAMES; i++) {
            order[i] = i;
        }
        int n = 3 + (int)rng_below(&r, 6);
        g->region_first[c] = (int)id + 1;
        g->region_count[c] = n;
        for (int i = 0; i < n; i++) {
            int j = i + (int)rng_below(&r, (uint32_t)(GEN_NREGION_NAMES - i));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
            buf_int(b, ++id);
            buf_tab(b);
            buf_timestamps(b, &r);
            buf_tab(b);
            buf_text(b, gen_region_names[order[i]]);
            ea_buf_putc(b, ' ');
            buf_text(b, gen_countries[c].level);
            buf_tab(b);
            buf_lower(b, gen_countries[c].level);
            buf_tab(b);
            buf_null(b);
            buf_tab(b);
            buf_int(b, c + 1);
            if (copy_row_done(&g->copy) != 0) {
                return copy_end(&g->copy, 1);
            }
        }
    }
    g->n_regions = id;
    return copy_end(&g->copy, 0);
}

/* ---- hydro sites -------------------------------------------------------------- */

/* Sites per country in proportion to land area (flattened a little, so
 * that small countries still get some), by largest remainder so the
 * counts add up to exactly g->sites. */
static void gen_apportion_sites(gen_state *g)
{
    double w[GEN_NCOUNTRIES], total = 0;
    for (int c = 0; c < GEN_NCOUNTRIES; c++) {
        w[c] = pow(gen_area_km2(&gen_countries[c]), 0.8);
        total += w[c];
    }
    long long given = 0;
    double rem[GEN_NCOUNTRIES];
    for (int c = 0; c < GEN_NCOUNTRIES; c++) {
        double exact = (double)g->sites * w[c] / total;
        g->site_count[c] = (long long)exact;
        rem[c] = exact - (double)g->site_count[c];
        given += g->site_count[c];
    }
    while (given < g->sites) {
        int best = 0;
        for (int c = 1; c < GEN_NCOUNTRIES; c++) {
            if (rem[c] > rem[best]) {
                best = c;
            }
        }
        g->site_count[best]++;
        rem[best] = -1;
        given++;
    }
}

static void gen_site_name(ea_buf *b, gen_rng *r, long long seq)
{
    int n = 2 + (int)rng_below(r, 2);
    for (int i = 0; i < n; i++) {
        const char *s = gen_syllables[rng_below(r, GEN_N(gen_syllables))];
        if (i == 0) {
            ea_buf_putc(b, (char)(s[0] - 'a' + 'A'));
            ea_buf_puts(b, s + 1);
        }
        else {
            ea_buf_puts(b, s);
        }
    }
    ea_buf_putc(b, ' ');
    ea_buf_puts(b, gen_landforms[rng_below(r, GEN_N(gen_landforms))]);
    /* the per-country sequence number is what makes (country, name) unique */
    ea_buf_putc(b, ' ');
    buf_int(b, seq);
}

static void gen_site_coords(ea_buf *b, gen_rng *r, const gen_country *c)
{
    if (rng_chance(r, 0.002)) {
        buf_null(b);
        buf_tab(b);
        buf_null(b);
        return;
    }
    long long lat0 = llround(c->lat_min * 1e6), lat1 = llround(c->lat_max * 1e6);
    long long lon0 = llround(c->lon_min * 1e6), lon1 = llround(c->lon_max * 1e6);
    buf_fixed(b, lat0 + rng_below(r, (uint32_t)(lat1 - lat0)), 6);
    buf_tab(b);
    buf_fixed(b, lon0 + rng_below(r, (uint32_t)(lon1 - lon0)), 6);
}

/* elevation_m, head_m, storage_capacity_mwh, turbine_capacity_mw, in
 * hundredths: heads skew low, storage follows the atlas size classes and
 * the turbine delivers the storage in 6 or 18 hours. */
static void gen_site_physics(ea_buf *b, gen_rng *r)
{
    long long head = 5000 + llround(85000 * pow(rng_unit(r), 1.6));
    long long elevation = head + 5000 + rng_below(r, 250000);
    int pct = (int)rng_below(r, 100), k = 0;
    while (pct >= gen_storage_pct[k]) {
        pct -= gen_storage_pct[k++];
    }
    long long storage = llround(gen_storage_gwh[k] * 100000.0 * (0.85 + 0.3 * rng_unit(r)));
    long long turbine = storage / (rng_chance(r, 0.6) ? 6 : 18);
    if (rng_chance(r, 0.02)) {
        buf_null(b);
    }
    else {
        buf_fixed(b, elevation, 2);
    }
    buf_tab(b);
    if (rng_chance(r, 0.01)) {
        buf_null(b);
    }
    else {
        buf_fixed(b, head, 2);
    }
    buf_tab(b);
    if (rng_chance(r, 0.03)) {
        buf_null(b);
        buf_tab(b);
        buf_null(b);
        return;
    }
    buf_fixed(b, storage, 2);
    buf_tab(b);
    buf_fixed(b, turbine, 2);
}

/* Sentences for the long notes of Django-shaped rows (--rows django). */
static const char *const gen_note_sentences[] = {
    "Upper reservoir on a broad plateau with a natural saddle; lower reservoir in the river valley below.",
    "The dam axis crosses competent granite according to the regional geological map.",
    "An access road would need about 7 km of new track from the nearest district road.",
    "Grid connection: a 132 kV line passes within 15 km; a new substation is likely needed.",
    "Seasonal flows are low in the dry months, so the initial fill needs a water supply study.",
    "Local stakeholders raised grazing land and a footpath to the market town during consultation.",
    "A protected forest reserve lies within 10 km; an environmental screening is required.",
    "Sediment load of the lower river is moderate; a settling basin is included in the estimate.",
    "The head to separation ratio ranks this pair in the top decile of the national shortlist.",
    "Geotechnical survey pending; boreholes planned at both dam sites next season.",
};

static void gen_notes_long(ea_buf *b, gen_rng *r)
{
    /* 0-2,000 characters: most sites have none, the rest skew short */
    if (rng_chance(r, 0.6)) {
        return;
    }
    size_t want = 20 + (size_t)(1980 * pow(rng_unit(r), 3.0)), start = b->len;
    while (b->len - start < want) {
        if (b->len > start) {
            ea_buf_putc(b, ' ');
        }
        buf_text(b, gen_note_sentences[rng_below(r, GEN_N(gen_note_sentences))]);
    }
    if (b->len - start > 2000) {
        b->len = start + 2000;
    }
}

/* One reservoir of a pair: a nested object as the Django system stores. */
static void gen_reservoir(ea_buf *b, gen_rng *r, const char *name)
{
    ea_buf_puts(b, "\"");
    ea_buf_puts(b, name);
    ea_buf_puts(b, "\": {\"area_ha\": ");
    buf_fixed(b, 50 + rng_below(r, 20000), 1);
    ea_buf_puts(b, ", \"volume_gl\": ");
    buf_fixed(b, 10 + rng_below(r, 50000), 2);
    ea_buf_puts(b, ", \"dam_height_m\": ");
    buf_fixed(b, 50 + rng_below(r, 1200), 1);
    ea_buf_puts(b, ", \"dam_volume_gl\": ");
    buf_fixed(b, 1 + rng_below(r, 9000), 3);
    ea_buf_puts(b, "}");
}

/* properties of 150-400 bytes: reservoir pair, ratios and provenance */
static void gen_properties_django(ea_buf *b, gen_rng *r)
{
    static const char grades[] = "ABBCCCCDDE";
    static const char *const sources[] = { "srtm30", "copernicus-dem-30", "alos-aw3d30", "hydrosheds" };
    ea_buf_puts(b, "{\"reservoir_type\": \"");
    ea_buf_puts(b, gen_reservoir_types[rng_below(r, GEN_N(gen_reservoir_types))]);
    ea_buf_puts(b, "\", \"grade\": \"");
    ea_buf_putc(b, grades[rng_below(r, 10)]);
    ea_buf_puts(b, "\", ");
    gen_reservoir(b, r, "upper");
    if (rng_chance(r, 0.4)) {
        ea_buf_puts(b, ", ");
        gen_reservoir(b, r, "lower");
    }
    ea_buf_puts(b, ", \"separation_km\": ");
    buf_fixed(b, 5 + rng_below(r, 200), 1);
    ea_buf_puts(b, ", \"water_rock_ratio\": ");
    buf_fixed(b, 10 + rng_below(r, 140), 1);
    if (rng_chance(r, 0.5)) {
        ea_buf_puts(b, ", \"cost_class\": \"");
        ea_buf_putc(b, "AABBCDE"[rng_below(r, 7)]);
        ea_buf_putc(b, "AABBCDE"[rng_below(r, 7)]);
        ea_buf_puts(b, "\"");
    }
    ea_buf_puts(b, ", \"sources\": [\"");
    ea_buf_puts(b, sources[rng_below(r, GEN_N(sources))]);
    ea_buf_puts(b, "\", \"anu-phes\"]}");
}

/* status, notes, properties */
static void gen_site_details(ea_buf *b, gen_rng *r, int compact)
{
    double u = rng_unit(r);
    ea_buf_puts(b, u < 0.88 ? "identified" : u < 0.96 ? "study" : u < 0.985 ? "construction" : "operational");
    buf_tab(b);
    if (!compact) {
        gen_notes_long(b, r);
        buf_tab(b);
        gen_properties_django(b, r);
        return;
    }
    if (rng_chance(r, 0.1)) {
        buf_text(b, gen_notes[rng_below(r, GEN_N(gen_notes))]);
    }
    buf_tab(b);
    if (!rng_chance(r, 0.65)) {
        ea_buf_puts(b, "{}");
        return;
    }
    static const char grades[] = "ABBCCCCDDE";
    ea_buf_puts(b, "{\"reservoir_type\": \"");
    ea_buf_puts(b, gen_reservoir_types[rng_below(r, GEN_N(gen_reservoir_types))]);
    ea_buf_puts(b, "\", \"grade\": \"");
    ea_buf_putc(b, grades[rng_below(r, 10)]);
    ea_buf_putc(b, '"');
    if (rng_chance(r, 0.3)) {
        ea_buf_puts(b, ", \"water_rock_ratio\": ");
        buf_fixed(b, 10 + rng_below(r, 140), 1);
    }
    ea_buf_putc(b, '}');
}

static void gen_site_row(gen_state *g, gen_rng *r, int c, long long id, long long seq)
{
    ea_buf *b = &g->copy.buf;
    buf_int(b, id);
    buf_tab(b);
    buf_timestamps(b, r);
    buf_tab(b);
    gen_site_name(b, r, seq);
    buf_tab(b);
    gen_site_coords(b, r, &gen_countries[c]);
    buf_tab(b);
    gen_site_physics(b, r);
    buf_tab(b);
    gen_site_details(b, r, g->compact);
    buf_tab(b);
    buf_int(b, c + 1);
    buf_tab(b);
    double u = rng_unit(r);
    if (u < 0.92) {
        buf_int(b, u < 0.82 ? DS_PHES_2024 : DS_PHES_2021);
    }
    else {
        buf_null(b);
    }
    buf_tab(b);
    if (rng_chance(r, g->compact ? 0.04 : 0.12)) {
        buf_null(b);
    }
    else {
        buf_int(b, g->region_first[c] + (int)rng_below(r, (uint32_t)g->region_count[c]));
    }
}

static int gen_sites_copy(gen_state *g)
{
    gen_apportion_sites(g);
    if (copy_begin(&g->copy, "core_hydrosite", "id, created_at, updated_at, name, latitude, longitude, "
                   "elevation_m, head_m, storage_capacity_mwh, turbine_capacity_mw, status, notes, "
                   "properties, country_id, dataset_id, region_id") != 0) {
        return -1;
    }
    long long id = 0;
    for (int c = 0; c < GEN_NCOUNTRIES; c++) {
        gen_rng r = rng_stream(g->seed, RS_SITES + (uint64_t)c);
        for (long long k = 1; k <= g->site_count[c]; k++) {
            gen_site_row(g, &r, c, ++id, k);
            if (copy_row_done(&g->copy) != 0) {
                return copy_end(&g->copy, 1);
            }
        }
    }
    return copy_end(&g->copy, 0);
}

/* ---- resource metrics --------------------------------------------------------- */

static double gen_metric_scale(const gen_metric *m, const gen_country *c)
{
    double s = 1;
    if (m->scale == SCALE_POPULATION) {
        s = (double)c->population / 20e6;
    }
    else if (m->scale == SCALE_AREA) {
        s = gen_area_km2(c) / 1e6;
    }
    return s < 0.02 ? 0.02 : s > 6 ? 6 : s;
}

static int gen_metrics_copy(gen_state *g)
{
    gen_rng r = rng_stream(g->seed, RS_METRICS);
    ea_buf *b = &g->copy.buf;
    if (copy_begin(&g->copy, "core_resourcemetric", "id, created_at, updated_at, resource_type, metric, "
                   "value, unit, year, country_id, dataset_id, region_id") != 0) {
        return -1;
    }
    long long id = 0;
    for (int c = 0; c < GEN_NCOUNTRIES; c++) {
        for (int m = 0; m < GEN_N(gen_metrics); m++) {
            const gen_metric *def = &gen_metrics[m];
            double base = (def->lo + (def->hi - def->lo) * rng_unit(&r)) * gen_metric_scale(def, &gen_countries[c]);
            for (int y = 0; y < GEN_YEARS; y++) {
                double v = base * pow(1 + def->growth, y) * (0.98 + 0.04 * rng_unit(&r));
                buf_int(b, ++id);
                buf_tab(b);
                buf_timestamps(b, &r);
                buf_tab(b);
                buf_text(b, def->type);
                buf_tab(b);
                buf_text(b, def->metric);
                buf_tab(b);
                buf_fixed(b, gen_round(v, 4), 4);
                buf_tab(b);
                buf_text(b, def->unit);
                buf_tab(b);
                buf_int(b, GEN_FIRST_YEAR + y);
                buf_tab(b);
                buf_int(b, c + 1);
                buf_tab(b);
                buf_int(b, def->dataset);
                buf_tab(b);
                buf_null(b);
                if (copy_row_done(&g->copy) != 0) {
                    return copy_end(&g->copy, 1);
                }
            }
        }
    }
    g->n_metrics = id;
    return copy_end(&g->copy, 0);
}

/* ---- climate series ------------------------------------------------------------- */

/* Monthly mean temperature (degrees C): warmer near the equator, seasons
 * that grow with latitude and peak in July north / January south, a slow
 * warming trend and some noise. */
static void gen_temperature(gen_rng *r, const gen_country *c, double *v)
{
    double lat = (c->lat_min + c->lat_max) / 2;
    double mean = 27.5 - 0.3 * fabs(lat);
    double amplitude = 0.25 * fabs(lat);
    double peak = lat >= 0 ? 6 : 0; /* month index of the warmest month */
    for (int i = 0; i < GEN_MONTHS; i++) {
        double season = cos(2 * GEN_PI * ((i % 12) - peak) / 12);
        v[i] = mean + amplitude * season + 0.03 * (i / 12) + 1.6 * (rng_unit(r) - 0.5);
    }
}

/* Monthly rainfall (mm): wet near the equator with two rainy seasons, one
 * rainy season further out (June-September north, December-March south),
 * dry in the Sahara band unless the country reaches the Mediterranean. */
static void gen_rainfall(gen_rng *r, const gen_country *c, double *v)
{
    double lat = (c->lat_min + c->lat_max) / 2, alat = fabs(lat);
    double annual = alat < 8 ? 1500 : lat <= -15 ? 600 : lat < 15 ? 1000
                  : lat < 22 ? 450 : c->lat_max > 33 ? 300 : 100;
    annual *= 0.7 + 0.6 * rng_unit(r);
    double peak = lat >= 0 ? 7 : 0;
    for (int i = 0; i < GEN_MONTHS; i++) {
        int m = i % 12;
        double shape = alat < 8 ? 1 + 0.8 * cos(4 * GEN_PI * (m - 3.5) / 12)
                                : 1 + 0.95 * cos(2 * GEN_PI * (m - peak) / 12);
        double x = annual / 12 * shape * (0.6 + 0.8 * rng_unit(r));
        v[i] = x < 0 ? 0 : x;
    }
}

static int gen_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* {"mean", "min", "max", "p90"} of the rounded values */
static void gen_statistics(ea_buf *b, const double *v)
{
    double sorted[GEN_MONTHS], sum = 0;
    for (int i = 0; i < GEN_MONTHS; i++) {
        sorted[i] = (double)gen_round(v[i], 1) / 10;
        sum += sorted[i];
    }
    qsort(sorted, GEN_MONTHS, sizeof(double), gen_cmp_double);
    ea_buf_puts(b, "{\"mean\": ");
    buf_fixed(b, gen_round(sum / GEN_MONTHS, 2), 2);
    ea_buf_puts(b, ", \"min\": ");
    buf_fixed(b, gen_round(sorted[0], 1), 1);
    ea_buf_puts(b, ", \"max\": ");
    buf_fixed(b, gen_round(sorted[GEN_MONTHS - 1], 1), 1);
    ea_buf_puts(b, ", \"p90\": ");
    buf_fixed(b, gen_round(sorted[(int)ceil(0.9 * GEN_MONTHS) - 1], 1), 1);
    ea_buf_putc(b, '}');
}

/* [{"timestamp": "2015-01-01", "value": 12.5}, ...] */
static void gen_series(ea_buf *b, const double *v)
{
    ea_buf_putc(b, '[');
    for (int i = 0; i < GEN_MONTHS; i++) {
        char date[11];
        int y = GEN_FIRST_YEAR + i / 12;
        buf_2digits(date, y / 100);
        buf_2digits(date + 2, y % 100);
        date[4] = '-';
        buf_2digits(date + 5, i % 12 + 1);
        memcpy(date + 7, "-01", 3);
        ea_buf_puts(b, i ? ", {\"timestamp\": \"" : "{\"timestamp\": \"");
        ea_buf_put(b, date, 10);
        ea_buf_puts(b, "\", \"value\": ");
        buf_fixed(b, gen_round(v[i], 1), 1);
        ea_buf_putc(b, '}');
    }
    ea_buf_putc(b, ']');
}

static int gen_climate_copy(gen_state *g)
{
    static const char *const variables[] = {"rainfall", "temperature"};
    static const char *const units[] = {"mm", "°C"};
    gen_rng r = rng_stream(g->seed, RS_CLIMATE);
    ea_buf *b = &g->copy.buf;
    if (copy_begin(&g->copy, "core_climateseries", "id, created_at, updated_at, variable, unit, "
                   "statistics, series, country_id, dataset_id, region_id, site_id") != 0) {
        return -1;
    }
    long long id = 0;
    for (int c = 0; c < GEN_NCOUNTRIES; c++) {
        for (int k = 0; k < 2; k++) {
            double v[GEN_MONTHS];
            if (k == 0) {
                gen_rainfall(&r, &gen_countries[c], v);
            }
            else {
                gen_temperature(&r, &gen_countries[c], v);
            }
            buf_int(b, ++id);
            buf_tab(b);
            buf_timestamps(b, &r);
            buf_tab(b);
            buf_text(b, variables[k]);
            buf_tab(b);
            buf_text(b, units[k]);
            buf_tab(b);
            gen_statistics(b, v);
            buf_tab(b);
            gen_series(b, v);
            buf_tab(b);
            buf_int(b, c + 1);
            buf_tab(b);
            buf_int(b, DS_CLIMATE);
            buf_tab(b);
            buf_null(b);
            buf_tab(b);
            buf_null(b);
            if (copy_row_done(&g->copy) != 0) {
                return copy_end(&g->copy, 1);
            }
        }
    }
    g->n_climate = id;
    return copy_end(&g->copy, 0);
}

/* ---- command -------------------------------------------------------------------- */

static const char *const gen_tables[] = {
    "core_country", "core_energydataset", "core_region", "core_hydrosite",
    "core_resourcemetric", "core_climateseries", "core_reportattachment",
};

void cli_generate_usage(FILE *out)
{
    fputs("Usage: ecoatlas [GLOBAL OPTIONS] generate-sample --sites N [--seed S] [--rows SHAPE] [--truncate]\n"
          "\n"
          "Fill the empty core tables with realistic synthetic data, the same for the\n"
          "same seed: the 54 African countries, 3-8 regions each, six datasets, N pumped\n"
          "hydro sites spread over the countries by area, resource metrics per country,\n"
          "resource type and year 2015-2024, and monthly rainfall and temperature series.\n"
          "Everything is loaded with COPY in one transaction, then analyzed.\n"
          "\n"
          "Options:\n"
          "  -n, --sites N       number of hydro sites (required; up to 100000000)\n"
          "  -s, --seed S        seed of the generator (default 42)\n"
          "      --rows SHAPE    django (default): sites shaped like the Django system's\n"
          "                      data (nested properties of 150-400 bytes, notes of\n"
          "                      0-2,000 characters, 12 % without region); compact: the\n"
          "                      short rows of earlier versions\n"
          "      --truncate      empty the core tables first (TRUNCATE ... CASCADE: this\n"
          "                      deletes every row they hold); without it a database that\n"
          "                      already has data is refused\n"
          "  -f, --config FILE   Apache configuration to take DBDParams from\n"
          "      --db CONNINFO   PostgreSQL connection string\n"
          "  -h, --help          show this help\n", out);
}

const cli_command cli_cmd_generate = {
    "generate-sample", "fill an empty database with realistic sample data",
    cli_generate, cli_generate_usage,
};

static const char *gen_table_list(apr_pool_t *p)
{
    const char *list = "";
    for (int i = 0; i < GEN_N(gen_tables); i++) {
        list = apr_pstrcat(p, list, i ? ", " : "", gen_tables[i], NULL);
    }
    return list;
}

/* Comma-separated names of the core tables that hold rows, "" if none,
 * NULL on error. */
static const char *gen_nonempty_tables(cli_ctx *ctx)
{
    const char *sql = "SELECT coalesce(string_agg(t, ', '), '') FROM (";
    for (int i = 0; i < GEN_N(gen_tables); i++) {
        sql = apr_psprintf(ctx->pool, "%s%sSELECT '%s' AS t WHERE EXISTS (SELECT 1 FROM %s)", sql,
                           i ? " UNION ALL " : "", gen_tables[i], gen_tables[i]);
    }
    return cli_db_value(ctx, apr_pstrcat(ctx->pool, sql, ") s", NULL), "checking the core tables", NULL);
}

/* Take the tables, refuse to mix with existing data unless told to, then
 * truncate in this transaction, which is also what lets COPY FREEZE. */
static int gen_prepare(cli_ctx *ctx, int truncate)
{
    const char *v = cli_db_value(ctx, "SELECT to_regclass('core_hydrosite') IS NOT NULL",
                                 "looking for the core tables", NULL);
    if (v == NULL) {
        return -1;
    }
    if (strcmp(v, "t") != 0) {
        cli_err(ctx, "the core tables do not exist: run 'ecoatlas migrate' first");
        return -1;
    }
    const char *tables = gen_table_list(ctx->pool);
    if (cli_db_exec(ctx, apr_psprintf(ctx->pool, "BEGIN; LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", tables),
                    "locking the core tables") != 0) {
        return -1;
    }
    const char *full = gen_nonempty_tables(ctx);
    if (full == NULL) {
        return -1;
    }
    if (*full && !truncate) {
        cli_err(ctx, "the database already holds data (%s); generate-sample only fills empty "
                "tables. Use --truncate to delete ALL rows of the core tables first.", full);
        return -1;
    }
    return cli_db_exec(ctx, apr_psprintf(ctx->pool, "TRUNCATE %s RESTART IDENTITY CASCADE; "
                                         "SET LOCAL maintenance_work_mem = '256MB'", tables),
                       "emptying the core tables");
}

/* Loading a million rows into a table that maintains a dozen indexes and
 * queues three deferred foreign-key checks per row is slower than building
 * each index once and validating each foreign key with one join, which is
 * what pg_restore does too.  So, inside the transaction, the big table's
 * secondary indexes, unreferenced unique constraints and foreign keys are
 * dropped before COPY and recreated after; their definitions come from the
 * catalog, so what later migrations add is covered, and a failure rolls
 * the drops back with everything else. */
static const char gen_detach_sql[] =
    "SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid), 1 "
    "FROM pg_index i WHERE i.indrelid = $1::regclass AND NOT EXISTS "
    "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
    "UNION ALL "
    "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), "
    "format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)), "
    "CASE c.contype WHEN 'u' THEN 2 ELSE 3 END "
    "FROM pg_constraint c WHERE c.conrelid = $1::regclass AND (c.contype = 'f' OR (c.contype = 'u' "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid))) "
    "ORDER BY 3";

/* Drops them and returns the statements that bring them back, in order:
 * indexes, unique constraints, foreign keys. */
static apr_array_header_t *gen_detach(cli_ctx *ctx, const char *table)
{
    const char *params[1] = {table};
    PGresult *res = PQexecParams(ctx->pg, gen_detach_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cli_err(ctx, "reading the indexes of %s: %s", table, cli_chomp(ctx->pool, PQresultErrorMessage(res)));
        PQclear(res);
        return NULL;
    }
    apr_array_header_t *restore = apr_array_make(ctx->pool, PQntuples(res), sizeof(const char *));
    const char *drops = "";
    for (int i = 0; i < PQntuples(res); i++) {
        drops = apr_pstrcat(ctx->pool, drops, PQgetvalue(res, i, 0), "; ", NULL);
        APR_ARRAY_PUSH(restore, const char *) = apr_pstrdup(ctx->pool, PQgetvalue(res, i, 1));
    }
    PQclear(res);
    if (*drops && cli_db_exec(ctx, drops, apr_psprintf(ctx->pool, "dropping the indexes of %s", table)) != 0) {
        return NULL;
    }
    return restore;
}

static int gen_reattach(cli_ctx *ctx, const apr_array_header_t *restore)
{
    for (int i = 0; i < restore->nelts; i++) {
        const char *sql = APR_ARRAY_IDX(restore, i, const char *);
        if (cli_db_exec(ctx, sql, sql) != 0) {
            return -1;
        }
    }
    return 0;
}

static double gen_seconds_since(apr_time_t t0)
{
    return (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;
}

static int gen_sites_copy_detached(gen_state *g)
{
    /* ALTER TABLE refuses tables with queued deferred checks (the regions
     * just loaded): run those checks now */
    if (cli_db_exec(g->ctx, "SET CONSTRAINTS ALL IMMEDIATE", "checking the loaded rows") != 0) {
        return -1;
    }
    g->site_restore = gen_detach(g->ctx, "core_hydrosite");
    return g->site_restore ? gen_sites_copy(g) : -1;
}

static int gen_sites_reattach(gen_state *g)
{
    g->copy.rows = g->site_restore->nelts;
    return gen_reattach(g->ctx, g->site_restore);
}

typedef struct {
    const char *label;
    int (*run)(gen_state *g);
    const char *unit;
} gen_step;

static int gen_load(gen_state *g)
{
    static const gen_step steps[] = {
        {"countries", gen_countries_copy, "rows"},
        {"datasets", gen_datasets_copy, "rows"},
        {"regions", gen_regions_copy, "rows"},
        {"hydro sites", gen_sites_copy_detached, "rows"},
        {"site indexes, keys", gen_sites_reattach, "built"},
        {"resource metrics", gen_metrics_copy, "rows"},
        {"climate series", gen_climate_copy, "rows"},
    };
    for (int i = 0; i < GEN_N(steps); i++) {
        apr_time_t t0 = apr_time_now();
        if (steps[i].run(g) != 0) {
            return -1;
        }
        printf("  %-18s %10lld %-5s %6.1f s\n", steps[i].label, g->copy.rows, steps[i].unit,
               gen_seconds_since(t0));
        fflush(stdout);
    }
    return 0;
}

/* The ids were given explicitly: move each sequence past them. */
static int gen_sequences(cli_ctx *ctx)
{
    for (int i = 0; i < GEN_N(gen_tables); i++) {
        const char *sql = apr_psprintf(ctx->pool,
            "SELECT setval(pg_get_serial_sequence('%s', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM %s",
            gen_tables[i], gen_tables[i]);
        if (cli_db_exec(ctx, sql, "moving the id sequences") != 0) {
            return -1;
        }
    }
    return 0;
}

static int gen_run(gen_state *g, int truncate)
{
    cli_ctx *ctx = g->ctx;
    apr_time_t t0 = apr_time_now();
    if (gen_prepare(ctx, truncate) != 0) {
        return -1;
    }
    printf("Generating sample data (seed %llu, %lld hydro sites):\n", (unsigned long long)g->seed, g->sites);
    if (gen_load(g) != 0 || gen_sequences(ctx) != 0) {
        return -1;
    }
    apr_time_t t1 = apr_time_now();
    if (cli_db_exec(ctx, "COMMIT", "committing") != 0) {
        return -1;
    }
    printf("  %-18s %24.1f s\n", "commit", gen_seconds_since(t1));
    fflush(stdout);
    apr_time_t t2 = apr_time_now();
    if (cli_db_exec(ctx, apr_pstrcat(ctx->pool, "ANALYZE ", gen_table_list(ctx->pool), NULL), "ANALYZE") != 0) {
        return -1;
    }
    printf("  %-18s %24.1f s\n", "analyze", gen_seconds_since(t2));
    printf("Done: %d countries, %d datasets, %lld regions, %lld hydro sites, %lld resource metrics, "
           "%lld climate series in %.1f s.\n", GEN_NCOUNTRIES, DS_COUNT, g->n_regions, g->sites,
           g->n_metrics, g->n_climate, gen_seconds_since(t0));
    return 0;
}

int cli_generate(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sites", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"truncate", no_argument, NULL, 'T'},
        {"rows", required_argument, NULL, 'R'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    long long sites = -1, seed = 42;
    int truncate = 0, compact = 0, c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "n:s:", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_count(ctx, &cli_cmd_generate, "--sites", optarg, GEN_MAX_SITES, &sites) != 0) {
                return CLI_EXIT_USAGE;
            }
            break;
        case 's':
            if (cli_parse_count(ctx, &cli_cmd_generate, "--seed", optarg, INT64_MAX, &seed) != 0) {
                return CLI_EXIT_USAGE;
            }
            break;
        case 'T': truncate = 1; break;
        case 'R':
            if (strcmp(optarg, "django") == 0) {
                compact = 0;
            }
            else if (strcmp(optarg, "compact") == 0) {
                compact = 1;
            }
            else {
                return cli_usage_error(ctx, &cli_cmd_generate, "--rows: 'django' or 'compact', not '%s'", optarg);
            }
            break;
        default:
            if ((rc = cli_common_option(ctx, &cli_cmd_generate, c, argv)) >= 0) {
                return rc;
            }
        }
    }
    if (optind < argc) {
        return cli_usage_error(ctx, &cli_cmd_generate, "unexpected argument '%s'", argv[optind]);
    }
    if (sites < 0) {
        return cli_usage_error(ctx, &cli_cmd_generate, "--sites N is required");
    }
    if (cli_db_connect(ctx) != 0) {
        return CLI_EXIT_FAIL;
    }
    gen_state g;
    memset(&g, 0, sizeof g);
    g.ctx = ctx;
    g.copy.ctx = ctx;
    ea_buf_init(&g.copy.buf, ctx->pool, GEN_CHUNK + 64 * 1024);   /* a chunk and a row or two */
    g.seed = (uint64_t)seed;
    g.sites = sites;
    g.compact = compact;
    rc = gen_run(&g, truncate);
    if (rc != 0) {
        cli_db_rollback(ctx);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
