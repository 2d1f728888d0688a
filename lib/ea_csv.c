/* ea_csv: streaming RFC 4180 reader (see ea_csv.h). */
#include "ea_csv.h"
#include "ea_utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_INBUF 65536

struct ea_csv {
    ea_csv_read_fn read;
    void *baton;
    const char *mem;            /* memory reader */
    size_t mem_len, mem_pos;
    char *in;                   /* input buffer */
    size_t in_len, in_pos;
    int eof, bom_checked;
    char *rec;                  /* fields, each NUL-terminated */
    size_t rec_len, rec_cap;
    size_t *offs;               /* start of each field in rec */
    size_t nfields, offs_cap;
    size_t max_record, max_fields;
    unsigned long line;         /* current physical line */
    unsigned long rec_line;     /* line the last record starts on */
    unsigned long long offset;
    char err[200];
    unsigned long err_line;
};

static ssize_t csv_mem_read(void *baton, char *buf, size_t len)
{
    ea_csv *c = baton;
    size_t n = c->mem_len - c->mem_pos;
    if (n > len)
        n = len;
    memcpy(buf, c->mem + c->mem_pos, n);
    c->mem_pos += n;
    return (ssize_t)n;
}

ea_csv *ea_csv_open(ea_csv_read_fn fn, void *baton, size_t max_record, size_t max_fields)
{
    ea_csv *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->read = fn;
    c->baton = baton;
    c->max_record = max_record ? max_record : EA_CSV_DEFAULT_MAX_RECORD;
    c->max_fields = max_fields ? max_fields : EA_CSV_DEFAULT_MAX_FIELDS;
    c->in = malloc(CSV_INBUF);
    c->rec_cap = 1024;
    c->rec = malloc(c->rec_cap);
    c->offs_cap = 16;
    c->offs = malloc(c->offs_cap * sizeof *c->offs);
    c->line = 1;
    if (c->in == NULL || c->rec == NULL || c->offs == NULL) {
        ea_csv_close(c);
        return NULL;
    }
    return c;
}

ea_csv *ea_csv_open_mem(const char *data, size_t len, size_t max_record, size_t max_fields)
{
    ea_csv *c = ea_csv_open(csv_mem_read, NULL, max_record, max_fields);
    if (c != NULL) {
        c->baton = c;
        c->mem = data;
        c->mem_len = len;
    }
    return c;
}

void ea_csv_close(ea_csv *c)
{
    if (c == NULL)
        return;
    free(c->in);
    free(c->rec);
    free(c->offs);
    free(c);
}

#define CSV_EOF (-1)
#define CSV_IOERR (-2)

