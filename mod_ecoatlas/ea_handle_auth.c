/* ea_handle_auth: POST /api/auth/token/ (DRF's ObtainAuthToken, but every
 * call returns a new named token: docs/decisions.md D8), POST /api/auth/login/ and
 * POST /api/auth/logout/ (server-side sessions: D9).
 *
 * Passwords are checked against auth_user's Django hashes; an unknown user
 * costs the same hashing time as a known one.  Both login endpoints have
 * their own rate limit (EcoAtlasRateLimitLogin) per client and username. */
#include "ea_mod_conf.h"
#include "ea_logno.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "ea_mod_cache.h"
#include "ea_mod_limits.h"
#include "ea_mod_auth.h"
#include "ea_mod_body.h"
#include "ea_mod_metrics.h"
#include "apr_strings.h"
#include "util_cookies.h"
#include "ea_auth.h"
#include "ea_json.h"
#include "ea_sql_auth.h"

#include <json-c/json.h>

APLOG_USE_MODULE(ecoatlas);

#define SESSION_AGE_S 1209600      /* Django's SESSION_COOKIE_AGE: two weeks */
#define CSRF_AGE_S 31449600        /* Django's CSRF_COOKIE_AGE: 52 weeks */
#define BAD_CREDENTIALS "{\"non_field_errors\":[\"Unable to log in with provided credentials.\"]}"

/* DRF's CharField: strings and numbers are accepted (numbers as their
 * text); anything else is "Not a valid string.".  Appends the field's
 * error list to errs and returns NULL on error. */
static const char *char_field(ea_req *rq, json_object *data, const char *name, int trim, ea_buf *errs)
{
    json_object *v = NULL;
    const char *msg = NULL, *s = NULL;
    if (!json_object_object_get_ex(data, name, &v))
        msg = "This field is required.";
    else if (!v)
        msg = "This field may not be null.";
    else if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int)
             || json_object_is_type(v, json_type_double))
        s = json_object_get_string(v);
    else
        msg = "Not a valid string.";
    if (s) {
        if (trim) {
            while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
                s++;
            size_t n = strlen(s);
            while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'
                         || s[n - 1] == '\f' || s[n - 1] == '\v'))
                n--;
            s = apr_pstrmemdup(rq->r->pool, s, n);
        }
        if (!*s) {
            msg = "This field may not be blank.";
            s = NULL;
        }
    }
    if (msg) {
        ea_buf_puts(errs, errs->len ? "," : "{");
        ea_json_cstr(errs, name);
        ea_buf_puts(errs, ":[");
        ea_json_cstr(errs, msg);
        ea_buf_putc(errs, ']');
    }
    return s;
}

/* Validate the body, apply the login limit and check the password.
 * Returns the user (id, username, is_staff) or NULL after answering. */
static ea_user *authenticate(ea_req *rq)
{
    request_rec *r = rq->r;
    json_object *data;
    int is_form;
    ea_buf errs;

    if (ea_body_read(rq, &data, &is_form) != 0)
        return NULL;
    ea_buf_init(&errs, r->pool, 128);
    const char *username = char_field(rq, data, "username", 1, &errs);
    const char *password = char_field(rq, data, "password", 0, &errs);
    if (errs.len) {
        ea_buf_putc(&errs, '}');
        ea_send_json(rq, HTTP_BAD_REQUEST, &errs);
        return NULL;
    }
    if (ea_limits_login(rq, username) != 0)
        return NULL;

    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_sql_user_by_name(r->pool, username), &res);
    if (st != EA_DB_OK) {
        ea_db_fail(rq, st);
        return NULL;
    }
    int ok = 0;
    if (PQntuples(res) == 0) {
        ea_password_dummy_check(password);   /* as long as a real check */
    } else {
        int m = ea_password_check(password, PQgetvalue(res, 0, 1));
        if (m < 0 && PQgetvalue(res, 0, 1)[0] != '!')
            ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, EA_LOGNO(00026) "login refused: the password hash of a user "
                          "is in a format this module does not check (only pbkdf2_sha256/sha1)");
        ok = m == 1 && strcmp(PQgetvalue(res, 0, 2), "t") == 0;   /* inactive: as a wrong password */
    }
    if (!ok) {
        ea_count(r->server, EA_C_AUTH_F_BAD_CREDENTIALS);
        ea_send_raw_json(rq, HTTP_BAD_REQUEST, BAD_CREDENTIALS, sizeof(BAD_CREDENTIALS) - 1);
        return NULL;
    }
    ea_user *u = apr_pcalloc(r->pool, sizeof(*u));
    u->id = apr_atoi64(PQgetvalue(res, 0, 0));
    u->is_staff = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    u->username = apr_pstrdup(r->pool, PQgetvalue(res, 0, 4));
    return u;
}

static const char *today(apr_pool_t *p)
{
    apr_time_exp_t tm;
    char buf[16];
    apr_size_t n;
    apr_time_exp_gmt(&tm, apr_time_now());
    apr_strftime(buf, &n, sizeof(buf), "%Y-%m-%d", &tm);
    return apr_pstrdup(p, buf);
}

