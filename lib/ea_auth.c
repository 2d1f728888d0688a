/* ea_auth: see ea_auth.h. */
#include "ea_auth.h"
#include "ea_utf8.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char hexdig[] = "0123456789abcdef";

int ea_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int ea_random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

/* n characters drawn uniformly from set (rejection sampling, no modulo bias). */
static int random_string(char *out, size_t n, const char *set, unsigned setlen)
{
    unsigned limit = 256 - 256 % setlen;
    size_t i = 0;
    while (i < n) {
        unsigned char b[64];
        if (ea_random(b, sizeof(b)) != 0)
            return -1;
        for (size_t j = 0; j < sizeof(b) && i < n; j++)
            if (b[j] < limit)
                out[i++] = set[b[j] % setlen];
    }
    out[n] = '\0';
    return 0;
}

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[in[i] >> 4];
        out[2 * i + 1] = hexdig[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void ea_sha256(const void *data, size_t len, uint8_t digest[32], char hex[65])
{
    uint8_t d[32];
    SHA256(data, len, d);
    if (digest)
        memcpy(digest, d, 32);
    if (hex)
        to_hex(d, 32, hex);
}

/* ---- passwords ------------------------------------------------------------------- */

#define PBKDF2_MAX_ITERATIONS 100000000u   /* a hash asking for more is refused */

static int pbkdf2_b64(const EVP_MD *md, const char *password, const char *salt,
                      unsigned iterations, char *out, size_t outsz)
{
    uint8_t dk[64];
    int dklen = EVP_MD_get_size(md);
    if (dklen <= 0 || dklen > (int)sizeof(dk) || outsz < 4 * ((size_t)dklen + 2) / 3 + 1)
        return -1;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (const unsigned char *)salt,
                          (int)strlen(salt), (int)iterations, md, dklen, dk) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, dk, dklen);
    OPENSSL_cleanse(dk, sizeof(dk));
    return 0;
}

