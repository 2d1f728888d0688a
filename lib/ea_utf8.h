/* ea_utf8: UTF-8 decoding shared by ea_json.c and ea_params.c (private to lib/).
 * Invalid input is split into "maximal subparts" exactly as Python's
 * bytes.decode('utf-8', 'replace') does, so each one becomes one U+FFFD. */
#ifndef EA_UTF8_H
#define EA_UTF8_H

#include <stddef.h>

#define EA_UTF8_BAD (-1L)

/* Decode the sequence at s (n > 0 bytes available).  Returns the number of
 * bytes consumed (>= 1) and sets *cp to the code point, or to EA_UTF8_BAD
 * when those bytes are an invalid maximal subpart. */
static inline size_t ea_utf8_decode(const unsigned char *s, size_t n, long *cp)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;   /* allowed range of the 2nd byte */
    size_t need, i;
    long v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;          /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F;          /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;          /* nothing above U+10FFFF */
    } else {
        *cp = EA_UTF8_BAD;
        return 1;
    }
    for (i = 1; i <= need; i++) {
        unsigned char min = (i == 1) ? lo : 0x80, max = (i == 1) ? hi : 0xBF;
        if (i >= n || s[i] < min || s[i] > max) {
            *cp = EA_UTF8_BAD;  /* the valid prefix is one subpart */
            return i;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return need + 1;
}

/* Write code point cp (0..0x10FFFF) as UTF-8 into out[4]; returns the length. */
static inline size_t ea_utf8_encode(long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* 1 when s[0..n) is entirely valid UTF-8. */
static inline int ea_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    long cp;

    while (i < n) {
        i += ea_utf8_decode(u + i, n - i, &cp);
        if (cp == EA_UTF8_BAD)
            return 0;
    }
    return 1;
}

#endif
