/* libFuzzer target for ea_geojson: the whole input as a GeoJSON file;
 * every feature is either usable (geometry JSON that json-c re-reads, no
 * NUL escape) or carries its reason. */
#include "ea_geojson.h"

#include <json-c/json.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ea_fz_check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ea_geojson_limits lim = {1 << 20, 32, 1000};
    ea_geojson *g = NULL;
    char err[256];
    err[0] = '\0';
    if (ea_geojson_parse((const char *)data, size, &lim, &g, err, sizeof err) != 0) {
        ea_fz_check(g == NULL && err[0] != '\0');
        return 0;
    }
    ea_fz_check(g != NULL && g->nfeatures <= lim.max_features);
    for (size_t i = 0; i < g->nfeatures; i++) {
        const ea_geojson_feature *f = &g->features[i];
        ea_fz_check(f->index == i + 1);
        if (f->error != NULL)
            continue;
        if (f->geometry != NULL) {
            json_object *o = json_tokener_parse(f->geometry);
            ea_fz_check(o != NULL && json_object_is_type(o, json_type_object));
            ea_fz_check(strstr(f->geometry, "\\u0000") == NULL);
            json_object_put(o);
        }
        const char *v = ea_geojson_prop(f, "iso3");
        ea_fz_check(v == NULL || v[0] != '\0');
        (void)ea_geojson_prop(f, "name");
    }
    ea_geojson_free(g);
    return 0;
}
