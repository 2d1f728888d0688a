/* ea_mod_auth: who is calling (docs/decisions.md §3, D8, D9) and may they do it.
 *
 * Authentication runs in httpd's authentication phase, so `%u` in access
 * logs shows the user: force_authn resolves the credentials of an API
 * request (DRF's order: the Token header first, then the session cookie)
 * and asks httpd to run check_authn only when there is a user to set or an
 * error to report; check_authn sets r->user or answers 401 with
 * WWW-Authenticate: Token.  A request without credentials stays anonymous.
 *
 * Token keys and session keys are looked up by their SHA-256 digest.  What
 * the database said about a digest is kept for up to a minute in the shared
 * response-cache region, under a generation that PostgreSQL's NOTIFY
 * ecoatlas_auth bumps whenever a token, session or user changes — so a
 * revocation reaches every child within the listener's poll interval, and
 * while no listener is healthy every check goes to the database.
 *
 * ea_auth_permit() then applies DRF's order: CSRF for session-authenticated
 * unsafe requests (403), then the route's permission (401/403). */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "ea_mod_cache.h"
#include "ea_mod_limits.h"
#include "ea_mod_auth.h"
#include "ea_mod_metrics.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "util_cookies.h"
#include "http_core.h"
#include "ea_auth.h"
#include "ea_edge.h"
#include "ea_sql_auth.h"
#include "ea_logno.h"

APLOG_USE_MODULE(ecoatlas);

#define MIN_SECRET_LEN 32

/* What force_authn found, for check_authn. */
typedef struct {
    int state;                 /* 0 anonymous, 1 user, -1 error, -2 database, -3 refused */
    const char *error;         /* 401 detail */
    ea_metric_counter why;     /* -1: the reason, for the metrics */
    unsigned retry_s;          /* -3: seconds until the client may try again */
    ea_db_status db_status;    /* -2: how the lookup failed */
    ea_user *user;
} auth_result;

/* ---- directives --------------------------------------------------------------------- */

static const char *check_secret(cmd_parms *cmd, const char *v, const char *what)
{
    if (strlen(v) < MIN_SECRET_LEN)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': %s is %d characters long; "
                            "use at least %d random characters (e.g. openssl rand -base64 48)",
                            cmd->directive->directive, what, (int)strlen(v), MIN_SECRET_LEN);
    return NULL;
}

const char *ea_auth_set_secret(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = check_secret(cmd, arg, "the key");
    if (err)
        return err;
    ea_sconf(cmd->server)->secret_key = arg;
    return NULL;
}

/* The key from a file that only its owner (root: httpd's parent) may read. */
const char *ea_auth_set_secret_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *dn = cmd->directive->directive;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;
    apr_file_t *f;
    char buf[4097];
    apr_size_t n = sizeof(buf) - 1;

    if (!path)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': bad path '%s'", dn, arg);
    apr_status_t rv = apr_stat(&fi, path, APR_FINFO_PROT | APR_FINFO_TYPE, cmd->temp_pool);
    if (rv != APR_SUCCESS || fi.filetype != APR_REG)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': cannot read '%s'", dn, path);
    /* As OpenSSH for private keys: no access at all for group or others. */
    if (fi.protection & (APR_GREAD | APR_GWRITE | APR_GEXECUTE | APR_WREAD | APR_WWRITE | APR_WEXECUTE))
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' is accessible by users "
                            "other than its owner (group or others); make it readable and writable "
                            "by its owner only (chmod 600)", dn, path);
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_read_full(f, buf, n, &n);
        apr_file_close(f);
        if (rv == APR_EOF)
            rv = APR_SUCCESS;
    }
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': cannot read '%s'", dn, path);
    if (n == sizeof(buf) - 1)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' is larger than 4 KB", dn, path);
    while (n > 0 && apr_isspace(buf[n - 1]))
        n--;
    buf[n] = '\0';
    if (memchr(buf, '\0', n) || strchr(buf, '\n'))
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' must hold the key "
                            "on one line", dn, path);
    const char *err = check_secret(cmd, buf, "the key in the file");
    if (err)
        return err;
    ea_sconf(cmd->server)->secret_key = apr_pstrmemdup(cmd->pool, buf, n);
    memset(buf, 0, sizeof(buf));
    return NULL;
}

