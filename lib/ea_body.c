/* ea_body: request bodies as DRF's JSONParser, FormParser and
 * MultiPartParser read them (see ea_body.h). */
#include "ea_body.h"
#include "ea_buf.h"
#include "ea_params.h"
#include "ea_utf8.h"

#include <apr_strings.h>
#include <json-c/json.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- UTF-8 ------------------------------------------------------------------ */

const char *ea_body_utf8_error(apr_pool_t *p, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    long cp;

    while (i < n) {
        size_t k = ea_utf8_decode(u + i, n - i, &cp);
        if (cp != EA_UTF8_BAD) {
            i += k;
            continue;
        }
        const char *why;
        if (k == 1 && !(u[i] >= 0xC2 && u[i] <= 0xF4))
            why = "invalid start byte";
        else if (i + k >= n)
            why = "unexpected end of data";
        else
            why = "invalid continuation byte";
        if (k == 1)
            return apr_psprintf(p, "'utf-8' codec can't decode byte 0x%02x in position %lu: %s",
                                u[i], (unsigned long)i, why);
        return apr_psprintf(p, "'utf-8' codec can't decode bytes in position %lu-%lu: %s",
                            (unsigned long)i, (unsigned long)(i + k - 1), why);
    }
    return NULL;
}

long ea_body_has_surrogate(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i + 2 < n; i++) {
        if (u[i] == 0xED && u[i + 1] >= 0xA0 && u[i + 1] <= 0xBF && (u[i + 2] & 0xC0) == 0x80)
            return 0xD000L | ((long)(u[i + 1] & 0x3F) << 6) | (u[i + 2] & 0x3F);
    }
    return 0;
}

/* ---- JSON as Python's json module reads it ------------------------------------ */

typedef struct jparser {
    apr_pool_t *pool;
    const char *s;
    size_t n;
    size_t pos;
    int depth, max_depth;
    const char *err;
    ea_buf tmp;
} jparser;

/* "msg: line L column C (char P)", positions in code points as Python's. */
static void jfail(jparser *jp, const char *msg, size_t at)
{
    size_t chars = 0, line = 1, line_start = 0;   /* char index after the last '\n' */
    for (size_t i = 0; i < at && i < jp->n; i++) {
        unsigned char c = (unsigned char)jp->s[i];
        if ((c & 0xC0) == 0x80)
            continue;
        if (c == '\n') {
            line++;
            line_start = chars + 1;
        }
        chars++;
    }
    if (!jp->err)
        jp->err = apr_psprintf(jp->pool, "%s: line %lu column %lu (char %lu)", msg,
                               (unsigned long)line, (unsigned long)(chars - line_start + 1),
                               (unsigned long)chars);
}

