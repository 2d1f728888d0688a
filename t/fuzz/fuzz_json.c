/* libFuzzer target for ea_json: the JSON re-emitter, the pretty-printer,
 * string escaping and float formatting, with their invariants checked. */
#include "ea_json.h"

#include <apr_general.h>
#include <apr_strings.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Crash loudly so the fuzzer records the input. */
static void ea_fz_check(int ok)
{
    if (!ok)
        abort();
}

static void ea_fz_init(apr_pool_t **pool)
{
    static int done;

    if (!done) {
        apr_initialize();
        atexit(apr_terminate);
        done = 1;
    }
    apr_pool_create(pool, NULL);
}

/* compact(b) must succeed and reproduce b exactly. */
static void ea_fz_fixed_point(apr_pool_t *p, const ea_buf *b)
{
    ea_buf again;

    ea_buf_init(&again, p, b->len);
    ea_fz_check(ea_json_compact(&again, b->data, b->len) == 0);
    ea_fz_check(again.len == b->len && memcmp(again.data, b->data, b->len) == 0);
}

/* Valid input: compact is a fixed point, and indenting then compacting
 * gives the compact form back.  Invalid input: indent refuses it too. */
static void ea_fz_documents(apr_pool_t *p, const char *in, size_t size)
{
    ea_buf compact, pretty;
    int rc;

    ea_buf_init(&compact, p, 0);
    ea_buf_init(&pretty, p, 0);
    rc = ea_json_compact(&compact, in, size);
    if (rc != 0) {
        ea_fz_check(ea_json_indent(&pretty, in, size, 2) == -1);
        return;
    }
    ea_fz_fixed_point(p, &compact);
    ea_fz_check(ea_json_indent(&pretty, compact.data, compact.len, (int)(size % 9)) == 0);
    ea_fz_check(memchr(pretty.data, '\0', pretty.len) == NULL);
    ea_buf_reset(&compact);
    ea_fz_check(ea_json_compact(&compact, pretty.data, pretty.len) == 0);
    ea_fz_fixed_point(p, &compact);
}

/* Escaped strings are valid JSON that re-compacts to itself. */
static void ea_fz_strings(apr_pool_t *p, const char *in, size_t size)
{
    ea_buf s;
    char *cstr = apr_pstrmemdup(p, in, size);

    ea_buf_init(&s, p, 0);
    ea_json_str(&s, in, size);
    ea_fz_fixed_point(p, &s);
    ea_buf_reset(&s);
    ea_json_datetime(&s, cstr);
    ea_fz_fixed_point(p, &s);
    ea_buf_reset(&s);
    ea_json_numeric_as_float(&s, cstr);
    ea_fz_fixed_point(p, &s);
}

/* repr(float) digits read back to the same double (NaN/Inf print 0.0). */
static void ea_fz_float(const uint8_t *data, size_t size)
{
    char out[32];
    double v;
    int n;

    if (size < sizeof v)
        return;
    memcpy(&v, data, sizeof v);
    n = ea_fmt_pyfloat(out, sizeof out, v);
    ea_fz_check(n > 0 && n < (int)sizeof out && (size_t)n == strlen(out));
    ea_fz_check(strchr(out, '.') != NULL || strchr(out, 'e') != NULL);
    if (isfinite(v))
        ea_fz_check(strtod(out, NULL) == v);
    else
        ea_fz_check(strcmp(out, "0.0") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;

    ea_fz_init(&p);
    ea_fz_documents(p, (const char *)data, size);
    ea_fz_strings(p, (const char *)data, size);
    ea_fz_float(data, size);
    apr_pool_destroy(p);
    return 0;
}
