/* libFuzzer target for ea_params: query-string parsing, search terms,
 * pagination links and number parsing, with their invariants checked. */
#include "ea_params.h"

#include <apr_general.h>
#include <apr_strings.h>

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

/* Only quote_plus output and the link punctuation may appear. */
static int ea_fz_url_safe(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789_.-~+%=&?:/") == strlen(s);
}

/* The link's query re-parses to the same parameters, sorted by key. */
static void ea_fz_links(apr_pool_t *p, const apr_array_header_t *params, long page)
{
    const char *base = "http://h/x/";
    char *url = ea_page_url(p, base, params, page);
    const char *q = url + strlen(base);
    apr_array_header_t *back;
    const ea_param *b;
    int i, expect = 0;

    ea_fz_check(strncmp(url, base, strlen(base)) == 0 && ea_fz_url_safe(q));
    ea_fz_check(*q == '\0' || *q == '?');
    back = ea_qs_parse(p, *q ? q + 1 : q);
    for (i = 0; i < params->nelts; i++)
        expect += strcmp(((const ea_param *)params->elts)[i].key, "page") != 0;
    ea_fz_check(back->nelts == expect + (page > 0));
    b = (const ea_param *)back->elts;
    for (i = 1; i < back->nelts; i++)
        ea_fz_check(strcmp(b[i - 1].key, b[i].key) <= 0);
    if (page > 0)
        ea_fz_check(atol(ea_qs_get(back, "page")) == page);
}

static void ea_fz_params(apr_pool_t *p, const char *s, long page)
{
    apr_array_header_t *params = ea_qs_parse(p, s);
    const ea_param *prm = (const ea_param *)params->elts;

    if (params->nelts > 0)
        ea_fz_check(ea_qs_get(params, prm[params->nelts - 1].key)
                    == prm[params->nelts - 1].val);
    ea_fz_links(p, params, page);
    ea_fz_check(ea_fz_url_safe(ea_quote_plus(p, s)));
}

static void ea_fz_search(apr_pool_t *p, const char *s)
{
    apr_array_header_t *terms = ea_search_terms(p, s);
    int i;

    for (i = 0; i < terms->nelts; i++) {
        const char *t = APR_ARRAY_IDX(terms, i, const char *);
        ea_fz_check(*t != '\0' && strlen(t) <= strlen(s));
    }
}

/* Every int() string is a Decimal() string with the same value. */
static void ea_fz_numbers(const char *s)
{
    long long iv = 0, dv = 0;
    int irc = ea_parse_int64(s, &iv), over = 0;
    int drc = ea_parse_decimal_trunc(s, &dv, &over);
    char text[32];

    ea_fz_check(irc == 0 || irc == -1 || irc == -2);
    ea_fz_check(drc == 0 || drc == -1);
    if (irc == 0) {
        ea_fz_check(drc == 0 && !over && dv == iv);
        snprintf(text, sizeof text, "%lld", iv);
        ea_fz_check(ea_parse_int64(text, &dv) == 0 && dv == iv);
    } else if (irc == -2) {
        ea_fz_check(drc == 0 && over);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;

    ea_fz_init(&p);
    s = apr_pstrmemdup(p, (const char *)data, size);
    ea_fz_params(p, s, (long)(size % 4) - 1);
    ea_fz_search(p, s);
    ea_fz_numbers(s);
    apr_pool_destroy(p);
    return 0;
}