static void jskip_ws(jparser *jp)
{
    while (jp->pos < jp->n) {
        char c = jp->s[jp->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        jp->pos++;
    }
}

/* Four hex digits at s[at..at+4), or -1. */
static long hex4(const char *s, size_t at)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ea_hexval((unsigned char)s[at + (size_t)i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Code point as (generalised) UTF-8: lone surrogates get their 3 bytes. */
static void put_cp(ea_buf *b, long cp)
{
    char out[4];
    ea_buf_put(b, out, ea_utf8_encode(cp, out));
}

/* scanstring: jp->pos is just past the opening quote.  The string (with
 * its length: it may hold NULs) is left in jp->tmp. */
static int jstring(jparser *jp)
{
    size_t begin = jp->pos - 1;
    ea_buf_reset(&jp->tmp);
    for (;;) {
        if (jp->pos >= jp->n) {
            jfail(jp, "Unterminated string starting at", begin);
            return -1;
        }
        unsigned char c = (unsigned char)jp->s[jp->pos];
        if (c == '"') {
            jp->pos++;
            return 0;
        }
        if (c < 0x20) {
            jfail(jp, "Invalid control character at", jp->pos);
            return -1;
        }
        if (c != '\\') {
            ea_buf_putc(&jp->tmp, (char)c);
            jp->pos++;
            continue;
        }
        size_t bs = jp->pos++;
        if (jp->pos >= jp->n) {
            jfail(jp, "Unterminated string starting at", begin);
            return -1;
        }
        c = (unsigned char)jp->s[jp->pos];
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c != 'u') {
            static const char repl[] = "\"\\/\b\f\n\r\t";
            if (!simple || !c) {
                jfail(jp, "Invalid \\escape", bs);
                return -1;
            }
            ea_buf_putc(&jp->tmp, repl[simple - "\"\\/bfnrt"]);
            jp->pos++;
            continue;
        }
        size_t u = jp->pos;              /* the 'u' */
        long cp;
        if (u + 5 >= jp->n || (cp = hex4(jp->s, u + 1)) < 0) {
            jfail(jp, "Invalid \\uXXXX escape", u);
            return -1;
        }
        jp->pos = u + 5;
        if (cp >= 0xD800 && cp <= 0xDBFF && jp->pos + 6 < jp->n
            && jp->s[jp->pos] == '\\' && jp->s[jp->pos + 1] == 'u') {
            long lo = hex4(jp->s, jp->pos + 2);
            if (lo < 0) {
                jfail(jp, "Invalid \\uXXXX escape", jp->pos + 1);
                return -1;
            }
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                jp->pos += 6;
            }
        }
        put_cp(&jp->tmp, cp);
    }
}

static struct json_object *jvalue(jparser *jp);

static struct json_object *jnumber(jparser *jp)
{
    const char *s = jp->s;
    size_t start = jp->pos, i = start, n = jp->n;
    int is_float = 0;

    if (s[i] == '-' && ++i >= n)
        goto not_a_value;
    if (s[i] >= '1' && s[i] <= '9') {
        while (++i < n && s[i] >= '0' && s[i] <= '9')
            ;
    } else if (s[i] == '0') {
        i++;
    } else {
        goto not_a_value;
    }
    if (i + 1 < n && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
        is_float = 1;
        i += 2;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i + 1 < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = i++;
        if (i + 1 < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i > d)
            is_float = 1;
        else
            i = e;
    }
    jp->pos = i;
    char *text = apr_pstrmemdup(jp->pool, s + start, i - start);
    if (is_float)
        return json_object_new_double_s(strtod(text, NULL), text);
    long long v;
    if (ea_parse_int64(text, &v) == 0)
        return json_object_new_int64(v);
    size_t digits = i - start - (s[start] == '-');
    if (digits > 4300) {
        jp->err = apr_psprintf(jp->pool, "Exceeds the limit (4300 digits) for integer string "
                               "conversion: value has %lu digits; use sys.set_int_max_str_digits() "
                               "to increase the limit", (unsigned long)digits);
        return NULL;
    }
    return json_object_new_double_s(strtod(text, NULL), text);

not_a_value:
    jfail(jp, "Expecting value", start);
    return NULL;
}

static int jlit(jparser *jp, const char *word)
{
    size_t l = strlen(word);
    if (jp->n - jp->pos >= l && memcmp(jp->s + jp->pos, word, l) == 0) {
        jp->pos += l;
        return 1;
    }
    return 0;
}

static int jenter(jparser *jp)
{
    if (++jp->depth > jp->max_depth) {
        jfail(jp, apr_psprintf(jp->pool, "Maximum nesting depth of %d exceeded", jp->max_depth),
              jp->pos);
        return -1;
    }
    return 0;
}

/* Object keys are C strings in json-c: a NUL becomes C0 80, which no field
 * name matches and the JSON field check refuses. */
static const char *jkey(jparser *jp)
{
    ea_buf k;
    ea_buf_init(&k, jp->pool, jp->tmp.len + 4);
    for (size_t i = 0; i < jp->tmp.len; i++) {
        if (jp->tmp.data[i])
            ea_buf_putc(&k, jp->tmp.data[i]);
        else
            ea_buf_put(&k, "\xC0\x80", 2);
    }
    return k.data;
}

/* After a member or element: the closing bracket (0, consumed), or a comma
 * and the whitespace after it (1), or Python's delimiter error (-1). */
static int jnext(jparser *jp, char close)
{
    jskip_ws(jp);
    if (jp->pos < jp->n && jp->s[jp->pos] == close) {
        jp->pos++;
        return 0;
    }
    if (jp->pos >= jp->n || jp->s[jp->pos] != ',') {
        jfail(jp, "Expecting ',' delimiter", jp->pos);
        return -1;
    }
    jp->pos++;
    jskip_ws(jp);
    return 1;
}

static struct json_object *jobject(jparser *jp)
{
    struct json_object *obj;
    if (jenter(jp) < 0)
        return NULL;
    obj = json_object_new_object();
    jp->pos++;
    jskip_ws(jp);
    if (jp->pos < jp->n && jp->s[jp->pos] == '}') {
        jp->pos++;
        jp->depth--;
        return obj;
    }
    for (;;) {
        if (jp->pos >= jp->n || jp->s[jp->pos] != '"') {
            jfail(jp, "Expecting property name enclosed in double quotes", jp->pos);
            goto fail;
        }
        jp->pos++;
        if (jstring(jp) < 0)
            goto fail;
        const char *key = jkey(jp);
        jskip_ws(jp);
        if (jp->pos >= jp->n || jp->s[jp->pos] != ':') {
            jfail(jp, "Expecting ':' delimiter", jp->pos);
            goto fail;
        }
        jp->pos++;
        jskip_ws(jp);
        struct json_object *v = jvalue(jp);
        if (jp->err)
            goto fail;
        json_object_object_add(obj, key, v);
        int more = jnext(jp, '}');
        if (more < 0)
            goto fail;
        if (!more)
            break;
    }
    jp->depth--;
    return obj;
fail:
    json_object_put(obj);
    return NULL;
}

static struct json_object *jarray(jparser *jp)
{
    struct json_object *arr;
    if (jenter(jp) < 0)
        return NULL;
    arr = json_object_new_array();
    jp->pos++;
    jskip_ws(jp);
    if (jp->pos < jp->n && jp->s[jp->pos] == ']') {
        jp->pos++;
        jp->depth--;
        return arr;
    }
    for (;;) {
        struct json_object *v = jvalue(jp);
        if (jp->err)
            goto fail;
        json_object_array_add(arr, v);
        int more = jnext(jp, ']');
        if (more < 0)
            goto fail;
        if (!more)
            break;
    }
    jp->depth--;
    return arr;
fail:
    json_object_put(arr);
    return NULL;
}

/* scan_once: a value at jp->pos (no leading whitespace).  NULL with
 * jp->err unset is JSON null. */
static struct json_object *jvalue(jparser *jp)
{
    const char *constant;
    if (jp->pos >= jp->n) {
        jfail(jp, "Expecting value", jp->pos);
        return NULL;
    }
    switch (jp->s[jp->pos]) {
    case '"':
        jp->pos++;
        if (jstring(jp) < 0)
            return NULL;
        return json_object_new_string_len(jp->tmp.data, (int)jp->tmp.len);
    case '{':
        return jobject(jp);
    case '[':
        return jarray(jp);
    case 'n':
        if (jlit(jp, "null"))
            return NULL;
        break;
    case 't':
        if (jlit(jp, "true"))
            return json_object_new_boolean(1);
        break;
    case 'f':
        if (jlit(jp, "false"))
            return json_object_new_boolean(0);
        break;
    case 'N':
        if (jlit(jp, (constant = "NaN")))
            goto constant;
        break;
    case 'I':
        if (jlit(jp, (constant = "Infinity")))
            goto constant;
        break;
    case '-':
        if (jlit(jp, (constant = "-Infinity")))
            goto constant;
        return jnumber(jp);
    default:
        if (jp->s[jp->pos] >= '0' && jp->s[jp->pos] <= '9')
            return jnumber(jp);
        break;
    }
    jfail(jp, "Expecting value", jp->pos);
    return NULL;
constant:
    /* DRF's strict_constant */
    jp->err = apr_psprintf(jp->pool, "Out of range float values are not allowed in JSON: '%s'",
                           constant);
    return NULL;
}

int ea_body_json(apr_pool_t *p, const char *text, size_t len, int max_depth,
                 struct json_object **out, const char **err)
{
    jparser jp;
    memset(&jp, 0, sizeof(jp));
    jp.pool = p;
    jp.s = text;
    jp.n = len;
    jp.max_depth = max_depth;
    ea_buf_init(&jp.tmp, p, 64);
    *out = NULL;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        *err = "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)";
        return -1;
    }
    jskip_ws(&jp);
    struct json_object *v = jvalue(&jp);
    if (!jp.err) {
        jskip_ws(&jp);
        if (jp.pos != jp.n)
            jfail(&jp, "Extra data", jp.pos);
    }
    if (jp.err) {
        json_object_put(v);
        *err = jp.err;
        return -1;
    }
    *out = v;
    return 0;
}

