/* ea_buf: a growable byte buffer allocated from an APR pool. */
#include "ea_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EA_BUF_MIN 64

/* Out of memory or a size that cannot be represented: nothing sane to do. */
static void ea_buf_die(void)
{
    abort();
}

/* Ensure room for n more bytes plus the terminating NUL. */
static void ea_buf_grow(ea_buf *b, size_t n)
{
    size_t want, cap;
    char *data;

    if (n > (size_t)-1 - b->len - 1)
        ea_buf_die();
    want = b->len + n + 1;
    if (want <= b->cap)
        return;
    cap = b->cap ? b->cap : EA_BUF_MIN;
    while (cap < want) {
        if (cap > (size_t)-1 / 2)
            ea_buf_die();
        cap *= 2;
    }
    /* Pool memory is never freed one block at a time: copy into a fresh one. */
    data = apr_palloc(b->pool, cap);
    if (data == NULL)
        ea_buf_die();
    memcpy(data, b->data, b->len + 1);
    b->data = data;
    b->cap = cap;
}

void ea_buf_init(ea_buf *b, apr_pool_t *pool, size_t initial)
{
    b->pool = pool;
    b->cap = initial + 1 > EA_BUF_MIN ? initial + 1 : EA_BUF_MIN;
    b->data = apr_palloc(pool, b->cap);
    if (b->data == NULL)
        ea_buf_die();
    b->data[0] = '\0';
    b->len = 0;
}

char *ea_buf_reserve(ea_buf *b, size_t n)
{
    ea_buf_grow(b, n);
    return b->data + b->len;
}

void ea_buf_commit(ea_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

void ea_buf_put_grow(ea_buf *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    memcpy(ea_buf_reserve(b, n), s, n);
    ea_buf_commit(b, n);
}

void ea_buf_puts(ea_buf *b, const char *s)
{
    ea_buf_put(b, s, strlen(s));
}

void ea_buf_printf(ea_buf *b, const char *fmt, ...)
{
    size_t room = b->cap - b->len - 1;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, room + 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';     /* encoding error: append nothing */
        return;
    }
    if ((size_t)n > room) {
        /* First attempt only measured the output; now there is room. */
        va_start(ap, fmt);
        vsnprintf(ea_buf_reserve(b, (size_t)n), (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    ea_buf_commit(b, (size_t)n);
}

void ea_buf_reset(ea_buf *b)
{
    b->len = 0;
    b->data[0] = '\0';
}

void ea_hex(char *out, const void *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}