const char *ea_auth_set_token_name(cmd_parms *cmd, void *dconf, const char *arg)
{
    size_t n = strlen(arg);
    if (n == 0 || n > 100)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': expected 1 to 100 characters "
                            "(the date is appended)", cmd->directive->directive);
    ea_sconf(cmd->server)->token_name = arg;
    return NULL;
}

/* Exact origins, or a wildcard host "*.example.org" after the scheme (subdomains). */
const char *ea_auth_set_csrf_origins(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    const char *star = strstr(arg, "://*.");
    char *norm;
    if (star) {
        char *rest = ea_origin_normalize(cmd->pool, apr_pstrcat(cmd->pool, apr_pstrmemdup(cmd->pool, arg,
                                         (apr_size_t)(star - arg)), "://", star + 5, NULL));
        norm = rest ? apr_pstrcat(cmd->pool, "*", rest, NULL) : NULL;
    } else {
        norm = ea_origin_normalize(cmd->pool, arg);
    }
    if (!norm)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (expected an origin "
                            "such as https://app.example.org or https://*.example.org)",
                            cmd->directive->directive, arg);
    if (!c->csrf_trusted)
        c->csrf_trusted = apr_array_make(cmd->pool, 4, sizeof(const char *));
    APR_ARRAY_PUSH(c->csrf_trusted, const char *) = norm;
    return NULL;
}

const char *ea_auth_token_name(const ea_srv_conf *sc)
{
    return ea_srv_getp(sc, token_name);
}

/* ---- start-up: a secret is required wherever the API is mounted ---------------------- */

/* Does a section of this per-directory configuration, or one nested in it
 * (<Files>, <If>), set our handler?  httpd's own parsed sections, as the
 * request walks merge them: <Location>, <LocationMatch>, <Directory>,
 * <Files> alike. */
static int sets_handler(ap_conf_vector_t *v)
{
    core_dir_config *d = v ? ap_get_core_module_config(v) : NULL;
    if (!d)
        return 0;
    if (d->handler && strcasecmp(d->handler, EA_HANDLER) == 0)
        return 1;
    apr_array_header_t *nested[2] = { d->sec_file, d->sec_if };
    for (int l = 0; l < 2; l++)
        for (int i = 0; nested[l] && i < nested[l]->nelts; i++)
            if (sets_handler(APR_ARRAY_IDX(nested[l], i, ap_conf_vector_t *)))
                return 1;
    return 0;
}

static int api_mounted(server_rec *s)
{
    for (server_rec *v = s; v; v = v->next) {
        core_server_config *core = ap_get_core_module_config(v->module_config);
        apr_array_header_t *lists[2] = { core->sec_url, core->sec_dir };
        if (sets_handler(v->lookup_defaults))
            return 1;
        for (int l = 0; l < 2; l++)
            for (int i = 0; lists[l] && i < lists[l]->nelts; i++)
                if (sets_handler(APR_ARRAY_IDX(lists[l], i, ap_conf_vector_t *)))
                    return 1;
    }
    return 0;
}

/* EcoAtlasDebug's temporary key: one per run of httpd, kept in the process
 * pool (as the shared-memory regions are), so a graceful restart keeps the
 * sessions signed with it. */
static const char *temporary_key(server_rec *s)
{
    static const char key[] = "ecoatlas:temporary-secret";
    apr_pool_t *keep = s->process->pool;
    void *v = NULL;
    apr_pool_userdata_get(&v, key, keep);
    if (!v) {
        char *generated = apr_palloc(keep, 65);
        uint8_t b[32];
        ea_random(b, sizeof(b));
        for (int i = 0; i < 32; i++)
            apr_snprintf(generated + 2 * i, 3, "%02x", b[i]);
        apr_pool_userdata_set(generated, key, NULL, keep);
        v = generated;
    }
    return v;
}

