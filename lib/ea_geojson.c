/* ea_geojson: FeatureCollection reader (see ea_geojson.h). */
#include "ea_geojson.h"

#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gj_types[] = {
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
    "GeometryCollection", NULL
};

static int gj_known_type(const char *t)
{
    for (int i = 0; gj_types[i]; i++)
        if (strcmp(t, gj_types[i]) == 0)
            return 1;
    return 0;
}

/* json-c keeps "\u0000" inside strings; PostgreSQL's jsonb refuses it. */
static int gj_has_nul_escape(const char *json)
{
    return strstr(json, "\\u0000") != NULL;
}

static void gj_feature(ea_geojson_feature *f, json_object *feat)
{
    json_object *props = NULL, *geom = NULL, *type = NULL;

    if (!json_object_is_type(feat, json_type_object)) {
        f->error = "l'entité n'est pas un objet JSON";
        return;
    }
    if (json_object_object_get_ex(feat, "properties", &props) && props != NULL) {
        if (!json_object_is_type(props, json_type_object)) {
            f->error = "\"properties\" n'est pas un objet";
            return;
        }
        f->props = props;
    }
    if (!json_object_object_get_ex(feat, "geometry", &geom) || geom == NULL)
        return;         /* a null geometry is allowed (boundary NULL) */
    if (!json_object_is_type(geom, json_type_object)
        || !json_object_object_get_ex(geom, "type", &type)
        || !json_object_is_type(type, json_type_string)
        || !gj_known_type(json_object_get_string(type))) {
        f->error = "géométrie invalide (objet GeoJSON avec un \"type\" connu attendu)";
        return;
    }
    f->geometry = json_object_to_json_string_ext(geom, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (f->geometry == NULL) {
        f->error = "mémoire insuffisante";
        return;
    }
    if (gj_has_nul_escape(f->geometry)) {
        f->geometry = NULL;
        f->error = "caractère NUL (\\u0000) dans la géométrie";
    }
}

static unsigned long gj_line_of(const char *data, size_t off)
{
    unsigned long line = 1;
    for (size_t i = 0; i < off; i++)
        if (data[i] == '\n')
            line++;
    return line;
}

int ea_geojson_parse(const char *data, size_t len, const ea_geojson_limits *lim,
                     ea_geojson **out, char *err, size_t errlen)
{
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : EA_GEOJSON_MAX_BYTES;
    int max_depth = lim && lim->max_depth ? lim->max_depth : EA_GEOJSON_MAX_DEPTH;
    size_t max_features = lim && lim->max_features ? lim->max_features : EA_GEOJSON_MAX_FEATURES;
    json_tokener *tok;
    json_object *root, *features = NULL;
    enum json_tokener_error jerr;
    ea_geojson *g;
    size_t skip = 0;

    *out = NULL;
    if (len > max_bytes) {
        snprintf(err, errlen, "fichier trop volumineux (plus de %zu octets)", max_bytes);
        return -1;
    }
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        skip = 3;       /* a UTF-8 BOM is tolerated */
    if (len - skip > (size_t)0x7fffffff) {
        snprintf(err, errlen, "fichier trop volumineux");
        return -1;
    }
    tok = json_tokener_new_ex(max_depth);
    if (tok == NULL) {
        snprintf(err, errlen, "mémoire insuffisante");
        return -1;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, data + skip, (int)(len - skip));
    jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_continue) {
        /* the input ended inside a value: ask for the end-of-input verdict */
        json_object_put(root);
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = root ? json_tokener_success : json_tokener_get_error(tok);
        if (jerr == json_tokener_continue || jerr == json_tokener_success)
            jerr = json_tokener_error_parse_eof;
        json_object_put(root);
        root = NULL;
    }
    if (jerr == json_tokener_success && json_tokener_get_parse_end(tok) < len - skip) {
        /* only whitespace may follow the document */
        size_t i = skip + json_tokener_get_parse_end(tok);
        while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
            i++;
        if (i < len) {
            snprintf(err, errlen, "JSON invalide: contenu après le document (ligne %lu)", gj_line_of(data, i));
            json_object_put(root);
            json_tokener_free(tok);
            return -1;
        }
    }
    if (jerr != json_tokener_success || root == NULL) {
        size_t at = skip + json_tokener_get_parse_end(tok);
        if (jerr == json_tokener_success)
            snprintf(err, errlen, "JSON invalide: document vide");
        else
            snprintf(err, errlen, "JSON invalide: %s (ligne %lu)", json_tokener_error_desc(jerr),
                     gj_line_of(data, at < len ? at : len));
        json_object_put(root);
        json_tokener_free(tok);
        return -1;
    }
    json_tokener_free(tok);
    if (!json_object_is_type(root, json_type_object)) {
        snprintf(err, errlen, "GeoJSON invalide: un objet FeatureCollection est attendu");
        json_object_put(root);
        return -1;
    }
    g = calloc(1, sizeof *g);
    if (g == NULL) {
        json_object_put(root);
        snprintf(err, errlen, "mémoire insuffisante");
        return -1;
    }
    g->root = root;
    if (json_object_object_get_ex(root, "features", &features) && features != NULL) {
        size_t n;
        if (!json_object_is_type(features, json_type_array)) {
            snprintf(err, errlen, "GeoJSON invalide: \"features\" n'est pas une liste");
            ea_geojson_free(g);
            return -1;
        }
        n = json_object_array_length(features);
        if (n > max_features) {
            snprintf(err, errlen, "trop d'entités (%zu, au plus %zu)", n, max_features);
            ea_geojson_free(g);
            return -1;
        }
        g->features = calloc(n ? n : 1, sizeof *g->features);
        if (g->features == NULL) {
            snprintf(err, errlen, "mémoire insuffisante");
            ea_geojson_free(g);
            return -1;
        }
        g->nfeatures = n;
        for (size_t i = 0; i < n; i++) {
            g->features[i].index = i + 1;
            gj_feature(&g->features[i], json_object_array_get_idx(features, i));
        }
    }
    *out = g;
    return 0;
}

void ea_geojson_free(ea_geojson *g)
{
    if (g == NULL)
        return;
    json_object_put(g->root);
    free(g->features);
    free(g);
}

const char *ea_geojson_prop(const ea_geojson_feature *f, const char *name)
{
    json_object *v;
    const char *s;
    if (f->props == NULL || name == NULL || !json_object_object_get_ex(f->props, name, &v) || v == NULL)
        return NULL;
    switch (json_object_get_type(v)) {
    case json_type_string:
        s = json_object_get_string(v);
        /* an embedded NUL (\u0000) cannot be stored: treated as absent */
        return s && *s && strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
    case json_type_int:
    case json_type_double:
        s = json_object_get_string(v);
        return s && *s ? s : NULL;
    default:
        return NULL;
    }
}