int ea_handle_auth_token(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_user *u = authenticate(rq);
    if (!u)
        return OK;
    char key[EA_TOKEN_LEN + 1], hex[65];
    if (ea_token_new(key) != 0)
        return ea_send_server_error(rq, "no randomness for a token");
    ea_sha256(key, EA_TOKEN_LEN, NULL, hex);
    const char *prefix = apr_pstrndup(r->pool, key, EA_TOKEN_PREFIX_LEN);
    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_sql_token_insert(r->pool,
        apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)u->id), hex, prefix,
        apr_pstrcat(r->pool, ea_auth_token_name(sc), " ", today(r->pool), NULL)), &res);
    if (st != EA_DB_OK)
        return ea_db_fail(rq, st);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, EA_LOGNO(00027) "new API token for user %s (prefix %s)", u->username,
                  prefix);
    ea_count(r->server, EA_C_AUTH_TOKEN_ISSUED);
    ea_buf b;
    ea_buf_init(&b, r->pool, 64);
    ea_buf_puts(&b, "{\"token\":\"");
    ea_buf_puts(&b, key);
    ea_buf_puts(&b, "\"}");
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return ea_send_json(rq, HTTP_OK, &b);
}

static void set_cookie(request_rec *r, const char *name, const char *value, long max_age,
                       int http_only, int secure)
{
    char date[APR_RFC822_DATE_LEN];
    apr_time_t when = max_age > 0 ? apr_time_now() + apr_time_from_sec(max_age) : 0;
    apr_rfc822_date(date, when);
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool, "%s=%s; expires=%s; Max-Age=%ld; Path=/; SameSite=Lax%s%s",
                                name, value, date, max_age, http_only ? "; HttpOnly" : "",
                                secure ? "; Secure" : ""));
}

/* The digest of the session the request's cookie names, if well signed. */
static const char *cookie_session_hex(ea_req *rq)
{
    const char *key = ea_auth_session_key(rq);
    char *hex = key ? apr_palloc(rq->r->pool, 65) : NULL;
    if (key)
        ea_sha256(key, strlen(key), NULL, hex);
    return hex;
}

static ea_db_status end_session(ea_req *rq, const char *hex)
{
    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_sql_session_end(rq->r->pool, hex), &res);
    if (st == EA_DB_OK)
        ea_cache_auth_invalidate(rq->r);   /* here at once; NOTIFY tells the other children */
    return st;
}

int ea_handle_auth_login(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    if (!sc->secret_key)   /* a mount that start-up did not see (AddHandler): no sessions */
        return ea_send_server_error(rq, "no EcoAtlasSecretKey for this server");
    const char *csrf_why = ea_auth_login_csrf_failure(rq);
    if (csrf_why)
        return ea_send_detail(rq, HTTP_FORBIDDEN, apr_pstrcat(r->pool, "CSRF Failed: ", csrf_why, NULL));
    ea_user *u = authenticate(rq);
    if (!u)
        return OK;
    char key[EA_SESSION_KEY_LEN + 1], hex[65], cookie[EA_SESSION_COOKIE_MAX], csrf[EA_CSRF_LEN + 1];
    if (ea_session_key_new(key) != 0 || ea_csrf_new(csrf) != 0)
        return ea_send_server_error(rq, "no randomness for a session");
    /* A new key at every login (no session fixation): the old one ends. */
    const char *old = cookie_session_hex(rq);
    ea_db_status st;
    if (old && (st = end_session(rq, old)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    ea_sha256(key, strlen(key), NULL, hex);
    PGresult *res;
    st = ea_db_query(rq, ea_sql_session_start(r->pool, apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                                                    (apr_int64_t)u->id), hex, SESSION_AGE_S),
                     &res);
    if (st != EA_DB_OK)
        return ea_db_fail(rq, st);
    ea_count(r->server, EA_C_AUTH_LOGIN);
    ea_session_cookie(sc->secret_key, strlen(sc->secret_key), key, cookie);
    set_cookie(r, EA_SESSION_COOKIE, cookie, SESSION_AGE_S, 1, ea_srv_get(sc, session_cookie_secure) == 1);
    set_cookie(r, EA_CSRF_COOKIE, csrf, CSRF_AGE_S, 0, ea_srv_get(sc, csrf_cookie_secure) == 1);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_mergen(r->err_headers_out, "Vary", "Cookie");
    ea_buf b;
    ea_buf_init(&b, r->pool, 128);
    ea_buf_puts(&b, "{\"detail\":\"Logged in.\",\"username\":");
    ea_json_cstr(&b, u->username);
    ea_buf_puts(&b, u->is_staff ? ",\"is_staff\":true}" : ",\"is_staff\":false}");
    return ea_send_json(rq, HTTP_OK, &b);
}

int ea_handle_auth_logout(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    const char *hex = cookie_session_hex(rq);
    if (hex) {
        ea_db_status st = end_session(rq, hex);
        if (st != EA_DB_OK)
            return ea_db_fail(rq, st);
    }
    set_cookie(r, EA_SESSION_COOKIE, "\"\"", 0, 1, ea_srv_get(sc, session_cookie_secure) == 1);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return ea_send_detail(rq, HTTP_OK, "Logged out.");
}