int ea_auth_post_config(apr_pool_t *pconf, server_rec *s)
{
    if (!api_mounted(s))
        return OK;
    for (server_rec *v = s; v; v = v->next) {
        ea_srv_conf *sc = ea_sconf(v);
        ea_dir_conf *dc = ap_get_module_config(v->lookup_defaults, &ecoatlas_module);
        if (sc->secret_key)
            continue;
        if (!dc || !ea_conf_debug(dc)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         EA_LOGNO(00003) "no EcoAtlasSecretKey or EcoAtlasSecretKeyFile for %s:%d: sessions are signed "
                         "with it, so httpd will not start without one (give a file readable by root "
                         "only; EcoAtlasDebug On generates a temporary key for development)",
                         v->server_hostname ? v->server_hostname : "the main server", v->port);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        sc->secret_key = temporary_key(v);
        if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, v,
                         EA_LOGNO(00004) "EcoAtlasDebug On and no EcoAtlasSecretKey: using a temporary random key; "
                         "sessions end when httpd restarts (never run production like this)");
    }
    return OK;
}

/* ---- looking credentials up ------------------------------------------------------------- */

/* Parse a cached/DB description "U\t<id>\t<staff>\t<active>\t<expires>\t<username>". */
static ea_user *parse_user(apr_pool_t *p, const char *v, int *active, apr_int64_t *expires)
{
    if (v[0] != 'U' || v[1] != '\t')
        return NULL;
    char *copy = apr_pstrdup(p, v + 2), *last;
    const char *id = apr_strtok(copy, "\t", &last);
    const char *staff = apr_strtok(NULL, "\t", &last);
    const char *act = apr_strtok(NULL, "\t", &last);
    const char *exp = apr_strtok(NULL, "\t", &last);
    const char *name = last;
    if (!id || !staff || !act || !exp || !name || !*name)
        return NULL;
    ea_user *u = apr_pcalloc(p, sizeof(*u));
    u->id = apr_atoi64(id);
    u->is_staff = *staff == 't';
    u->username = name;
    *active = *act == 't';
    *expires = apr_atoi64(exp);
    return u;
}

/* A client that went over the failed-credential limit is refused for the
 * rest of its window from the shared cache, before any database lookup
 * (the cache entry is the "peek" the throttle table does not offer). */
static const char *block_key(request_rec *r)
{
    char client[EA_CLIENT_KEY_SIZE];
    if (ea_client_key(client, sizeof(client), r->useragent_ip) != 0)
        client[0] = '\0';
    return apr_pstrcat(r->pool, "auth:block:", client, NULL);
}

static apr_int64_t blocked_until(request_rec *r)
{
    char buf[32 * 1024];
    size_t len;
    uint64_t gen;
    if (ea_cache_auth_get(r, block_key(r), buf, sizeof(buf), &len, &gen) != 1 || len >= 32)
        return 0;
    buf[len] = '\0';
    apr_int64_t until = apr_atoi64(buf);
    return until > apr_time_sec(apr_time_now()) ? until : 0;
}

static void block(request_rec *r, unsigned retry_s)
{
    const char *v = apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                 (apr_int64_t)(apr_time_sec(apr_time_now()) + retry_s));
    if (retry_s)
        ea_cache_auth_put_now(r, block_key(r), v, strlen(v));
}

/* Look up one digest: kind 't' (token) or 's' (session).  Returns the
 * description ("U..." or "N"), or NULL after a database failure (its
 * status in *failure). */
