/* ea_deploy: see ea_deploy.h. */
#include "ea_deploy.h"

#include <apr_strings.h>
#include <string.h>

static void add(apr_pool_t *p, apr_array_header_t *out, const ea_deploy_settings *s,
                const char *id, const char *text)
{
    ea_deploy_warning *w = apr_array_push(out);
    w->id = id;
    w->server = s->name ? s->name : "main server";
    w->text = apr_pstrdup(p, text);
}

static int distinct_chars(const char *k)
{
    unsigned char seen[256] = { 0 };
    int n = 0;
    for (const unsigned char *c = (const unsigned char *)k; *c; c++)
        if (!seen[*c]++)
            n++;
    return n;
}

int ea_deploy_check(apr_pool_t *p, const ea_deploy_settings *s, apr_array_header_t *out)
{
    int before = out->nelts;

    if (s->debug == 1)
        add(p, out, s, "ecoatlas.W018",
            "EcoAtlasDebug is On: error responses show internal details; "
            "set EcoAtlasDebug Off in production");
    if (!s->secret_key || !*s->secret_key)
        add(p, out, s, "ecoatlas.W009",
            "no secret key: set EcoAtlasSecretKey (or EcoAtlasSecretKeyFile) to a random "
            "string of at least 50 characters");
    else if (strlen(s->secret_key) < EA_DEPLOY_SECRET_MIN_LEN
             || distinct_chars(s->secret_key) < EA_DEPLOY_SECRET_MIN_CHARS)
        add(p, out, s, "ecoatlas.W009",
            "the secret key is weak (fewer than 50 characters or fewer than 5 distinct "
            "ones): set EcoAtlasSecretKey to a long random string");
    if (s->cors_allow_all == 1)
        add(p, out, s, "ecoatlas.W030",
            "EcoAtlasCORSAllowAllOrigins is On: every web site may read the API from its "
            "visitors' browsers; list the origins in EcoAtlasCORSAllowedOrigins instead");
    if (s->https) {
        if (s->hsts_seconds == EA_DEPLOY_UNSET || s->hsts_seconds <= 0)
            add(p, out, s, "ecoatlas.W004",
                "HTTPS host without HSTS: set EcoAtlasHSTSSeconds (e.g. 31536000) once "
                "the whole site is served over HTTPS");
        if (s->ssl_redirect != 1)
            add(p, out, s, "ecoatlas.W008",
                "HTTPS host that does not redirect plain HTTP: set EcoAtlasSSLRedirect On");
        if (s->session_cookie_secure != 1)
            add(p, out, s, "ecoatlas.W012",
                "HTTPS host with a session cookie sent over plain HTTP too: set "
                "EcoAtlasSessionCookieSecure On");
        if (s->csrf_cookie_secure != 1)
            add(p, out, s, "ecoatlas.W016",
                "HTTPS host with a CSRF cookie sent over plain HTTP too: set "
                "EcoAtlasCSRFCookieSecure On");
    }
    return out->nelts - before;
}

apr_array_header_t *ea_deploy_check_all(apr_pool_t *p, const ea_deploy_settings *main_server,
                                        const apr_array_header_t *vhosts)
{
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(ea_deploy_warning));
    ea_deploy_check(p, main_server, out);
    int nmain = out->nelts;
    apr_array_header_t *one = apr_array_make(p, 8, sizeof(ea_deploy_warning));
    for (int i = 0; vhosts && i < vhosts->nelts; i++) {
        one->nelts = 0;
        ea_deploy_check(p, &APR_ARRAY_IDX(vhosts, i, ea_deploy_settings), one);
        for (int j = 0; j < one->nelts; j++) {
            const ea_deploy_warning *w = &APR_ARRAY_IDX(one, j, ea_deploy_warning);
            int dup = 0;
            for (int k = 0; k < nmain && !dup; k++) {
                const ea_deploy_warning *m = &APR_ARRAY_IDX(out, k, ea_deploy_warning);
                dup = strcmp(m->id, w->id) == 0 && strcmp(m->text, w->text) == 0;
            }
            if (!dup)
                *(ea_deploy_warning *)apr_array_push(out) = *w;
        }
    }
    return out;
}

const char *ea_deploy_format(apr_pool_t *p, const ea_deploy_warning *w)
{
    return apr_psprintf(p, "%s: %s: %s", w->id, w->server, w->text);
}
