/* ea_json: JSON output byte-compatible with DRF's JSONRenderer (Python json). */
#include "ea_json.h"
#include "ea_utf8.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EA_JSON_MAX_DEPTH 512
/* Python's json.dumps(indent=N, separators=(',', ':')) puts no space after ':'. */
#define EA_JSON_KEY_SEP ": "   /* DRF INDENT_SEPARATORS = (',', ': ') */

/* ---- strings ------------------------------------------------------------ */

/* The escape json.dumps(ensure_ascii=False) + DRF use for cp, in tmp;
 * NULL when the character is copied unchanged. */
static const char *ea_json_escape_for(long cp, char tmp[8])
{
    switch (cp) {
    case '"':  return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case 0x2028: return "\\u2028";
    case 0x2029: return "\\u2029";
    case EA_UTF8_BAD: return "\xEF\xBF\xBD";
    default:
        break;
    }
    if (cp >= 0x20)
        return NULL;
    memcpy(tmp, "\\u00", 4);
    tmp[4] = "0123456789abcdef"[cp >> 4];
    tmp[5] = "0123456789abcdef"[cp & 15];
    tmp[6] = '\0';
    return tmp;
}

/* How many leading bytes of s[0..n) JSON copies unchanged without a
 * look at them one by one: printable ASCII and DEL, other than '"' and
 * '\\'.  Eight bytes are tested at once: in each of the four terms below
 * the lowest flagged byte is a true hit (a borrow only moves upwards), so
 * the lowest set bit of their union marks the first byte that ends the run. */
static inline size_t ea_json_plain_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;

    for (; n - i >= 8; i += 8) {
        uint64_t w, q, bs, hit;
        memcpy(&w, s + i, 8);
        q = w ^ (ones * '"');
        bs = w ^ (ones * '\\');
        hit = (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w) & high;
        if (hit)
            return i + (size_t)(__builtin_ctzll(hit) >> 3);
    }
#endif
    while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

/* Append s escaped (no surrounding quotes); unchanged runs are copied whole. */
static void ea_json_esc(ea_buf *b, const unsigned char *s, size_t len)
{
    size_t start = 0, i = 0;
    char tmp[8];

    while (i < len) {
        i += ea_json_plain_run(s + i, len - i);
        if (i == len)
            break;
        long cp = s[i];
        size_t n = cp < 0x80 ? 1 : ea_utf8_decode(s + i, len - i, &cp);
        const char *rep = ea_json_escape_for(cp, tmp);

        if (rep != NULL) {
            ea_buf_put(b, (const char *)s + start, i - start);
            ea_buf_puts(b, rep);
            start = i + n;
        }
        i += n;
    }
    ea_buf_put(b, (const char *)s + start, i - start);
}

void ea_json_str(ea_buf *b, const char *s, size_t len)
{
    ea_buf_putc(b, '"');
    ea_json_esc(b, (const unsigned char *)s, len);
    ea_buf_putc(b, '"');
}

void ea_json_cstr(ea_buf *b, const char *s)
{
    if (s == NULL)
        ea_buf_puts(b, "null");
    else
        ea_json_str(b, s, strlen(s));
}

/* ---- numbers ------------------------------------------------------------ */

/* The P-digit decimal one unit above or below the correctly rounded one:
 * at a power of two the round-trip interval is lopsided, so the nearest
 * P-digit value can miss it while its neighbour is inside (Python's repr
 * then has P digits).  Writes "Me<exp>" into out. */
static void ea_sci_neighbour(char *out, size_t size, const char *sci, int delta)
{
    unsigned long long m = 0;
    int frac = 0, seen_dot = 0;
    const char *p = sci[0] == '-' ? sci + 1 : sci;

    for (; *p != 'e'; p++) {
        if (*p == '.')
            seen_dot = 1;
        else {
            m = m * 10 + (unsigned)(*p - '0');
            frac += seen_dot;
        }
    }
    m = delta > 0 ? m + 1 : m - 1;
    snprintf(out, size, "%s%llue%d", sci[0] == '-' ? "-" : "", m, atoi(p + 1) - frac);
}

/* Only a normal power of two has a smaller gap below than above it. */
static int ea_lopsided(double v)
{
    int e;

    return fabs(v) > DBL_MIN && fabs(frexp(v, &e)) == 0.5;
}