static const char *lookup(ea_req *rq, char kind, const char *hex, const char *legacy_key,
                          ea_db_status *failure)
{
    request_rec *r = rq->r;
    const char *ckey = apr_pstrcat(r->pool, kind == 't' ? "auth:t:" : "auth:s:", hex, NULL);
    char buf[32 * 1024];
    size_t len;
    uint64_t gen;
    int c = ea_cache_auth_get(r, ckey, buf, sizeof(buf), &len, &gen);
    if (c == 1)
        return apr_pstrmemdup(r->pool, buf, len);
    if (kind == 't') {
        /* a key the cache does not know, from a client over the
         * failed-credential limit: refused without asking the database */
        apr_int64_t until = blocked_until(r);
        if (until)
            return apr_psprintf(r->pool, "B%" APR_INT64_T_FMT, until - apr_time_sec(apr_time_now()));
    }

    PGresult *res;
    ea_db_status st = ea_db_query(rq, kind == 't' ? ea_sql_token_lookup(r->pool, hex, legacy_key)
                                                  : ea_sql_session_lookup(r->pool, hex), &res);
    if (st != EA_DB_OK) {
        *failure = st;
        return NULL;
    }
    const char *v = "N";
    if (PQntuples(res) > 0) {
        v = apr_psprintf(r->pool, "U\t%s\t%s\t%s\t%s\t%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                         PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
        if (kind == 't' && !PQgetisnull(res, 0, 5)) {
            /* last use, to within the cache's minute; no NOTIFY for this column */
            PGresult *ignored;
            ea_db_query(rq, ea_sql_token_touch(r->pool, PQgetvalue(res, 0, 5)), &ignored);
        }
    }
    if (c == 0)
        ea_cache_auth_put(r, ckey, gen, v, strlen(v));
    return v;
}

static void resolve_token(ea_req *rq, auth_result *ar, const char *key, size_t klen)
{
    request_rec *r = rq->r;
    char hex[65];
    ea_sha256(key, klen, NULL, hex);
    const char *legacy = klen <= 40 ? apr_pstrmemdup(r->pool, key, klen) : "";
    const char *v = lookup(rq, 't', hex, legacy, &ar->db_status);
    int active;
    apr_int64_t expires;
    if (!v) {
        ar->state = -2;   /* database failure */
        return;
    }
    if (v[0] == 'B') {
        apr_int64_t left = apr_atoi64(v + 1);
        ar->state = -3;
        ar->retry_s = left > 0 ? (unsigned)left : 1;
        return;
    }
    ea_user *u = parse_user(r->pool, v, &active, &expires);
    if (!u) {
        ar->state = -1;
        ar->error = "Invalid token.";
        ar->why = EA_C_AUTH_F_INVALID;
    } else if (!active) {
        ar->state = -1;
        ar->error = "User inactive or deleted.";
        ar->why = EA_C_AUTH_F_INACTIVE;
    } else if (expires && expires <= apr_time_sec(apr_time_now())) {
        ar->state = -1;
        ar->error = "Token has expired.";
        ar->why = EA_C_AUTH_F_EXPIRED;
    } else {
        ar->state = 1;
        ar->user = u;
    }
}

/* The session key of a well-formed, correctly signed sessionid cookie. */
const char *ea_auth_session_key(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    const char *val = NULL;
    char key[EA_SESSION_KEY_LEN + 1];
    if (!sc->secret_key || ap_cookie_read(r, EA_SESSION_COOKIE, &val, 0) != APR_SUCCESS || !val)
        return NULL;
    if (!ea_session_cookie_verify(sc->secret_key, strlen(sc->secret_key), val, strlen(val), key))
        return NULL;
    return apr_pstrdup(r->pool, key);
}

static void resolve_session(ea_req *rq, auth_result *ar)
{
    request_rec *r = rq->r;
    const char *key = ea_auth_session_key(rq);
    char hex[65];
    if (!key)
        return;   /* absent, forged or from another secret: anonymous, as Django */
    ea_sha256(key, strlen(key), NULL, hex);
    const char *v = lookup(rq, 's', hex, NULL, &ar->db_status);
    int active;
    apr_int64_t expires;
    if (!v) {
        ar->state = -2;
        return;
    }
    ea_user *u = parse_user(r->pool, v, &active, &expires);
    if (!u || !active || expires <= apr_time_sec(apr_time_now()))
        return;   /* ended, expired or inactive user: anonymous (DRF's SessionAuthentication) */
    u->via_session = 1;
    ar->state = 1;
    ar->user = u;
}

static auth_result *resolve(ea_req *rq)
{
    request_rec *r = rq->r;
    auth_result *ar = apr_pcalloc(r->pool, sizeof(*ar));
    const char *key, *err;
    size_t klen;
    int t = ea_token_header(apr_table_get(r->headers_in, "Authorization"), &key, &klen, &err);
    if (t < 0) {
        ar->state = -1;
        ar->error = err;
        ar->why = EA_C_AUTH_F_MALFORMED;
    } else if (t > 0) {
        resolve_token(rq, ar, key, klen);
    } else {
        resolve_session(rq, ar);
    }
    return ar;
}

static auth_result *request_auth(ea_req *rq)
{
    static const char note[] = "ecoatlas-auth";
    auth_result *ar = NULL;
    apr_pool_userdata_get((void **)&ar, note, rq->r->pool);
    if (!ar) {
        ar = resolve(rq);
        apr_pool_userdata_setn(ar, note, NULL, rq->r->pool);
    }
    return ar;
}

static int has_credentials(request_rec *r)
{
    const char *key, *err;
    size_t klen;
    if (ea_token_header(apr_table_get(r->headers_in, "Authorization"), &key, &klen, &err) != 0)
        return 1;
    const char *cookie = apr_table_get(r->headers_in, "Cookie");
    return cookie && ap_strstr_c(cookie, EA_SESSION_COOKIE "=") != NULL;
}

/* force_authn: have httpd run check_authn when there is a user to set or
 * an error to report (it answers 500 when check_authn sets no user). */
static int ea_force_authn(request_rec *r)
{
    ea_req *rq = ea_req_get(r);
    if (!rq || r->main || !has_credentials(r))
        return DECLINED;
    return request_auth(rq)->state != 0 ? OK : DECLINED;
}

static int ea_check_authn(request_rec *r)
{
    ea_req *rq = ea_req_get(r);
    if (!rq || r->main || !has_credentials(r))
        return DECLINED;
    auth_result *ar = request_auth(rq);
    switch (ar->state) {
    case 1:
        r->user = apr_pstrdup(r->pool, ar->user->username);
        r->ap_auth_type = ar->user->via_session ? "Session" : "Token";
        rq->user = ar->user;
        ea_count(r->server, ar->user->via_session ? EA_C_AUTH_SESSION : EA_C_AUTH_TOKEN);
        return OK;
    case -1: {
        unsigned retry;
        ea_count(r->server, ar->why);
        if (ea_limits_auth_failure(rq, &retry) != 0) {   /* 429 sent */
            block(r, retry);
            return DONE;
        }
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "Token");
        ea_send_detail(rq, HTTP_UNAUTHORIZED, ar->error);
        return DONE;
    }
    case -3:
        ea_count(r->server, EA_C_AUTH_F_BLOCKED);
        ea_limits_send_throttled(rq, ar->retry_s);
        return DONE;
    case -2:
        ea_count(r->server, EA_C_AUTH_F_DATABASE);
        ea_db_fail(rq, ar->db_status);
        return DONE;
    default:
        return DECLINED;
    }
}