int ea_password_hash(const char *password, unsigned iterations, char *out, size_t outsz)
{
    char salt[23], b64[96];
    if (strlen(password) > EA_PASSWORD_MAX || iterations == 0 || iterations > PBKDF2_MAX_ITERATIONS)
        return -1;
    if (random_string(salt, 22, alnum, 62) != 0)
        return -1;
    if (pbkdf2_b64(EVP_sha256(), password, salt, iterations, b64, sizeof(b64)) != 0)
        return -1;
    int n = snprintf(out, outsz, "pbkdf2_sha256$%u$%s$%s", iterations, salt, b64);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

int ea_password_check(const char *password, const char *encoded)
{
    char buf[EA_HASH_MAX + 1], b64[96];
    const EVP_MD *md;
    size_t n = strlen(encoded);

    if (n > EA_HASH_MAX || strlen(password) > EA_PASSWORD_MAX)
        return -1;
    memcpy(buf, encoded, n + 1);
    char *algo = buf, *iter = strchr(algo, '$');
    if (!iter)
        return -1;
    *iter++ = '\0';
    char *salt = strchr(iter, '$');
    if (!salt)
        return -1;
    *salt++ = '\0';
    char *hash = strchr(salt, '$');
    if (!hash)
        return -1;
    *hash++ = '\0';
    if (strcmp(algo, "pbkdf2_sha256") == 0)
        md = EVP_sha256();
    else if (strcmp(algo, "pbkdf2_sha1") == 0)
        md = EVP_sha1();
    else
        return -1;
    char *end;
    unsigned long it = strtoul(iter, &end, 10);
    if (*iter < '0' || *iter > '9' || *end || it == 0 || it > PBKDF2_MAX_ITERATIONS)
        return -1;
    if (pbkdf2_b64(md, password, salt, (unsigned)it, b64, sizeof(b64)) != 0)
        return -1;
    size_t hl = strlen(hash), bl = strlen(b64);
    int ok = hl == bl && ea_ct_equal(hash, b64, bl);
    OPENSSL_cleanse(b64, sizeof(b64));
    return ok;
}

void ea_password_dummy_check(const char *password)
{
    char b64[96];
    const char *pw = strlen(password) > EA_PASSWORD_MAX ? "" : password;
    pbkdf2_b64(EVP_sha256(), pw, "ecoatlasdummysalt0000a", EA_PBKDF2_ITERATIONS, b64, sizeof(b64));
}

/* ---- tokens -------------------------------------------------------------------- */

int ea_token_new(char out[EA_TOKEN_LEN + 1])
{
    uint8_t b[EA_TOKEN_LEN / 2];
    if (ea_random(b, sizeof(b)) != 0)
        return -1;
    to_hex(b, sizeof(b), out);
    OPENSSL_cleanse(b, sizeof(b));
    return 0;
}

static int is_ws(unsigned char c)
{
    /* Python's bytes.split(): ASCII whitespace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int ea_token_header(const char *hdr, const char **key, size_t *keylen, const char **err)
{
    const unsigned char *p = (const unsigned char *)hdr;
    const unsigned char *w[3];
    size_t wl[3];
    int n = 0;

    *err = NULL;
    if (!hdr)
        return 0;
    while (*p) {
        while (*p && is_ws(*p))
            p++;
        if (!*p)
            break;
        const unsigned char *s = p;
        while (*p && !is_ws(*p))
            p++;
        if (n < 3) {
            w[n] = s;
            wl[n] = (size_t)(p - s);
        }
        n++;
    }
    if (n == 0 || wl[0] != 5 || strncasecmp((const char *)w[0], "token", 5) != 0)
        return 0;
    if (n == 1) {
        *err = "Invalid token header. No credentials provided.";
        return -1;
    }
    if (n > 2) {
        *err = "Invalid token header. Token string should not contain spaces.";
        return -1;
    }
    if (!ea_utf8_valid((const char *)w[1], wl[1])) {
        *err = "Invalid token header. Token string should not contain invalid characters.";
        return -1;
    }
    *key = (const char *)w[1];
    *keylen = wl[1];
    return 1;
}

/* ---- sessions --------------------------------------------------------------------- */

int ea_session_key_new(char out[EA_SESSION_KEY_LEN + 1])
{
    static const char lower_digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    return random_string(out, EA_SESSION_KEY_LEN, lower_digits, 36);
}

static void session_mac(const char *secret, size_t secretlen, const char *key, char hex[65])
{
    uint8_t mac[32];
    unsigned maclen = sizeof(mac);
    /* Domain-separated, so the same secret signs nothing else the same way.
     * The whole prefix and the whole key are signed: the buffer is sized
     * from both, and a message snprintf would cut short signs nothing. */
    static const char prefix[] = "ecoatlas.session:";
    char msg[sizeof(prefix) - 1 + EA_SESSION_KEY_LEN + 1];
    int n = snprintf(msg, sizeof(msg), "%s%.*s", prefix, EA_SESSION_KEY_LEN, key);
    if (n < 0 || (size_t)n >= sizeof(msg)) {
        memset(hex, 0, 65);
        return;
    }
    HMAC(EVP_sha256(), secret, (int)secretlen, (const unsigned char *)msg, (size_t)n, mac, &maclen);
    to_hex(mac, 32, hex);
}

void ea_session_cookie(const char *secret, size_t secretlen, const char *key, char *out)
{
    char hex[65];
    session_mac(secret, secretlen, key, hex);
    memcpy(out, key, EA_SESSION_KEY_LEN);
    out[EA_SESSION_KEY_LEN] = '.';
    memcpy(out + EA_SESSION_KEY_LEN + 1, hex, 65);
}

int ea_session_cookie_verify(const char *secret, size_t secretlen, const char *value,
                             size_t len, char *key)
{
    char k[EA_SESSION_KEY_LEN + 1], hex[65];
    if (len != EA_SESSION_KEY_LEN + 1 + 64 || value[EA_SESSION_KEY_LEN] != '.')
        return 0;
    for (size_t i = 0; i < EA_SESSION_KEY_LEN; i++) {
        char c = value[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return 0;
    }
    memcpy(k, value, EA_SESSION_KEY_LEN);
    k[EA_SESSION_KEY_LEN] = '\0';
    session_mac(secret, secretlen, k, hex);
    if (!ea_ct_equal(hex, value + EA_SESSION_KEY_LEN + 1, 64))
        return 0;
    memcpy(key, k, EA_SESSION_KEY_LEN + 1);
    return 1;
}

/* ---- CSRF ------------------------------------------------------------------------- */

int ea_csrf_new(char out[EA_CSRF_LEN + 1])
{
    /* Django's CSRF_ALLOWED_CHARS: ascii_letters + digits, the order of alnum */
    return random_string(out, EA_CSRF_LEN, alnum, 62);
}

static int csrf_index(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return 26 + c - 'A';
    if (c >= '0' && c <= '9')
        return 52 + c - '0';
    return -1;
}

int ea_csrf_valid(const char *cookie, size_t len)
{
    if (len != EA_CSRF_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (csrf_index(cookie[i]) < 0)
            return 0;
    return 1;
}

int ea_csrf_match(const char *cookie, size_t cookielen, const char *token, size_t tokenlen)
{
    char plain[EA_CSRF_LEN];
    if (!ea_csrf_valid(cookie, cookielen))
        return 0;
    if (tokenlen == EA_CSRF_LEN) {
        if (!ea_csrf_valid(token, tokenlen))
            return 0;
        memcpy(plain, token, EA_CSRF_LEN);
    } else if (tokenlen == 2 * EA_CSRF_LEN) {
        /* Django's _unmask_cipher_token: mask = first half */
        for (size_t i = 0; i < EA_CSRF_LEN; i++) {
            int m = csrf_index(token[i]), c = csrf_index(token[EA_CSRF_LEN + i]);
            if (m < 0 || c < 0)
                return 0;
            plain[i] = alnum[(c - m + 62) % 62];
        }
    } else {
        return 0;
    }
    return ea_ct_equal(plain, cookie, EA_CSRF_LEN);
}