int ea_body_bigint(struct json_object *v)
{
    if (!json_object_is_type(v, json_type_double))
        return 0;
    const char *t = json_object_get_string(v);
    return t && !strpbrk(t, ".eE");
}

/* ---- content types ---------------------------------------------------------- */

typedef struct media {
    char *type;                 /* "application/json", lower case */
    apr_table_t *params;        /* lower-case names, unquoted values */
} media;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Parameters "; a=b; c="d e"" after the media type or a disposition. */
static void parse_params(apr_pool_t *p, const char *s, apr_table_t *t)
{
    while (*s) {
        while (*s == ';' || *s == ' ' || *s == '\t')
            s++;
        const char *eq = s;
        while (*eq && *eq != '=' && *eq != ';')
            eq++;
        if (*eq != '=') {
            s = eq;
            continue;
        }
        char *name = trim(apr_pstrmemdup(p, s, (size_t)(eq - s)));
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        s = eq + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        ea_buf v;
        ea_buf_init(&v, p, 32);
        if (*s == '"') {
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1])
                    s++;
                ea_buf_putc(&v, *s++);
            }
            if (*s == '"')
                s++;
            while (*s && *s != ';')
                s++;
        } else {
            const char *e = s;
            while (*e && *e != ';')
                e++;
            ea_buf_put(&v, s, (size_t)(e - s));
            s = e;
            v.data = trim(v.data);
        }
        if (*name)
            apr_table_set(t, name, v.data);
    }
}

