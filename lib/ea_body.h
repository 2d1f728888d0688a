/* ea_body: request bodies parsed as DRF's parsers do (docs/decisions.md §2.3):
 * application/json (Python's json module, its error messages included),
 * application/x-www-form-urlencoded and multipart/form-data (values as
 * strings, the last of repeated keys wins as QueryDict.get), into one
 * json-c object.  Pure: no httpd; json-c objects are released by a cleanup
 * on the pool given. */
#ifndef EA_BODY_H
#define EA_BODY_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <stddef.h>

struct json_object;

/* Deepest nesting accepted, the top-level container included: ea_json_compact
 * (which prints stored JSON back) refuses anything deeper than 512. */
#define EA_BODY_MAX_DEPTH 512

/* A file part of a multipart body (kept for upload endpoints). */
typedef struct ea_body_file {
    const char *name;          /* form field name */
    const char *filename;      /* as sent by the client */
    const char *content_type;  /* of the part; "application/octet-stream" if none */
    const char *data;          /* points into the body */
    size_t len;
} ea_body_file;

typedef struct ea_body {
    struct json_object *data;  /* parsed value (any JSON type for JSON bodies) */
    int is_form;               /* form or multipart: values are strings */
    apr_array_header_t *files; /* ea_body_file */
    const char *detail;        /* on failure: the message of {"detail": ...} */
} ea_body;

/* Parse body[0..len) according to content_type (the header value, NULL when
 * absent).  Returns 0 (out->data set; an empty body gives an empty object),
 * 400 (malformed: "JSON parse error - ...", "Multipart form parse error -
 * ...") or 415 (unsupported media type or charset), with out->detail set. */
int ea_body_parse(apr_pool_t *p, const char *content_type, const char *body, size_t len,
                  ea_body *out);

/* Python's json.loads(text) with DRF's JSONParser rules (NaN, Infinity
 * refused), nesting limited to max_depth.  Integers beyond 64 bits become
 * json-c doubles that keep their digits as text (ea_body_bigint).  Returns
 * 0 and *out (caller owns it: json_object_put), or -1 and *err, the
 * message Python would give ("Expecting value: line 1 column 1 (char 0)").
 * text must be valid UTF-8; lone surrogates given as \ud800 escapes are
 * kept as 3-byte sequences (ea_body_has_surrogate finds them). */
int ea_body_json(apr_pool_t *p, const char *text, size_t len, int max_depth,
                 struct json_object **out, const char **err);

/* Python's message for invalid UTF-8 in s[0..n), as bytes.decode('utf-8')
 * raises it ("'utf-8' codec can't decode byte 0xff in position 0: invalid
 * start byte"), or NULL when s is valid. */
const char *ea_body_utf8_error(apr_pool_t *p, const char *s, size_t n);

/* 1 when v is a JSON integer too large for int64 (kept as text). */
int ea_body_bigint(struct json_object *v);

/* The first surrogate code point (0xD800..0xDFFF) encoded in s, or 0. */
long ea_body_has_surrogate(const char *s, size_t n);

#endif