/* Shortest text of v that reads back as v (Python repr's digits), either
 * "%.*e" form or the "Me<exp>" form of a neighbour. */
static void ea_shortest_sci(char *sci, size_t size, double v)
{
    char alt[40];
    int prec, delta, lopsided = ea_lopsided(v);

    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, size, "%.*e", prec - 1, v);
        if (strtod(sci, NULL) == v)
            return;
        for (delta = -1; delta <= 1 && lopsided && prec > 1; delta += 2) {
            ea_sci_neighbour(alt, sizeof alt, sci, delta);
            if (strtod(alt, NULL) == v) {
                snprintf(sci, size, "%s", alt);
                return;
            }
        }
    }
    snprintf(sci, size, "%.16e", v);
}

/* Split "-d.ddde+XX" or "-Me<exp>" into significant digits (no trailing
 * zeros) and the decimal exponent of the first digit; returns the count. */
static int ea_sci_digits(const char *sci, char *digits, int *exp10)
{
    const char *p = sci;
    int n = 0, frac = 0, seen_dot = 0;

    if (*p == '-')
        p++;
    for (; *p != 'e'; p++) {
        if (*p == '.')
            seen_dot = 1;
        else {
            digits[n++] = *p;
            frac += seen_dot;
        }
    }
    /* value = digits * 10^(e - frac); the first digit sits at n-1 above that */
    *exp10 = atoi(p + 1) - frac + n - 1;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    return n;
}

/* Python's 'r' layout: d[.ddd]e+XX when exp10 < -4 or >= 16. */
static int ea_layout_sci(char *out, size_t outlen, int neg,
                         const char *d, int n, int exp10)
{
    return snprintf(out, outlen, "%s%c%s%.*se%c%02d", neg ? "-" : "", d[0],
                    n > 1 ? "." : "", n - 1, d + 1, exp10 < 0 ? '-' : '+',
                    exp10 < 0 ? -exp10 : exp10);
}

/* Fixed layout: digits around the point, "0.000ddd", or "ddd00.0". */
static int ea_layout_fixed(char *out, size_t outlen, int neg,
                           const char *d, int n, int exp10)
{
    char tmp[48];
    int len = 0, i;

    if (neg)
        tmp[len++] = '-';
    if (exp10 < 0) {
        tmp[len++] = '0';
        tmp[len++] = '.';
        for (i = -1; i > exp10; i--)
            tmp[len++] = '0';
        memcpy(tmp + len, d, (size_t)n);
        len += n;
    } else {
        for (i = 0; i <= exp10; i++)
            tmp[len++] = i < n ? d[i] : '0';
        tmp[len++] = '.';
        if (n > exp10 + 1) {
            memcpy(tmp + len, d + exp10 + 1, (size_t)(n - exp10 - 1));
            len += n - exp10 - 1;
        } else {
            tmp[len++] = '0';
        }
    }
    tmp[len] = '\0';
    return snprintf(out, outlen, "%s", tmp);
}

int ea_fmt_pyfloat(char *out, size_t outlen, double v)
{
    char sci[40], digits[24];
    int n, exp10;

    if (!isfinite(v))
        v = 0.0;
    ea_shortest_sci(sci, sizeof sci, v);
    n = ea_sci_digits(sci, digits, &exp10);
    if (exp10 < -4 || exp10 >= 16)
        return ea_layout_sci(out, outlen, sci[0] == '-', digits, n, exp10);
    return ea_layout_fixed(out, outlen, sci[0] == '-', digits, n, exp10);
}

void ea_json_numeric_as_float(ea_buf *b, const char *numeric)
{
    double v = 0.0;
    char tmp[32];
    int n;

    if (numeric != NULL && *numeric != '\0')
        v = strtod(numeric, NULL);  /* float(Decimal) is correctly rounded too */
    n = ea_fmt_pyfloat(tmp, sizeof tmp, v);
    ea_buf_put(b, tmp, (size_t)n);
}

/* ---- dates -------------------------------------------------------------- */

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

