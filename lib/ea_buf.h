/* ea_buf: a growable byte buffer allocated from an APR pool.
 * Responses are assembled here and handed to httpd as one heap bucket. */
#ifndef EA_BUF_H
#define EA_BUF_H

#include <apr_pools.h>
#include <stddef.h>
#include <string.h>

typedef struct ea_buf {
    apr_pool_t *pool;
    char *data;      /* always NUL-terminated (data[len] == 0) */
    size_t len;
    size_t cap;
} ea_buf;

void ea_buf_init(ea_buf *b, apr_pool_t *pool, size_t initial);
void ea_buf_put_grow(ea_buf *b, const char *s, size_t n);
/* Append n bytes: inline while they fit (every byte of a response comes
 * through here), growing the buffer otherwise. */
static inline void ea_buf_put(ea_buf *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (n < b->cap - b->len) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else {
        ea_buf_put_grow(b, s, n);
    }
}
static inline void ea_buf_putc(ea_buf *b, char c)
{
    ea_buf_put(b, &c, 1);
}
void ea_buf_puts(ea_buf *b, const char *s);
void ea_buf_printf(ea_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Make room for n more bytes and return a pointer to them; the caller
 * writes at most n bytes and then calls ea_buf_commit(b, written). */
char *ea_buf_reserve(ea_buf *b, size_t n);
void ea_buf_commit(ea_buf *b, size_t n);
void ea_buf_reset(ea_buf *b);

/* n bytes of in as 2n lower-case hex digits + NUL into out. */
void ea_hex(char *out, const void *in, size_t n);

#endif