/* ---- CSRF (Django's CsrfViewMiddleware, as DRF's SessionAuthentication runs it) ---- */

static int trusted_origin(const ea_srv_conf *sc, const char *norm)
{
    if (!sc->csrf_trusted || !norm)
        return 0;
    for (int i = 0; i < sc->csrf_trusted->nelts; i++) {
        const char *t = APR_ARRAY_IDX(sc->csrf_trusted, i, const char *);
        if (t[0] != '*') {
            if (strcmp(t, norm) == 0)
                return 1;
            continue;
        }
        /* "*" + an origin: same scheme, a subdomain of its host */
        const char *tsep = strstr(t + 1, "://"), *nsep = strstr(norm, "://");
        if (!tsep || !nsep || (tsep - (t + 1)) != (nsep - norm) || strncmp(t + 1, norm, (size_t)(nsep - norm)))
            continue;
        const char *th = tsep + 3, *nh = nsep + 3;
        size_t tl = strlen(th), nl = strlen(nh);
        if (nl > tl + 1 && nh[nl - tl - 1] == '.' && strcmp(nh + nl - tl, th) == 0)
            return 1;
    }
    return 0;
}

/* Is origin (normalised) this host's own origin or a trusted one? */
static int origin_allowed(ea_req *rq, const char *norm)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *own = host ? ea_origin_normalize(r->pool, apr_pstrcat(r->pool, rq->scheme, "://", host, NULL))
                           : NULL;
    return norm && ((own && strcmp(norm, own) == 0) || trusted_origin(sc, norm));
}

/* Django's Origin check: NULL when allowed, else why not. */
static const char *origin_failure(ea_req *rq, const char *origin)
{
    if (origin_allowed(rq, ea_origin_normalize(rq->r->pool, origin)))
        return NULL;
    return apr_psprintf(rq->r->pool, "Origin checking failed - %s does not match any trusted origins.", origin);
}

