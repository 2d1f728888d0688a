/* ea_auth: credentials without httpd — Django's password hashes, API token
 * keys and their digests, DRF's Authorization header rules, signed session
 * cookies and Django's CSRF tokens.  Pure (OpenSSL's libcrypto only); every
 * comparison of secret material is constant-time. */
#ifndef EA_AUTH_H
#define EA_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* ---- passwords: Django's "pbkdf2_sha256$<iterations>$<salt>$<base64>" -------- */
#define EA_PBKDF2_ITERATIONS 600000u   /* Django 4.2's default */
#define EA_PASSWORD_MAX 4096           /* longer input is refused, not hashed */
#define EA_HASH_MAX 256

/* Hash password into out (EA_HASH_MAX bytes) with a fresh random salt.
 * Returns 0, or -1 (password too long, no randomness). */
int ea_password_hash(const char *password, unsigned iterations, char *out, size_t outsz);
/* 1: password matches encoded; 0: it does not; -1: encoded is not a hash
 * this module knows (unusable password "!...", another hasher, malformed).
 * pbkdf2_sha256 and pbkdf2_sha1 are understood. */
int ea_password_check(const char *password, const char *encoded);
/* Spend the time of one check on nothing (unknown users: no timing oracle). */
void ea_password_dummy_check(const char *password);

/* ---- token keys -------------------------------------------------------------- */
#define EA_TOKEN_LEN 40                /* 20 random bytes in lower-case hex, as DRF */
#define EA_TOKEN_PREFIX_LEN 8
/* A fresh key (EA_TOKEN_LEN chars + NUL).  Returns 0 or -1. */
int ea_token_new(char out[EA_TOKEN_LEN + 1]);
/* SHA-256 of data: 32 bytes into digest, and as 64 hex chars + NUL into hex (either may be NULL). */
void ea_sha256(const void *data, size_t len, uint8_t digest[32], char hex[65]);

/* DRF's TokenAuthentication header rules.  hdr is the Authorization value
 * (NULL when absent).  Returns 0 when it is not a Token header (absent,
 * another scheme): the request stays anonymous; 1 with the key in
 * key/keylen (pointing into hdr); -1 with *err set to DRF's message. */
int ea_token_header(const char *hdr, const char **key, size_t *keylen, const char **err);

/* ---- session cookies: "<key>.<HMAC-SHA256(secret, key) hex>" -------------------- */
#define EA_SESSION_KEY_LEN 32          /* characters a-z0-9, as Django's session keys */
#define EA_SESSION_COOKIE_MAX (EA_SESSION_KEY_LEN + 1 + 64 + 1)
/* A fresh key (EA_SESSION_KEY_LEN chars + NUL).  Returns 0 or -1. */
int ea_session_key_new(char out[EA_SESSION_KEY_LEN + 1]);
/* The cookie value for key, into out (EA_SESSION_COOKIE_MAX bytes). */
void ea_session_cookie(const char *secret, size_t secretlen, const char *key, char *out);
/* 1 and the key copied into key (EA_SESSION_KEY_LEN + 1 bytes) when the
 * cookie value is well formed and signed with secret; 0 otherwise. */
int ea_session_cookie_verify(const char *secret, size_t secretlen, const char *value,
                             size_t len, char *key);

/* ---- CSRF (Django 4.2: 32-char secret in the cookie; the header may carry it
 * plain or masked as 64 chars) -------------------------------------------------- */
#define EA_CSRF_LEN 32
int ea_csrf_new(char out[EA_CSRF_LEN + 1]);
/* Is the cookie value a well-formed secret? */
int ea_csrf_valid(const char *cookie, size_t len);
/* 1 when the header token (plain or masked) matches the cookie secret. */
int ea_csrf_match(const char *cookie, size_t cookielen, const char *token, size_t tokenlen);

/* ---- misc ---------------------------------------------------------------------- */
/* Constant-time equality of two byte strings of the same length. */
int ea_ct_equal(const void *a, const void *b, size_t n);
/* Random bytes from the system CSPRNG; 0 or -1. */
int ea_random(void *buf, size_t n);

#endif