void ea_json_datetime(ea_buf *b, const char *pg)
{
    char out[40];
    size_t n = 0, fd = 0;
    const char *f;

    if (pg == NULL) {
        ea_buf_puts(b, "null");
        return;
    }
    /* "YYYY-MM-DD?HH:MM:SS" with ' ' or 'T' between: anything else (BC,
     * infinity, 5-digit years) is passed through as text. */
    if (strlen(pg) < 19 || !all_digits(pg, 4) || pg[4] != '-' || !all_digits(pg + 5, 2)
        || pg[7] != '-' || !all_digits(pg + 8, 2) || (pg[10] != ' ' && pg[10] != 'T')
        || !all_digits(pg + 11, 2) || pg[13] != ':' || !all_digits(pg + 14, 2) || pg[16] != ':'
        || !all_digits(pg + 17, 2)
        || (pg[19] != '\0' && pg[19] != '.' && pg[19] != '+' && pg[19] != '-')) {
        ea_json_str(b, pg, strlen(pg));
        return;
    }
    memcpy(out, pg, 19);
    out[10] = 'T';
    n = 19;
    f = pg + 19;
    if (*f == '.') {
        /* microseconds, padded to six digits (PostgreSQL trims zeros);
         * Python's isoformat() omits them only when they are all zero */
        char us[7] = "000000";
        for (f++; *f >= '0' && *f <= '9'; f++)
            if (fd < 6)
                us[fd++] = *f;
        if (strcmp(us, "000000") != 0) {
            out[n++] = '.';
            memcpy(out + n, us, 6);
            n += 6;
        }
    }
    /* The session runs in UTC: the offset that follows is +00. */
    out[n++] = 'Z';
    ea_buf_putc(b, '"');
    ea_buf_put(b, out, n);
    ea_buf_putc(b, '"');
}

/* ---- re-emitting JSON text ---------------------------------------------- */

typedef struct ea_jp {
    const unsigned char *p, *end;
    ea_buf *out;
    int indent;          /* < 0: compact */
} ea_jp;

static int ea_jp_value(ea_jp *j, int depth);

static void ea_jp_ws(ea_jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
                             || *j->p == '\r'))
        j->p++;
}

/* Python's newline_indent: "\n" plus indent spaces per open container. */
static void ea_jp_newline(ea_jp *j, int depth)
{
    size_t n;

    if (j->indent < 0)
        return;
    n = (size_t)j->indent * (size_t)depth;
    ea_buf_putc(j->out, '\n');
    memset(ea_buf_reserve(j->out, n), ' ', n);
    ea_buf_commit(j->out, n);
}

static int ea_hex4(const unsigned char *p, const unsigned char *end, long *v)
{
    int i;

    *v = 0;
    if (end - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = (*v << 4) | d;
    }
    return 0;
}

/* A \uXXXX escape (j->p just after the 'u'): pairs become one code point,
 * a lone surrogate is passed through as written. */
static int ea_jp_unicode(ea_jp *j)
{
    const unsigned char *esc = j->p - 2;
    long cp, lo;
    char utf8[4];

    if (ea_hex4(j->p, j->end, &cp) < 0)
        return -1;
    j->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && j->end - j->p >= 6 && j->p[0] == '\\'
        && j->p[1] == 'u' && ea_hex4(j->p + 2, j->end, &lo) == 0
        && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        j->p += 6;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        ea_buf_put(j->out, (const char *)esc, 6);
        return 0;
    }
    ea_json_esc(j->out, (const unsigned char *)utf8, ea_utf8_encode(cp, utf8));
    return 0;
}

/* One backslash escape (j->p on the character after the backslash). */
static int ea_jp_escape(ea_jp *j)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;
    unsigned char c;

    if (j->p >= j->end)
        return -1;
    c = *j->p++;
    if (c == 'u')
        return ea_jp_unicode(j);
    hit = c ? strchr(from, c) : NULL;
    if (hit == NULL)
        return -1;
    ea_json_esc(j->out, (const unsigned char *)&to[hit - from], 1);
    return 0;
}

/* A string (j->p on the opening quote), re-escaped like ea_json_str.  A
 * run of text up to a quote or backslash is copied as it is when it was
 * all plain ASCII; only one with other UTF-8 goes through ea_json_esc. */