/* Django's Referer check (the page's origin must be allowed); with
 * require_https, as Django does for a secure request, an http Referer
 * fails too.  NULL when allowed, else why not. */
static const char *referer_failure(ea_req *rq, const char *ref, int require_https)
{
    apr_pool_t *p = rq->r->pool;
    const char *sep = strstr(ref, "://");
    if (!sep || sep == ref || !sep[3] || sep[3] == '/')
        return "Referer checking failed - Referer is malformed.";
    if (require_https && strncasecmp(ref, "https://", 8) != 0)
        return "Referer checking failed - Referer is insecure while host is secure.";
    size_t hl = strcspn(sep + 3, "/?#");
    const char *rorig = ea_origin_normalize(p, apr_pstrmemdup(p, ref, (apr_size_t)(sep + 3 + hl - ref)));
    if (!rorig)
        return "Referer checking failed - Referer is malformed.";
    if (!origin_allowed(rq, rorig))
        return apr_psprintf(p, "Referer checking failed - %s does not match any trusted origins.", ref);
    return NULL;
}

static const char *csrf_failure(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *why = NULL;

    if (origin) {
        why = origin_failure(rq, origin);
    } else if (rq->secure) {
        const char *ref = apr_table_get(r->headers_in, "Referer");
        why = ref ? referer_failure(rq, ref, 1) : "Referer checking failed - no Referer.";
    }
    if (why)
        return why;
    const char *cookie = NULL;
    if (ap_cookie_read(r, EA_CSRF_COOKIE, &cookie, 0) != APR_SUCCESS || !cookie
        || !ea_csrf_valid(cookie, strlen(cookie)))
        return "CSRF cookie not set.";
    const char *token = apr_table_get(r->headers_in, "X-CSRFToken");
    if (!token || !*token)
        return "CSRF token missing.";
    if (!ea_csrf_match(cookie, strlen(cookie), token, strlen(token)))
        return "CSRF token incorrect.";
    return NULL;
}

/* Login CSRF (docs/security.md): a browser posting the login form from another
 * site would log its user into the attacker's account.  Browsers name the
 * posting page in Origin (or at least Referer); when either is there it
 * must be this host or a trusted origin.  Clients that send neither
 * (scripts, curl) are not browsers and carry no victim's cookies. */
const char *ea_auth_login_csrf_failure(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *ref = apr_table_get(r->headers_in, "Referer");

    if (origin)
        return origin_failure(rq, origin);
    return ref ? referer_failure(rq, ref, 0) : NULL;
}

/* ---- permissions ------------------------------------------------------------------------ */

int ea_auth_permit(ea_req *rq)
{
    request_rec *r = rq->r;
    int safe = ea_is_safe_method(r);
    if (!rq->route || (safe && rq->route->perm != EA_PERM_STAFF))
        return 0;
    if (!safe && rq->user && rq->user->via_session) {
        const char *why = csrf_failure(rq);
        if (why) {
            ea_count(r->server, EA_C_AUTH_F_CSRF);
            ea_send_detail(rq, HTTP_FORBIDDEN, apr_pstrcat(r->pool, "CSRF Failed: ", why, NULL));
            return -1;
        }
    }
    if (rq->route->perm == EA_PERM_ANY)
        return 0;
    if (!rq->user) {
        ea_count(r->server, EA_C_AUTH_F_NOT_AUTHENTICATED);
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "Token");
        ea_send_detail(rq, HTTP_UNAUTHORIZED, "Authentication credentials were not provided.");
        return -1;
    }
    if ((rq->route->perm == EA_PERM_STAFF_WRITE || rq->route->perm == EA_PERM_STAFF)
        && !rq->user->is_staff) {
        ea_count(r->server, EA_C_AUTH_F_FORBIDDEN);
        ea_send_detail(rq, HTTP_FORBIDDEN, "You do not have permission to perform this action.");
        return -1;
    }
    return 0;
}

void ea_auth_register_hooks(apr_pool_t *p)
{
    ap_hook_force_authn(ea_force_authn, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_authn(ea_check_authn, NULL, NULL, APR_HOOK_FIRST, AP_AUTH_INTERNAL_PER_CONF);
}