static int csv_fill(ea_csv *c)
{
    ssize_t n;
    if (c->eof)
        return 0;
    do {
        n = c->read(c->baton, c->in, CSV_INBUF);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if (n == 0) {
        c->eof = 1;
        return 0;
    }
    c->in_len = (size_t)n;
    c->in_pos = 0;
    return 1;
}

static int csv_getc(ea_csv *c)
{
    if (c->in_pos >= c->in_len) {
        int r = csv_fill(c);
        if (r <= 0)
            return r < 0 ? CSV_IOERR : CSV_EOF;
    }
    c->offset++;
    return (unsigned char)c->in[c->in_pos++];
}

static int csv_peek(ea_csv *c)
{
    if (c->in_pos >= c->in_len) {
        int r = csv_fill(c);
        if (r <= 0)
            return r < 0 ? CSV_IOERR : CSV_EOF;
    }
    return (unsigned char)c->in[c->in_pos];
}

/* After a '\r': swallow the '\n' of a CRLF. */
static void csv_crlf(ea_csv *c)
{
    if (csv_peek(c) == '\n')
        csv_getc(c);
}

static void csv_set_error(ea_csv *c, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void csv_set_error(ea_csv *c, unsigned long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->err_line = line;
}

/* Skip to the end of the current physical line (after an error). */
static int csv_skip_line(ea_csv *c)
{
    int ch;
    while ((ch = csv_getc(c)) >= 0) {
        if (ch == '\n' || ch == '\r') {
            if (ch == '\r')
                csv_crlf(c);
            c->line++;
            return 0;
        }
    }
    return ch == CSV_IOERR ? -1 : 0;
}

static int csv_put(ea_csv *c, char ch)
{
    if (c->rec_len > c->max_record)
        return -1;
    if (c->rec_len + 1 >= c->rec_cap) {
        size_t cap = c->rec_cap * 2;
        char *r;
        if (cap > c->max_record + 2)
            cap = c->max_record + 2;
        if (c->rec_len + 1 >= cap)
            return -1;
        r = realloc(c->rec, cap);
        if (r == NULL)
            return -1;
        c->rec = r;
        c->rec_cap = cap;
    }
    c->rec[c->rec_len++] = ch;
    return 0;
}

/* Close the current field; -1 when the field count or size is exceeded. */
static int csv_end_field(ea_csv *c, size_t start)
{
    if (c->nfields >= c->max_fields)
        return -2;
    if (c->nfields == c->offs_cap) {
        size_t *o = realloc(c->offs, 2 * c->offs_cap * sizeof *o);
        if (o == NULL)
            return -1;
        c->offs = o;
        c->offs_cap *= 2;
    }
    c->offs[c->nfields++] = start;
    return csv_put(c, '\0');
}

/* Every field valid UTF-8 without NUL bytes; else the line of the bad byte. */
static int csv_check_utf8(ea_csv *c)
{
    unsigned long line = c->rec_line;
    size_t f;
    for (f = 0; f < c->nfields; f++) {
        const unsigned char *s = (const unsigned char *)c->rec + c->offs[f];
        size_t n = strlen((const char *)s);
        size_t end = (f + 1 < c->nfields ? c->offs[f + 1] - 1 : c->rec_len - 1);
        size_t i = 0;
        if (c->offs[f] + n != end) {
            csv_set_error(c, line, "octet NUL dans le champ %zu", f + 1);
            return -1;
        }
        while (i < n) {
            long cp;
            size_t k = ea_utf8_decode(s + i, n - i, &cp);
            if (cp == EA_UTF8_BAD) {
                csv_set_error(c, line, "encodage invalide (UTF-8 attendu) dans le champ %zu", f + 1);
                return -1;
            }
            if (cp == '\n')
                line++;
            i += k;
        }
    }
    return 0;
}

enum { ST_START, ST_UNQUOTED, ST_QUOTED, ST_QUOTE };

static ea_csv_status csv_read_record(ea_csv *c)
{
    int st = ST_START, ch, r;
    size_t start = 0;
    int any = 0;        /* a character (or quote) was seen on this record */

    c->rec_len = 0;
    c->nfields = 0;
    c->rec_line = c->line;
    for (;;) {
        ch = csv_getc(c);
        if (ch == CSV_IOERR) {
            csv_set_error(c, c->line, "erreur de lecture: %s", strerror(errno));
            return EA_CSV_FATAL;
        }
        if (st == ST_QUOTED) {
            if (ch == CSV_EOF) {
                csv_set_error(c, c->rec_line, "guillemet ouvrant sans guillemet fermant");
                return EA_CSV_FATAL;
            }
            if (ch == '"') {
                st = ST_QUOTE;
                continue;
            }
            if (ch == '\n')
                c->line++;
            else if (ch == '\r' && csv_peek(c) != '\n')
                c->line++;
            if (csv_put(c, (char)ch) != 0)
                goto too_long;
            continue;
        }
        if (ch == CSV_EOF || ch == '\n' || ch == '\r' || ch == ',') {
            if (ch == CSV_EOF && !any && c->nfields == 0)
                return EA_CSV_EOF;
            r = csv_end_field(c, start);
            if (r != 0 && ch != ',') {
                /* the record ends here anyway: nothing to skip */
                if (r == -2)
                    csv_set_error(c, c->rec_line, "trop de champs (plus de %zu)", c->max_fields);
                else
                    csv_set_error(c, c->rec_line, "ligne trop longue (plus de %zu octets)", c->max_record);
                if (ch == '\r')
                    csv_crlf(c);
                if (ch != CSV_EOF)
                    c->line++;
                return EA_CSV_BAD;
            }
            if (r == -2)
                goto too_many;
            if (r != 0)
                goto too_long;
            if (ch == ',') {
                st = ST_START;
                start = c->rec_len;
                any = 1;
                continue;
            }
            if (ch == '\r')
                csv_crlf(c);
            if (ch != CSV_EOF)
                c->line++;
            /* a blank line is no record */
            if (!any && c->nfields == 1 && c->rec_len == 1) {
                if (ch == CSV_EOF)
                    return EA_CSV_EOF;
                c->rec_len = 0;
                c->nfields = 0;
                c->rec_line = c->line;
                start = 0;
                continue;
            }
            return csv_check_utf8(c) == 0 ? EA_CSV_RECORD : EA_CSV_BAD;
        }
        any = 1;
        switch (st) {
        case ST_START:
            if (ch == '"') {
                st = ST_QUOTED;
                continue;
            }
            st = ST_UNQUOTED;
            break;
        case ST_UNQUOTED:
            break;      /* a quote inside an unquoted field is kept, as Python's csv does */
        case ST_QUOTE:
            if (ch == '"') {
                st = ST_QUOTED;
                break;
            }
            csv_set_error(c, c->line, "caractère après un guillemet fermant (champ %zu)", c->nfields + 1);
            return csv_skip_line(c) == 0 ? EA_CSV_BAD : EA_CSV_FATAL;
        }
        if (csv_put(c, (char)ch) != 0)
            goto too_long;
    }
too_long:
    csv_set_error(c, c->rec_line, "ligne trop longue (plus de %zu octets)", c->max_record);
    return csv_skip_line(c) == 0 ? EA_CSV_BAD : EA_CSV_FATAL;
too_many:
    csv_set_error(c, c->rec_line, "trop de champs (plus de %zu)", c->max_fields);
    return csv_skip_line(c) == 0 ? EA_CSV_BAD : EA_CSV_FATAL;
}

ea_csv_status ea_csv_next(ea_csv *c)
{
    if (!c->bom_checked) {
        c->bom_checked = 1;
        if (csv_peek(c) == 0xEF && c->in_len - c->in_pos >= 3
            && memcmp(c->in + c->in_pos, "\xEF\xBB\xBF", 3) == 0) {
            c->in_pos += 3;
            c->offset += 3;
        }
    }
    return csv_read_record(c);
}

size_t ea_csv_nfields(const ea_csv *c)
{
    return c->nfields;
}

const char *ea_csv_field(const ea_csv *c, size_t i, size_t *len)
{
    const char *s;
    if (i >= c->nfields) {
        if (len)
            *len = 0;
        return NULL;
    }
    s = c->rec + c->offs[i];
    if (len)
        *len = (i + 1 < c->nfields ? c->offs[i + 1] - 1 : c->rec_len - 1) - c->offs[i];
    return s;
}

unsigned long ea_csv_line(const ea_csv *c)
{
    return c->rec_line;
}

const char *ea_csv_error(const ea_csv *c)
{
    return c->err;
}

unsigned long ea_csv_error_line(const ea_csv *c)
{
    return c->err_line;
}

unsigned long long ea_csv_offset(const ea_csv *c)
{
    return c->offset;
}
