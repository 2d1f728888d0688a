/* ea_geojson: read a GeoJSON FeatureCollection for imports (json-c), with
 * limits on size, nesting and feature count, strict JSON and UTF-8.  A
 * syntax error names its line; a malformed feature is marked with its
 * reason and the others stay usable (the import decides: all or nothing,
 * or --skip-invalid). */
#ifndef EA_GEOJSON_H
#define EA_GEOJSON_H

#include <stddef.h>

struct json_object;

typedef struct ea_geojson_limits {
    size_t max_bytes;       /* 0: EA_GEOJSON_MAX_BYTES */
    int max_depth;          /* 0: EA_GEOJSON_MAX_DEPTH */
    size_t max_features;    /* 0: EA_GEOJSON_MAX_FEATURES */
} ea_geojson_limits;

#define EA_GEOJSON_MAX_BYTES (256u * 1024 * 1024)
#define EA_GEOJSON_MAX_DEPTH 64
#define EA_GEOJSON_MAX_FEATURES 1000000

typedef struct ea_geojson_feature {
    size_t index;                   /* 1-based position in "features" */
    struct json_object *props;      /* "properties" object, or NULL */
    const char *geometry;           /* compact JSON text, NULL for a null geometry */
    const char *error;              /* non-NULL: why the feature is unusable */
} ea_geojson_feature;

typedef struct ea_geojson {
    struct json_object *root;
    size_t nfeatures;
    ea_geojson_feature *features;
} ea_geojson;

/* Parse data (len bytes).  0 and *out on success (an empty or missing
 * "features" gives nfeatures 0); -1 with a French message in err
 * otherwise. */
int ea_geojson_parse(const char *data, size_t len, const ea_geojson_limits *lim,
                     ea_geojson **out, char *err, size_t errlen);
void ea_geojson_free(ea_geojson *g);

/* A property as a non-empty string: strings as they are, numbers in their
 * JSON form; NULL when absent, null, empty, or another type. */
const char *ea_geojson_prop(const ea_geojson_feature *f, const char *name);

#endif