static int ea_jp_string(ea_jp *j)
{
    const unsigned char *run;
    int wide = 0;     /* the run holds a multi-byte character */
    long cp;

    j->p++;
    ea_buf_putc(j->out, '"');
    for (run = j->p; j->p < j->end; ) {
        j->p += ea_json_plain_run(j->p, (size_t)(j->end - j->p));
        if (j->p >= j->end)
            break;
        unsigned char c = *j->p;
        if (c == '"' || c == '\\') {
            if (wide)
                ea_json_esc(j->out, run, (size_t)(j->p - run));
            else
                ea_buf_put(j->out, (const char *)run, (size_t)(j->p - run));
            j->p++;
            if (c == '"') {
                ea_buf_putc(j->out, '"');
                return 0;
            }
            if (ea_jp_escape(j) < 0)
                return -1;
            run = j->p;
            wide = 0;
        } else if (c < 0x20) {
            return -1;
        } else {
            /* RFC 8259 text is UTF-8: refuse what Python could not decode. */
            j->p += ea_utf8_decode(j->p, (size_t)(j->end - j->p), &cp);
            if (cp == EA_UTF8_BAD)
                return -1;
            wide = 1;
        }
    }
    return -1;
}

static const unsigned char *ea_skip_digits(const unsigned char *p,
                                           const unsigned char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* Scan a JSON number at p; returns its end (NULL if malformed) and sets
 * *is_int when it has neither fraction nor exponent. */
static const unsigned char *ea_scan_number(const unsigned char *p,
                                           const unsigned char *end, int *is_int)
{
    const unsigned char *q;

    *is_int = 1;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        p = ea_skip_digits(p, end);
    else
        return NULL;
    if (p < end && *p == '.') {
        q = ea_skip_digits(p + 1, end);
        if (q == p + 1)
            return NULL;
        p = q;
        *is_int = 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        q = ea_skip_digits(p, end);
        if (q == p)
            return NULL;
        p = q;
        *is_int = 0;
    }
    return p;
}

/* Integers are copied; other numbers become the float Python would print. */
/* Is the JSON number text p[0..n) (not an integer) what Python's repr
 * prints for the float it reads as?  True for plain decimals of at most 15
 * significant digits without a trailing zero, from 0.0001 up: 15 digits
 * survive the trip through a double, so no shorter text reads as the
 * same double, and Python writes such values without an exponent. */
static int ea_float_text_is_repr(const unsigned char *p, size_t n)
{
    size_t i = p[0] == '-', sig = 0, lead = 0;
    int seen_dot = 0, nonzero = 0;
    if (n == 0 || p[n - 1] == '0' || p[n - 1] == '.')
        return 0;
    for (; i < n; i++) {
        if (p[i] == '.') {
            if (seen_dot)
                return 0;
            seen_dot = 1;
        } else if (p[i] >= '0' && p[i] <= '9') {
            if (p[i] != '0')
                nonzero = 1;
            if (nonzero)
                sig++;
            else if (seen_dot)
                lead++;   /* zeros between the point and the first digit */
        } else {
            return 0;     /* an exponent */
        }
    }
    return seen_dot && nonzero && sig <= 15 && lead <= 3;
}

/* The length of the prefix of the JSON number text p[0..n) (not an
 * integer) that is Python's repr of the float it reads as, or 0 when the
 * float must be printed.  Zeros that end a fraction change no value, so
 * "262.70" is 262.7 and "12.000" is 12.0: they are dropped, keeping one
 * digit after the point, and the rest is checked by ea_float_text_is_repr;
 * "D.0" with at most 15 significant digits in D is repr's text too. */
static size_t ea_float_repr_len(const unsigned char *p, size_t n)
{
    size_t dot = 0, m = n, sig = 0;
    int nonzero = 0;

    for (size_t i = p[0] == '-'; i < n; i++) {
        if (p[i] == '.')
            dot = i;
        else if (p[i] < '0' || p[i] > '9')
            return 0;     /* an exponent */
    }
    if (dot == 0)
        return 0;
    while (m > dot + 2 && p[m - 1] == '0')
        m--;
    if (p[m - 1] != '0')
        return ea_float_text_is_repr(p, m) ? m : 0;
    for (size_t i = p[0] == '-'; i < dot; i++) {
        nonzero |= p[i] != '0';
        sig += nonzero;
    }
    return sig <= 15 ? m : 0;
}

static int ea_jp_number(ea_jp *j)
{
    int is_int;
    const unsigned char *e = ea_scan_number(j->p, j->end, &is_int);
    size_t n, m;
    char *text, num[32];

    if (e == NULL)
        return -1;
    n = (size_t)(e - j->p);
    if (is_int) {
        /* Python reads "-0" as the int 0; every other integer is kept as is. */
        if (n == 2 && j->p[0] == '-' && j->p[1] == '0')
            ea_buf_putc(j->out, '0');
        else
            ea_buf_put(j->out, (const char *)j->p, n);
    } else if ((m = ea_float_repr_len(j->p, n)) > 0) {
        ea_buf_put(j->out, (const char *)j->p, m);
    } else {
        /* Borrow the buffer's spare room as strtod's NUL-terminated copy. */
        text = ea_buf_reserve(j->out, n);
        memcpy(text, j->p, n);
        text[n] = '\0';
        n = (size_t)ea_fmt_pyfloat(num, sizeof num, strtod(text, NULL));
        ea_buf_put(j->out, num, n);
        n = (size_t)(e - j->p);
    }
    j->p += n;
    return 0;
}

static int ea_jp_literal(ea_jp *j, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return -1;
    ea_buf_put(j->out, word, n);
    j->p += n;
    return 0;
}

/* One member of an object: "key":value. */
static int ea_jp_member(ea_jp *j, int depth)
{
    if (j->p >= j->end || *j->p != '"' || ea_jp_string(j) < 0)
        return -1;
    ea_jp_ws(j);
    if (j->p >= j->end || *j->p != ':')
        return -1;
    j->p++;
    if (j->indent < 0)
        ea_buf_putc(j->out, ':');
    else
        ea_buf_put(j->out, EA_JSON_KEY_SEP, sizeof EA_JSON_KEY_SEP - 1);
    ea_jp_ws(j);
    return ea_jp_value(j, depth);
}

/* An array or object (j->p on the opening bracket); depth counts the
 * containers already open around it. */
static int ea_jp_container(ea_jp *j, int depth)
{
    int is_obj = *j->p == '{';
    char close = is_obj ? '}' : ']';

    if (depth >= EA_JSON_MAX_DEPTH)
        return -1;
    ea_buf_putc(j->out, (char)*j->p++);
    ea_jp_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        ea_buf_putc(j->out, close);
        return 0;
    }
    for (;;) {
        ea_jp_newline(j, depth + 1);
        if ((is_obj ? ea_jp_member(j, depth + 1) : ea_jp_value(j, depth + 1)) < 0)
            return -1;
        ea_jp_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == close)
            break;
        if (*j->p != ',')
            return -1;
        j->p++;
        ea_buf_putc(j->out, ',');
        ea_jp_ws(j);
    }
    j->p++;
    ea_jp_newline(j, depth);
    ea_buf_putc(j->out, close);
    return 0;
}

static int ea_jp_value(ea_jp *j, int depth)
{
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '{':
    case '[':
        return ea_jp_container(j, depth);
    case '"':
        return ea_jp_string(j);
    case 't':
        return ea_jp_literal(j, "true");
    case 'f':
        return ea_jp_literal(j, "false");
    case 'n':
        return ea_jp_literal(j, "null");
    default:
        return ea_jp_number(j);
    }
}

/* A whole document: one value, only whitespace around it. */
static int ea_jp_document(ea_buf *b, const char *json, size_t len, int indent)
{
    ea_jp j;

    j.p = (const unsigned char *)json;
    j.end = j.p + len;
    j.out = b;
    j.indent = indent;
    ea_jp_ws(&j);
    if (ea_jp_value(&j, 0) < 0)
        return -1;
    ea_jp_ws(&j);
    return j.p == j.end ? 0 : -1;
}

int ea_json_compact(ea_buf *b, const char *json, size_t len)
{
    return ea_jp_document(b, json, len, -1);
}

int ea_json_indent(ea_buf *out, const char *json, size_t len, int indent)
{
    return ea_jp_document(out, json, len, indent < 0 ? 0 : indent);
}