static media parse_media(apr_pool_t *p, const char *ct)
{
    media m;
    const char *semi = strchr(ct, ';');
    m.type = trim(apr_pstrmemdup(p, ct, semi ? (size_t)(semi - ct) : strlen(ct)));
    for (char *c = m.type; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    m.params = apr_table_make(p, 4);
    if (semi)
        parse_params(p, semi + 1, m.params);
    return m;
}

/* DRF's media_type_matches: the request's type may use wildcards. */
static int media_is(const char *req, const char *want)
{
    const char *rs = strchr(req, '/'), *ws = strchr(want, '/');
    if (!rs)
        return strcmp(req, "*") == 0;
    size_t rl = (size_t)(rs - req), wl = (size_t)(ws - want);
    if (!(rl == 1 && req[0] == '*') && (rl != wl || memcmp(req, want, wl) != 0))
        return 0;
    return strcmp(rs + 1, "*") == 0 || strcmp(rs + 1, ws + 1) == 0;
}

static apr_status_t put_json(void *v)
{
    json_object_put(v);
    return APR_SUCCESS;
}

static void own(apr_pool_t *p, struct json_object *o)
{
    if (o)
        apr_pool_cleanup_register(p, o, put_json, apr_pool_cleanup_null);
}

/* ---- forms --------------------------------------------------------------------- */

static const char *find_mem(const char *hay, size_t hn, const char *needle, size_t nn)
{
    for (size_t i = 0; nn && i + nn <= hn; i++) {
        const char *c = memchr(hay + i, needle[0], hn - nn - i + 1);
        if (!c)
            return NULL;
        i = (size_t)(c - hay);
        if (memcmp(c, needle, nn) == 0)
            return c;
    }
    return NULL;
}

static int parse_form(apr_pool_t *p, const char *body, size_t len, ea_body *out)
{
    if (memchr(body, '\0', len) || find_mem(body, len, "%00", 3)) {
        out->detail = "Null characters are not allowed.";
        return 400;
    }
    apr_array_header_t *kv = ea_qs_parse(p, apr_pstrmemdup(p, body, len));
    for (int i = 0; i < kv->nelts; i++) {
        const ea_param *e = &APR_ARRAY_IDX(kv, i, ea_param);
        json_object_object_add(out->data, e->key, json_object_new_string(e->val));
    }
    return 0;
}

/* Text with invalid UTF-8 replaced, as Django decodes form values. */
static const char *fix_utf8(apr_pool_t *p, const char *s, size_t n)
{
    ea_buf b;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    long cp;
    ea_buf_init(&b, p, n + 1);
    while (i < n) {
        size_t k = ea_utf8_decode(u + i, n - i, &cp);
        if (cp == EA_UTF8_BAD)
            ea_buf_put(&b, "\xEF\xBF\xBD", 3);
        else
            ea_buf_put(&b, s + i, k);
        i += k;
    }
    return b.data;
}

static int parse_multipart(apr_pool_t *p, const media *m, const char *body, size_t len,
                           ea_body *out)
{
    const char *boundary = apr_table_get(m->params, "boundary");
    size_t bl = boundary ? strlen(boundary) : 0;
    if (!boundary || bl == 0 || bl > 70) {
        out->detail = apr_psprintf(p, "Multipart form parse error - Invalid boundary in multipart: %s",
                                   boundary ? boundary : "None");
        return 400;
    }
    const char *delim = apr_pstrcat(p, "--", boundary, NULL);
    size_t dl = bl + 2;
    const char *end = body + len;
    /* the first delimiter may open the body or follow the preamble's CRLF */
    const char *c = find_mem(body, len, delim, dl);
    while (c && c != body && c[-1] != '\n')
        c = find_mem(c + 1, (size_t)(end - c - 1), delim, dl);
    if (!c) {
        out->detail = "Multipart form parse error - no boundary found in the body.";
        return 400;
    }
    for (;;) {
        c += dl;
        if (end - c >= 2 && c[0] == '-' && c[1] == '-')
            return 0;                       /* closing delimiter */
        while (c < end && (*c == ' ' || *c == '\t'))
            c++;
        if (end - c >= 2 && c[0] == '\r' && c[1] == '\n')
            c += 2;
        else if (c < end && *c == '\n')
            c++;
        else {
            out->detail = "Multipart form parse error - malformed part delimiter.";
            return 400;
        }
        /* headers up to an empty line */
        const char *name = NULL, *filename = NULL, *ctype = "application/octet-stream";
        for (;;) {
            const char *nl = memchr(c, '\n', (size_t)(end - c));
            if (!nl) {
                out->detail = "Multipart form parse error - unexpected end of the body.";
                return 400;
            }
            size_t ll = (size_t)(nl - c);
            if (ll && c[ll - 1] == '\r')
                ll--;
            const char *line = apr_pstrmemdup(p, c, ll);
            c = nl + 1;
            if (ll == 0)
                break;
            const char *colon = strchr(line, ':');
            if (!colon)
                continue;
            char *hname = trim(apr_pstrmemdup(p, line, (size_t)(colon - line)));
            if (strcasecmp(hname, "Content-Disposition") == 0) {
                apr_table_t *params = apr_table_make(p, 4);
                const char *semi = strchr(colon + 1, ';');
                if (semi)
                    parse_params(p, semi + 1, params);
                name = apr_table_get(params, "name");
                filename = apr_table_get(params, "filename");
            } else if (strcasecmp(hname, "Content-Type") == 0) {
                ctype = trim(apr_pstrdup(p, colon + 1));
            }
        }
        /* the data runs to CRLF (or LF) before the next delimiter */
        const char *next = c;
        for (;;) {
            next = find_mem(next, (size_t)(end - next), delim, dl);
            if (!next || (next > c && next[-1] == '\n') || next == c)
                break;
            next++;
        }
        if (!next) {
            out->detail = "Multipart form parse error - unexpected end of the body.";
            return 400;
        }
        const char *data_end = next;
        if (data_end > c && data_end[-1] == '\n')
            data_end--;
        if (data_end > c && data_end[-1] == '\r')
            data_end--;
        if (data_end < c)
            data_end = c;
        size_t dlen = (size_t)(data_end - c);
        if (name && filename) {
            if (*filename) {
                ea_body_file *f = apr_array_push(out->files);
                f->name = fix_utf8(p, name, strlen(name));
                f->filename = fix_utf8(p, filename, strlen(filename));
                f->content_type = ctype;
                f->data = c;
                f->len = dlen;
            }
        } else if (name) {
            if (memchr(c, '\0', dlen)) {
                out->detail = "Null characters are not allowed.";
                return 400;
            }
            json_object_object_add(out->data, fix_utf8(p, name, strlen(name)),
                                   json_object_new_string(fix_utf8(p, c, dlen)));
        }
        c = next;
    }
}

/* ---- entry point ----------------------------------------------------------------- */

int ea_body_parse(apr_pool_t *p, const char *content_type, const char *body, size_t len,
                  ea_body *out)
{
    memset(out, 0, sizeof(*out));
    out->files = apr_array_make(p, 1, sizeof(ea_body_file));
    media m = parse_media(p, content_type ? content_type : "");
    /* the parsers in DRF's order: JSON, form, multipart */
    int json = media_is(m.type, "application/json");
    int multipart = !json && !media_is(m.type, "application/x-www-form-urlencoded")
                    && media_is(m.type, "multipart/form-data");
    int form = !json && (multipart || media_is(m.type, "application/x-www-form-urlencoded"));

    if (len == 0) {
        out->data = json_object_new_object();
        out->is_form = form;
        own(p, out->data);
        return 0;
    }
    if (!json && !form) {
        out->detail = apr_psprintf(p, "Unsupported media type \"%s\" in request.", m.type);
        return 415;
    }
    const char *charset = apr_table_get(m.params, "charset");
    if (charset && strcasecmp(charset, "utf-8") != 0 && strcasecmp(charset, "utf8") != 0) {
        out->detail = apr_psprintf(p, "Unsupported charset \"%s\" in request: only UTF-8 is "
                                   "accepted.", charset);
        return 415;
    }
    if (json) {
        const char *err = ea_body_utf8_error(p, body, len);
        struct json_object *v = NULL;
        if (!err && ea_body_json(p, body, len, EA_BODY_MAX_DEPTH, &v, &err) == 0) {
            out->data = v;
            own(p, v);
            return 0;
        }
        out->detail = apr_pstrcat(p, "JSON parse error - ", err, NULL);
        return 400;
    }
    out->is_form = 1;
    out->data = json_object_new_object();
    own(p, out->data);
    if (multipart)
        return parse_multipart(p, &m, body, len, out);
    return parse_form(p, body, len, out);
}
