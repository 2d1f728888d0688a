/* ea_params: query strings, search terms and pagination links, as Django,
 * django-filter and DRF read and write them. */
#ifndef EA_PARAMS_H
#define EA_PARAMS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <stddef.h>

typedef struct ea_param {
    const char *key;   /* decoded */
    const char *val;   /* decoded ("" for "a" and "a=") */
} ea_param;

/* Parse an application/x-www-form-urlencoded query string (args may be
 * NULL) into an array of ea_param in order, like Django's QueryDict:
 * '&' and ';'? -> only '&' separates; '+' is a space; %XX decoded
 * (invalid escapes kept literally); empty pieces skipped; keys without
 * '=' get "".  Decoded bytes that are not valid UTF-8 are replaced by
 * U+FFFD (as Python decodes with errors='replace'). */
apr_array_header_t *ea_qs_parse(apr_pool_t *p, const char *args);

/* At most this many parameters in one query string (docs/security.md): every one
 * is looked up, sorted and copied into pagination links.  Django refuses
 * more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1000); no client of this API
 * sends more than a dozen. */
#define EA_QS_MAX_PARAMS 64

/* The LAST value given for key (QueryDict.get), or NULL when absent. */
const char *ea_qs_get(const apr_array_header_t *params, const char *key);

/* DRF SearchFilter term splitting (search_smart_split in DRF 3.16):
 * split on whitespace keeping quoted phrases ("..." or '...', with
 * backslash escapes) together; trim commas around each token; an
 * unquoted token is further split on commas; empty pieces dropped.
 * Returns an array of const char *. */
apr_array_header_t *ea_search_terms(apr_pool_t *p, const char *search);

/* Percent-encode like Python's urllib.parse.quote_plus (safe: A-Z a-z
 * 0-9 _ . - ~; space -> '+'; everything else %XX upper-case). */
char *ea_quote_plus(apr_pool_t *p, const char *s);

/* Build a pagination link as DRF's replace_query_param /
 * remove_query_param do: base_url (scheme://host/path, no query) plus
 * every parameter of params re-encoded with quote_plus and SORTED BY KEY
 * (stable: repeated keys keep their order), where "page" is replaced by
 * page (page > 0) or removed (page <= 0).  No '?' when nothing is left. */
char *ea_page_url(apr_pool_t *p, const char *base_url,
                  const apr_array_header_t *params, long page);

/* Parse a string the way Python's int() does for base 10: optional
 * surrounding whitespace, optional sign, digits (underscores between
 * digits allowed).  Returns 0 and sets *out on success, -1 if invalid,
 * -2 if it does not fit in a signed 64-bit integer. */
int ea_parse_int64(const char *s, long long *out);

/* django.forms.DecimalField as used by django-filter NumberFilter:
 * strip whitespace; accept what Python's Decimal() accepts except
 * NaN/Infinity ("1", "-2.50", "1e3", ".5", "5."); on success return 0 and
 * set *truncated to the value truncated toward zero (as int(Decimal)) and
 * *overflow to 1 when that does not fit in int64.  -1 when invalid
 * ("Enter a number."). */
int ea_parse_decimal_trunc(const char *s, long long *truncated, int *overflow);

/* Python's str.isspace() for one code point, and the value of a Unicode
 * decimal digit (category Nd) or -1: what int() and Decimal() accept. */
/* A size in bytes for a directive: ASCII digits with an optional K, M or G
 * suffix (any case, powers of 1024), at most max.  0, or -1 when s is not
 * one (overflow included). */
int ea_parse_size(const char *s, long long max, long long *out);
/* The value of an ASCII hex digit, or -1. */
int ea_hexval(int c);
int ea_uni_isspace(long cp);
int ea_uni_decimal(long cp);

#endif
