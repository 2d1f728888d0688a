/* ea_params: query strings, search terms, pagination links and number
 * parsing, reproducing Django / DRF / Python behaviour byte for byte. */
#include "ea_params.h"
#include "ea_buf.h"
#include "ea_utf8.h"

#include <apr_strings.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- Unicode character classes (Python 3.11, Unicode 14.0) --------------- */

/* str.isspace() and re's \s agree on exactly these code points. */
int ea_uni_isspace(long cp)
{
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F))
        return 1;
    if (cp < 0x85)
        return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680
        || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029
        || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Value of a Unicode decimal digit (category Nd), else -1: Python's int()
 * and Decimal() accept these; every Nd block is ten in a row from a zero. */
int ea_uni_decimal(long cp)
{
    static const long zeros[] = {
        0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66,
        0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0,
        0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40,
        0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
        0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
        0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
        0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
        0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0,
        0x1E950, 0x1FBF0
    };
    size_t i;

    if (cp >= '0' && cp <= '9')
        return (int)(cp - '0');
    for (i = 0; i < sizeof zeros / sizeof zeros[0]; i++)
        if (cp >= zeros[i] && cp < zeros[i] + 10)
            return (int)(cp - zeros[i]);
    return -1;
}

/* Decode the code point at *s and advance; invalid bytes give EA_UTF8_BAD. */
static long ea_next_cp(const unsigned char **s, const unsigned char *end)
{
    long cp;

    *s += ea_utf8_decode(*s, (size_t)(end - *s), &cp);
    return cp;
}

/* Pointer just past the code point at s, and whether it is whitespace. */
static const unsigned char *ea_cp_end(const unsigned char *s,
                                      const unsigned char *end, int *space)
{
    long cp = ea_next_cp(&s, end);

    *space = ea_uni_isspace(cp);
    return s;
}

/* Trim str.isspace() characters from both ends of [*s, *end). */
static void ea_trim_space(const unsigned char **s, const unsigned char **end)
{
    const unsigned char *p = *s, *last = *s, *next;
    int space;

    while (p < *end && (next = ea_cp_end(p, *end, &space), space))
        p = next;
    *s = last = p;
    while (p < *end) {
        next = ea_cp_end(p, *end, &space);
        if (!space)
            last = next;
        p = next;
    }
    *end = last;
}

/* ---- query strings (Django QueryDict over urllib.parse.parse_qsl) ------- */

int ea_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copy of s[0..n) with each invalid UTF-8 subpart replaced by U+FFFD. */
static char *ea_utf8_fix(apr_pool_t *p, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    char *out = apr_palloc(p, n * 3 + 1), *o = out;
    size_t i = 0;
    long cp;

    while (i < n) {
        size_t k = ea_utf8_decode(u + i, n - i, &cp);
        if (cp == EA_UTF8_BAD) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(o, s + i, k);
            o += k;
        }
        i += k;
    }
    *o = '\0';
    return out;
}

