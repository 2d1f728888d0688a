/* Unit tests for ea_auth: Django password hashes (vectors computed with
 * Python's hashlib.pbkdf2_hmac, the function Django calls), DRF's token
 * header rules, signed session cookies and Django's CSRF masking. */
#include "ea_auth.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

START_TEST(password_known_vectors)
{
    ck_assert_int_eq(ea_password_check("secret",
        "pbkdf2_sha256$1000$seasalt$+hs9qSCcGyNSGDNojIEbomuX9WI/mzTF5yfwAXqyKOo="), 1);
    ck_assert_int_eq(ea_password_check("Secret",
        "pbkdf2_sha256$1000$seasalt$+hs9qSCcGyNSGDNojIEbomuX9WI/mzTF5yfwAXqyKOo="), 0);
    ck_assert_int_eq(ea_password_check("secret",
        "pbkdf2_sha256$1001$seasalt$+hs9qSCcGyNSGDNojIEbomuX9WI/mzTF5yfwAXqyKOo="), 0);
    /* UTF-8 password, Django 4.2's iteration count */
    ck_assert_int_eq(ea_password_check("p\xc3\xa4ssw\xc3\xb6rd",
        "pbkdf2_sha256$600000$AbCdEfGhIjKlMnOpQrStUv$v//iadKS1e/+5oTKXfwIb2OwU/ahu0tURem8kVOeDqY="), 1);
    ck_assert_int_eq(ea_password_check("secret", "pbkdf2_sha1$1000$salt1$0Q5mygDJ/lDoUUSA4Dp9cRUNu5I="), 1);
}
END_TEST

START_TEST(password_unusable_and_malformed)
{
    ck_assert_int_eq(ea_password_check("x", "!abcdef"), -1);
    ck_assert_int_eq(ea_password_check("x", ""), -1);
    ck_assert_int_eq(ea_password_check("x", "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"), -1);
    ck_assert_int_eq(ea_password_check("x", "pbkdf2_sha256$0$salt$hash"), -1);
    ck_assert_int_eq(ea_password_check("x", "pbkdf2_sha256$-5$salt$hash"), -1);
    ck_assert_int_eq(ea_password_check("x", "pbkdf2_sha256$999999999999$salt$hash"), -1);
    ck_assert_int_eq(ea_password_check("x", "pbkdf2_sha256$10$salt"), -1);
    ck_assert_int_eq(ea_password_check("x", "pbkdf2_sha256$10$salt$"), 0);
    char big[EA_HASH_MAX + 10];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(ea_password_check("x", big), -1);
}
END_TEST

START_TEST(password_roundtrip)
{
    char h1[EA_HASH_MAX], h2[EA_HASH_MAX];
    ck_assert_int_eq(ea_password_hash("correct horse", 1000, h1, sizeof(h1)), 0);
    ck_assert_int_eq(ea_password_hash("correct horse", 1000, h2, sizeof(h2)), 0);
    ck_assert(strncmp(h1, "pbkdf2_sha256$1000$", 19) == 0);
    ck_assert_str_ne(h1, h2);   /* fresh salts */
    /* salt: 22 characters a-zA-Z0-9, as Django's */
    const char *salt = h1 + 19;
    ck_assert_int_eq((int)strspn(salt, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), 22);
    ck_assert_int_eq(salt[22], '$');
    ck_assert_int_eq((int)strlen(salt + 23), 44);
    ck_assert_int_eq(ea_password_check("correct horse", h1), 1);
    ck_assert_int_eq(ea_password_check("correct horse ", h1), 0);
    ck_assert_int_eq(ea_password_hash("x", 0, h1, sizeof(h1)), -1);
    ck_assert_int_eq(ea_password_hash("x", 1000, h1, 20), -1);
}
END_TEST

