/* ea_deploy: the deploy check (Django's `manage.py check --deploy`), pure:
 * rules over a plain struct of one server's settings, shared by the
 * module (warnings in the error log at startup) and by
 * `ecoatlas check --deploy` (the same list, read from the config file).
 *
 * Ids (Django's where one exists):
 *   ecoatlas.W004  HSTS off on an HTTPS host        (EcoAtlasHSTSSeconds)
 *   ecoatlas.W008  no redirect to HTTPS             (EcoAtlasSSLRedirect)
 *   ecoatlas.W009  no secret key, or a weak one     (EcoAtlasSecretKey)
 *   ecoatlas.W012  session cookie without Secure    (EcoAtlasSessionCookieSecure)
 *   ecoatlas.W016  CSRF cookie without Secure       (EcoAtlasCSRFCookieSecure)
 *   ecoatlas.W018  debug on                          (EcoAtlasDebug)
 *   ecoatlas.W030  CORS open to every origin         (EcoAtlasCORSAllowAllOrigins)
 * The HTTPS rules apply to hosts reached over HTTPS: SSLEngine on, port
 * 443, or EcoAtlasProxySSLHeader set. */
#ifndef EA_DEPLOY_H
#define EA_DEPLOY_H

#include <apr_pools.h>
#include <apr_tables.h>

#define EA_DEPLOY_UNSET (-1)

/* Minimum length and distinct characters of a secret key (Django's). */
#define EA_DEPLOY_SECRET_MIN_LEN 50
#define EA_DEPLOY_SECRET_MIN_CHARS 5

typedef struct {
    const char *name;          /* how messages name the host: "main server", "vhost x:443" */
    int https;                 /* 1: reached over HTTPS (see above) */
    int debug;                 /* EcoAtlasDebug On somewhere in it */
    const char *secret_key;    /* NULL: none */
    int cors_allow_all;        /* 1: On */
    int hsts_seconds;          /* EA_DEPLOY_UNSET or 0: none */
    int ssl_redirect;          /* 1: On; otherwise off */
    int session_cookie_secure; /* 1: On; otherwise off (the default, as Django's) */
    int csrf_cookie_secure;    /* 1: On; otherwise off */
} ea_deploy_settings;

typedef struct {
    const char *id;            /* "ecoatlas.W004" */
    const char *server;        /* settings->name */
    const char *text;          /* what is weak and the directive to set */
} ea_deploy_warning;

/* Append the warnings for s to out (an array of ea_deploy_warning).
 * Returns how many were added. */
int ea_deploy_check(apr_pool_t *p, const ea_deploy_settings *s, apr_array_header_t *out);

/* Check the main server and its virtual hosts (vhosts: an array of
 * ea_deploy_settings, may be NULL): a virtual host's warning is left out
 * when the main server has the same one (same id and text: inherited), so
 * each weakness is named once.  Returns out. */
apr_array_header_t *ea_deploy_check_all(apr_pool_t *p, const ea_deploy_settings *main_server,
                                        const apr_array_header_t *vhosts);

/* "ecoatlas.W004: vhost x:443: text" */
const char *ea_deploy_format(apr_pool_t *p, const ea_deploy_warning *w);

#endif