/* The byte of a %XX escape at s (n bytes left), or -1 if it is not one. */
static int ea_pct_byte(const char *s, size_t n)
{
    int hi, lo;

    if (n < 3 || s[0] != '%')
        return -1;
    hi = ea_hexval((unsigned char)s[1]);
    lo = ea_hexval((unsigned char)s[2]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* unquote_plus(s, errors='replace'): '+' is a space, %XX a byte, a '%'
 * without two hex digits stays literal. */
static char *ea_unquote_plus(apr_pool_t *p, const char *s, size_t n)
{
    char *raw = apr_palloc(p, n + 1);
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int byte = ea_pct_byte(s + i, n - i);
        if (byte >= 0) {
            raw[o++] = (char)byte;
            i += 2;
        } else {
            raw[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    if (ea_utf8_valid(raw, o)) {
        raw[o] = '\0';
        return raw;
    }
    return ea_utf8_fix(p, raw, o);
}

/* Django decodes a query string that is not UTF-8 as ISO-8859-1. */
static const char *ea_latin1_to_utf8(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s), o = 0, i;
    char *out = apr_palloc(p, n * 2 + 1);

    for (i = 0; i < n; i++)
        o += ea_utf8_encode((unsigned char)s[i], out + o);
    out[o] = '\0';
    return out;
}

/* One '&'-separated piece: "k=v", "k" or "k=". */
static void ea_qs_add(apr_array_header_t *arr, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    ea_param *prm = apr_array_push(arr);
    size_t klen = eq ? (size_t)(eq - s) : n;

    prm->key = ea_unquote_plus(arr->pool, s, klen);
    prm->val = eq ? ea_unquote_plus(arr->pool, eq + 1, n - klen - 1) : "";
}

apr_array_header_t *ea_qs_parse(apr_pool_t *p, const char *args)
{
    apr_array_header_t *arr = apr_array_make(p, 8, sizeof(ea_param));
    const char *s, *amp;

    if (args == NULL)
        return arr;
    if (!ea_utf8_valid(args, strlen(args)))
        args = ea_latin1_to_utf8(p, args);
    for (s = args; *s != '\0'; s = *amp ? amp + 1 : amp) {
        amp = strchr(s, '&');
        if (amp == NULL)
            amp = s + strlen(s);
        if (amp > s)
            ea_qs_add(arr, s, (size_t)(amp - s));
    }
    return arr;
}

const char *ea_qs_get(const apr_array_header_t *params, const char *key)
{
    const ea_param *prm = (const ea_param *)params->elts;
    int i;

    for (i = params->nelts - 1; i >= 0; i--)
        if (strcmp(prm[i].key, key) == 0)
            return prm[i].val;
    return NULL;
}

/* ---- search terms (DRF search_smart_split over Django smart_split) ------ */

/* End of a run of characters that are neither whitespace nor quotes. */
static const unsigned char *ea_ss_plain(const unsigned char *s,
                                        const unsigned char *end)
{
    int space;

    while (s < end && *s != '"' && *s != '\'') {
        const unsigned char *next = ea_cp_end(s, end, &space);
        if (space)
            break;
        s = next;
    }
    return s;
}

/* End of the quoted phrase opening at q, or NULL when it is unterminated;
 * a backslash escapes any character but a newline (regex "\\."). */
static const unsigned char *ea_ss_quoted(const unsigned char *q,
                                         const unsigned char *end)
{
    const unsigned char *s = q + 1;
    int space;

    while (s < end && *s != *q) {
        if (*s == '\\') {
            if (s + 1 >= end || s[1] == '\n')
                return NULL;
            s = ea_cp_end(s + 1, end, &space);
        } else {
            s++;
        }
    }
    return s < end ? s + 1 : NULL;
}

/* End of the smart_split token starting at s (not whitespace): plain text
 * joined to complete quoted phrases, else a run of non-whitespace. */
static const unsigned char *ea_ss_token(const unsigned char *s,
                                        const unsigned char *end)
{
    const unsigned char *t = ea_ss_plain(s, end), *q;
    int quoted = 0, space = 0;

    while (t < end && (*t == '"' || *t == '\'')
           && (q = ea_ss_quoted(t, end)) != NULL) {
        t = ea_ss_plain(q, end);
        quoted = 1;
    }
    if (quoted)
        return t;
    for (t = s; t < end; ) {
        q = ea_cp_end(t, end, &space);
        if (space)
            break;
        t = q;
    }
    return t;
}

/* str.replace of the two-character sequence ab by c, in place. */
static size_t ea_replace2(char *s, size_t n, char a, char b, char c)
{
    size_t i = 0, o = 0;

    while (i < n) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[o++] = c;
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    return o;
}

static void ea_ss_push(apr_array_header_t *terms, const char *s, size_t n)
{
    if (n > 0)  /* empty terms match everything: dropping them is equivalent */
        *(const char **)apr_array_push(terms) = apr_pstrmemdup(terms->pool, s, n);
}

/* Django unescape_string_literal: drop the quotes, then \q -> q, \\ -> \. */
static void ea_ss_push_phrase(apr_array_header_t *terms, const char *s, size_t n)
{
    char quote = s[0];
    char *body = apr_pstrmemdup(terms->pool, s + 1, n >= 2 ? n - 2 : 0);
    size_t len = n >= 2 ? n - 2 : 0;

    len = ea_replace2(body, len, '\\', quote, quote);
    len = ea_replace2(body, len, '\\', '\\', '\\');
    ea_ss_push(terms, body, len);
}

/* One sub-term of an unquoted token, with str.strip() applied. */
static void ea_ss_push_stripped(apr_array_header_t *terms,
                                const unsigned char *s, const unsigned char *end)
{
    ea_trim_space(&s, &end);
    ea_ss_push(terms, (const char *)s, (size_t)(end - s));
}

/* One smart_split token: commas trimmed; a quoted phrase kept whole,
 * anything else split on commas. */
static void ea_ss_term(apr_array_header_t *terms, const unsigned char *s,
                       const unsigned char *end)
{
    const unsigned char *comma;

    while (s < end && *s == ',')
        s++;
    while (end > s && end[-1] == ',')
        end--;
    if (s < end && (*s == '"' || *s == '\'') && end[-1] == *s) {
        ea_ss_push_phrase(terms, (const char *)s, (size_t)(end - s));
        return;
    }
    while (s < end) {
        comma = memchr(s, ',', (size_t)(end - s));
        if (comma == NULL)
            comma = end;
        ea_ss_push_stripped(terms, s, comma);
        if (comma == end)
            break;
        s = comma + 1;
    }
}

apr_array_header_t *ea_search_terms(apr_pool_t *p, const char *search)
{
    apr_array_header_t *terms = apr_array_make(p, 4, sizeof(const char *));
    const unsigned char *s, *end, *next;
    int space;

    if (search == NULL)
        return terms;
    s = (const unsigned char *)search;
    end = s + strlen(search);
    while (s < end) {
        next = ea_cp_end(s, end, &space);
        if (!space) {
            next = ea_ss_token(s, end);
            ea_ss_term(terms, s, next);
        }
        s = next;
    }
    return terms;
}

/* ---- pagination links (DRF replace_query_param / remove_query_param) --- */

char *ea_quote_plus(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'
            || c == '~') {
            *o++ = (char)c;
        } else if (c == ' ') {
            *o++ = '+';
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

typedef struct ea_sorted_param {
    const ea_param *prm;
    int pos;             /* original position: makes qsort stable */
} ea_sorted_param;

/* Python sorts str keys by code point, which is UTF-8 byte order. */
static int ea_sorted_param_cmp(const void *a, const void *b)
{
    const ea_sorted_param *x = a, *y = b;
    int c = strcmp(x->prm->key, y->prm->key);

    return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

char *ea_page_url(apr_pool_t *p, const char *base_url,
                  const apr_array_header_t *params, long page)
{
    const ea_param *prm = (const ea_param *)params->elts;
    ea_sorted_param *list = apr_pcalloc(p, sizeof(*list) * (params->nelts + 1));
    ea_param page_prm = { "page", NULL };
    ea_buf url;
    int i, n = 0;

    for (i = 0; i < params->nelts; i++)
        if (strcmp(prm[i].key, "page") != 0) {
            list[n].prm = &prm[i];
            list[n].pos = n;
            n++;
        }
    if (page > 0) {
        page_prm.val = apr_ltoa(p, page);
        list[n].prm = &page_prm;
        list[n].pos = n;
        n++;
    }
    qsort(list, (size_t)n, sizeof(*list), ea_sorted_param_cmp);
    ea_buf_init(&url, p, strlen(base_url) + 64);
    ea_buf_puts(&url, base_url);
    for (i = 0; i < n; i++) {
        ea_buf_putc(&url, i ? '&' : '?');
        ea_buf_puts(&url, ea_quote_plus(p, list[i].prm->key));
        ea_buf_putc(&url, '=');
        ea_buf_puts(&url, ea_quote_plus(p, list[i].prm->val));
    }
    return url.data;
}

/* ---- numbers (Python int() and decimal.Decimal()) ----------------------- */

typedef struct ea_numcur {
    const unsigned char *s, *end;
    int skip_underscores;    /* Decimal() drops every '_' */
} ea_numcur;

/* Next character as Python's number parsers see it: ASCII unchanged,
 * other whitespace as ' ', other decimal digits as '0'..'9', anything
 * else as '?'; 0 at the end. */
static int ea_num_next(ea_numcur *c)
{
    long cp;
    int d;

    do {
        if (c->s >= c->end)
            return 0;
        cp = ea_next_cp(&c->s, c->end);
    } while (c->skip_underscores && cp == '_');
    if (cp >= 0 && cp < 0x80)
        return (int)cp;
    if (ea_uni_isspace(cp))
        return ' ';
    d = ea_uni_decimal(cp);
    return d >= 0 ? '0' + d : '?';
}

static int ea_is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/* Py_ISSPACE: what int() skips around the digits once mapped to ASCII. */
static int ea_int_space(int ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* Python 3.11 refuses int() of more than 4300 digits (ValueError). */
#define EA_INT_MAX_DIGITS 4300

int ea_parse_int64(const char *s, long long *out)
{
    ea_numcur c = { (const unsigned char *)s, (const unsigned char *)s + strlen(s), 0 };
    unsigned long long acc = 0, limit = (unsigned long long)LLONG_MAX;
    size_t ndigits = 0;
    int ch, neg = 0, over = 0, after_us = 0;

    while (ea_int_space(ch = ea_num_next(&c)))
        ;
    if (ch == '+' || ch == '-') {
        neg = ch == '-';
        ch = ea_num_next(&c);
    }
    if (!ea_is_digit(ch))
        return -1;
    limit += (unsigned)neg;     /* -2^63 fits, +2^63 does not */
    for (; ea_is_digit(ch) || (ch == '_' && !after_us); ch = ea_num_next(&c)) {
        after_us = ch == '_';
        if (after_us)
            continue;
        ndigits++;
        if (acc > (limit - (unsigned)(ch - '0')) / 10)
            over = 1;
        else
            acc = acc * 10 + (unsigned)(ch - '0');
    }
    while (ea_int_space(ch))
        ch = ea_num_next(&c);
    if (ch != 0 || after_us || ndigits > EA_INT_MAX_DIGITS)
        return -1;
    if (over)
        return -2;
    *out = neg ? (long long)(0 - acc) : (long long)acc;
    return 0;
}

/* libmpdec limits for an exact Decimal built from a string (64-bit). */
#define EA_DEC_EMAX    999999999999999999LL
#define EA_DEC_ETINY (-1999999999999999997LL)
#define EA_DEC_EXPINF  2000000000000000001LL
#define EA_DEC_KEEP 20      /* leading significant digits kept for truncation */

typedef struct ea_decimal {
    int neg;
    char sig[EA_DEC_KEEP];  /* first significant digits (leading zeros dropped) */
    size_t nsig;            /* count of all significant digits */
    size_t nfrac;           /* digits after the decimal point */
    long long exp10;        /* value = sig * 10^exp10 */
} ea_decimal;

/* digits [ '.' digits ]: needs at least one digit; returns the next char. */
static int ea_dec_mantissa(ea_numcur *c, int ch, ea_decimal *d)
{
    int any = 0, dot = 0;

    for (;; ch = ea_num_next(c)) {
        if (ch == '.' && !dot) {
            dot = 1;
            continue;
        }
        if (!ea_is_digit(ch))
            break;
        any = 1;
        d->nfrac += (size_t)dot;
        if (d->nsig == 0 && ch == '0')
            continue;
        if (d->nsig < EA_DEC_KEEP)
            d->sig[d->nsig] = (char)ch;
        d->nsig++;
    }
    return any ? ch : -1;
}

/* [eE] [+-] digits, saturating like strtoll; returns the next char. */
static int ea_dec_exponent(ea_numcur *c, int ch, long long *e)
{
    unsigned long long mag = 0, cap = (unsigned long long)LLONG_MAX + 1;
    int neg = 0, any = 0;

    *e = 0;
    if (ch != 'e' && ch != 'E')
        return ch;
    ch = ea_num_next(c);
    if (ch == '+' || ch == '-') {
        neg = ch == '-';
        ch = ea_num_next(c);
    }
    for (; ea_is_digit(ch); ch = ea_num_next(c), any = 1)
        mag = mag > (cap - 9) / 10 ? cap : mag * 10 + (unsigned)(ch - '0');
    if (!any)
        return -1;
    if (neg)
        *e = mag >= cap ? LLONG_MIN : -(long long)mag;
    else
        *e = mag >= cap - 1 ? LLONG_MAX : (long long)mag;
    return ch;
}

/* Would Decimal(s) be exact under the maximum context (else it raises)? */
static int ea_dec_exact(const ea_decimal *d)
{
    if (d->nsig == 0)
        return d->exp10 >= EA_DEC_ETINY && d->exp10 <= EA_DEC_EMAX;
    return d->exp10 >= EA_DEC_ETINY
        && d->exp10 + (long long)d->nsig - 1 <= EA_DEC_EMAX;
}

/* int(Decimal): truncate toward zero; 1 when outside int64. */
static int ea_dec_truncate(const ea_decimal *d, long long *out)
{
    unsigned long long v = 0, limit = (unsigned long long)LLONG_MAX + (unsigned)d->neg;
    long long intdig = (long long)d->nsig + d->exp10, i;

    *out = 0;
    if (d->nsig == 0 || intdig <= 0)
        return 0;
    if (intdig > 19)
        return 1;
    for (i = 0; i < intdig; i++)
        v = v * 10 + (unsigned)(i < (long long)d->nsig ? d->sig[i] - '0' : 0);
    if (v > limit)
        return 1;
    *out = d->neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

/* Parse the finite forms of Python's Decimal() grammar into d. */
static int ea_dec_parse(const char *s, ea_decimal *d)
{
    ea_numcur c = { (const unsigned char *)s, (const unsigned char *)s + strlen(s), 1 };
    long long e;
    int ch;

    ea_trim_space(&c.s, &c.end);
    ch = ea_num_next(&c);
    if (ch == '+' || ch == '-') {
        d->neg = ch == '-';
        ch = ea_num_next(&c);
    }
    /* Infinity, NaN and sNaN parse but are not finite: "Enter a number." */
    ch = ea_dec_mantissa(&c, ch, d);
    if (ch < 0 || (ch = ea_dec_exponent(&c, ch, &e)) != 0)
        return -1;
    if (e < LLONG_MIN + (long long)d->nfrac)
        d->exp10 = LLONG_MIN + 1;
    else
        d->exp10 = e - (long long)d->nfrac;
    if (d->exp10 > EA_DEC_EXPINF)
        d->exp10 = EA_DEC_EXPINF;
    return ea_dec_exact(d) ? 0 : -1;
}

int ea_parse_decimal_trunc(const char *s, long long *truncated, int *overflow)
{
    ea_decimal d;
    long long v;

    memset(&d, 0, sizeof d);
    if (ea_dec_parse(s, &d) < 0)
        return -1;
    *overflow = ea_dec_truncate(&d, &v);
    *truncated = *overflow ? (d.neg ? LLONG_MIN : LLONG_MAX) : v;
    return 0;
}

int ea_parse_size(const char *s, long long max, long long *out)
{
    long long v = 0, mult = 1;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (max - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    switch (*p) {
    case 'K': case 'k': mult = 1024; p++; break;
    case 'M': case 'm': mult = 1024LL * 1024; p++; break;
    case 'G': case 'g': mult = 1024LL * 1024 * 1024; p++; break;
    default: break;
    }
    if (*p || v > max / mult)
        return -1;
    *out = v * mult;
    return 0;
}