START_TEST(token_keys)
{
    char a[EA_TOKEN_LEN + 1], b[EA_TOKEN_LEN + 1], hex[65];
    uint8_t d[32];
    ck_assert_int_eq(ea_token_new(a), 0);
    ck_assert_int_eq(ea_token_new(b), 0);
    ck_assert_int_eq((int)strlen(a), 40);
    ck_assert_int_eq((int)strspn(a, "0123456789abcdef"), 40);
    ck_assert_str_ne(a, b);
    ea_sha256("abc", 3, d, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(d[0], 0xba);
    ck_assert_int_eq(d[31], 0xad);
}
END_TEST

static int header(const char *h, char *key, const char **err)
{
    const char *k = NULL;
    size_t n = 0;
    int rc = ea_token_header(h, &k, &n, err);
    key[0] = '\0';
    if (rc == 1) {
        memcpy(key, k, n);
        key[n] = '\0';
    }
    return rc;
}

START_TEST(token_header_rules)
{
    char key[256];
    const char *err;
    ck_assert_int_eq(header(NULL, key, &err), 0);
    ck_assert_int_eq(header("", key, &err), 0);
    ck_assert_int_eq(header("Bearer abc", key, &err), 0);
    ck_assert_int_eq(header("Tokens abc", key, &err), 0);
    ck_assert_int_eq(header("Basic dXNlcjpwYXNz", key, &err), 0);
    ck_assert_int_eq(header("Token abc123", key, &err), 1);
    ck_assert_str_eq(key, "abc123");
    ck_assert_int_eq(header("  tOkEn \t abc123  ", key, &err), 1);
    ck_assert_str_eq(key, "abc123");
    ck_assert_int_eq(header("Token", key, &err), -1);
    ck_assert_str_eq(err, "Invalid token header. No credentials provided.");
    ck_assert_int_eq(header("Token   ", key, &err), -1);
    ck_assert_str_eq(err, "Invalid token header. No credentials provided.");
    ck_assert_int_eq(header("Token a b", key, &err), -1);
    ck_assert_str_eq(err, "Invalid token header. Token string should not contain spaces.");
    ck_assert_int_eq(header("Token \xff\xfe", key, &err), -1);
    ck_assert_str_eq(err, "Invalid token header. Token string should not contain invalid characters.");
    ck_assert_int_eq(header("Token caf\xc3\xa9", key, &err), 1);   /* valid UTF-8: looked up, then "Invalid token." */
}
END_TEST

START_TEST(session_cookies)
{
    char key[EA_SESSION_KEY_LEN + 1], cookie[EA_SESSION_COOKIE_MAX], out[EA_SESSION_KEY_LEN + 1];
    const char *secret = "s3cr3t-key-for-tests-only-0123456789-abcdefghijklmn";
    ck_assert_int_eq(ea_session_key_new(key), 0);
    ck_assert_int_eq((int)strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789"), EA_SESSION_KEY_LEN);
    ea_session_cookie(secret, strlen(secret), key, cookie);
    ck_assert_int_eq((int)strlen(cookie), EA_SESSION_KEY_LEN + 65);
    ck_assert_int_eq(ea_session_cookie_verify(secret, strlen(secret), cookie, strlen(cookie), out), 1);
    ck_assert_str_eq(out, key);
    /* another secret, a changed key or signature, a truncated value: refused */
    ck_assert_int_eq(ea_session_cookie_verify("other", 5, cookie, strlen(cookie), out), 0);
    char bad[EA_SESSION_COOKIE_MAX];
    strcpy(bad, cookie);
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(ea_session_cookie_verify(secret, strlen(secret), bad, strlen(bad), out), 0);
    strcpy(bad, cookie);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    ck_assert_int_eq(ea_session_cookie_verify(secret, strlen(secret), bad, strlen(bad), out), 0);
    ck_assert_int_eq(ea_session_cookie_verify(secret, strlen(secret), cookie, strlen(cookie) - 1, out), 0);
    ck_assert_int_eq(ea_session_cookie_verify(secret, strlen(secret), "", 0, out), 0);
}
END_TEST

/* The MAC covers the prefix and every character of the key (issue 11:
 * the last one was once left out, so one cookie was valid for 36 keys). */
START_TEST(session_mac_covers_whole_key)
{
    char cookie[EA_SESSION_COOKIE_MAX], bad[EA_SESSION_COOKIE_MAX], out[EA_SESSION_KEY_LEN + 1];
    const char *secret = "secret-for-the-vector";
    const char *key = "abcdefghijklmnopqrstuvwxyz012345";
    ea_session_cookie(secret, strlen(secret), key, cookie);
    /* HMAC-SHA256(secret, "ecoatlas.session:" + key), computed elsewhere */
    ck_assert_str_eq(cookie, "abcdefghijklmnopqrstuvwxyz012345."
                     "a4cc9996e2f50e9e952b2cd3ec9658a5a3c60a69ffe4cdd41a4bc8499049b2ad");
    for (const char *c = "abcdefghijklmnopqrstuvwxyz0123456789"; *c; c++) {
        if (*c == '5')
            continue;
        strcpy(bad, cookie);
        bad[EA_SESSION_KEY_LEN - 1] = *c;
        ck_assert_int_eq(ea_session_cookie_verify(secret, strlen(secret), bad, strlen(bad), out), 0);
    }
}
END_TEST

START_TEST(csrf_tokens)
{
    char c[EA_CSRF_LEN + 1];
    ck_assert_int_eq(ea_csrf_new(c), 0);
    ck_assert_int_eq(ea_csrf_valid(c, strlen(c)), 1);
    ck_assert_int_eq(ea_csrf_match(c, 32, c, 32), 1);
    const char *secret = "abcdefghijklmnopqrstuvwxyzABCDEF";
    /* masked form computed with Django's algorithm (_mask_cipher_secret) */
    const char *masked = "0123456789abcdefghijklmnopqrstuv02468acegikmoqsuwyACEGIKMOQSUWY0";
    ck_assert_int_eq(ea_csrf_match(secret, 32, masked, 64), 1);
    ck_assert_int_eq(ea_csrf_match(secret, 32, secret, 32), 1);
    ck_assert_int_eq(ea_csrf_match(secret, 32, "abcdefghijklmnopqrstuvwxyzABCDEG", 32), 0);
    ck_assert_int_eq(ea_csrf_match(secret, 32, "abcdefghijklmnopqrstuvwxyzABCDE", 31), 0);
    ck_assert_int_eq(ea_csrf_match(secret, 32, "abcdefghijklmnopqrstuvwxyzABCD!F", 32), 0);
    ck_assert_int_eq(ea_csrf_match("short", 5, "short", 5), 0);
    ck_assert_int_eq(ea_csrf_valid("abcdefghijklmnopqrstuvwxyzABCD-F", 32), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, password_known_vectors);
    tcase_add_test(tc, password_unusable_and_malformed);
    tcase_add_test(tc, password_roundtrip);
    tcase_add_test(tc, token_keys);
    tcase_add_test(tc, token_header_rules);
    tcase_add_test(tc, session_cookies);
    tcase_add_test(tc, session_mac_covers_whole_key);
    tcase_add_test(tc, csrf_tokens);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
