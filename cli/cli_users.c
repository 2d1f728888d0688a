/* cli_users: users and API tokens (what manage.py createsuperuser,
 * changepassword and drf_create_token did).  Users live in Django's auth_user
 * table with Django's password hashes, so a database shared with the Django
 * system keeps working both ways.  Tokens: several per user, named, with
 * creation, last-use and expiry times; only their SHA-256 is stored
 * (ecoatlas_token) and the key is printed once, at creation. */
#include "cli.h"
#include "ea_auth.h"

#include <apr_strings.h>

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define USERNAME_MAX 150
#define EMAIL_MAX 254
#define TOKEN_NAME_MAX 128

/* ---- small helpers ------------------------------------------------------------ */

static PGresult *q(cli_ctx *ctx, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(ctx->pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42P01") == 0)
            cli_err(ctx, "the database has no users/tokens tables yet: run 'ecoatlas migrate' first");
        else
            cli_err(ctx, "database error: %s", cli_chomp(ctx->pool, PQerrorMessage(ctx->pg)));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Django's UnicodeUsernameValidator, ASCII part: letters, digits and @.+-_ */
static int username_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > USERNAME_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
        if (*p >= 0x80)
            continue;   /* letters of other scripts are allowed by Django (\w) */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || strchr("@.+-_", *p)))
            return 0;
    }
    return 1;
}

/* Read one line from stdin (the password), without its newline. */
static char *read_line(apr_pool_t *p, FILE *in)
{
    char buf[EA_PASSWORD_MAX + 2];
    if (!fgets(buf, sizeof(buf), in))
        return NULL;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    char *s = apr_pstrdup(p, buf);
    memset(buf, 0, sizeof(buf));
    return s;
}

static char *prompt_hidden(cli_ctx *ctx, const char *prompt)
{
    struct termios old, quiet;
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return NULL;
    int fd = fileno(tty);
    fputs(prompt, tty);
    fflush(tty);
    if (tcgetattr(fd, &old) != 0) {
        fclose(tty);
        return NULL;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
    char *s = read_line(ctx->pool, tty);
    tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', tty);
    fclose(tty);
    return s;
}

/* The new password: --password-stdin reads one line; on a terminal it is
 * asked twice without echo.  NULL after printing why. */
static char *get_password(cli_ctx *ctx, int from_stdin)
{
    char *pw;
    if (from_stdin) {
        pw = read_line(ctx->pool, stdin);
        if (!pw) {
            cli_err(ctx, "no password on standard input");
            return NULL;
        }
    } else {
        if (!isatty(STDIN_FILENO)) {
            cli_err(ctx, "standard input is not a terminal: give the password with --password-stdin");
            return NULL;
        }
        pw = prompt_hidden(ctx, "Password: ");
        char *again = pw ? prompt_hidden(ctx, "Password (again): ") : NULL;
        if (!pw || !again) {
            cli_err(ctx, "cannot read the password from the terminal");
            return NULL;
        }
        if (strcmp(pw, again) != 0) {
            cli_err(ctx, "the two passwords differ");
            return NULL;
        }
    }
    if (*pw == '\0') {
        cli_err(ctx, "the password is empty");
        return NULL;
    }
    if (strlen(pw) > EA_PASSWORD_MAX) {
        cli_err(ctx, "the password is longer than %d bytes", EA_PASSWORD_MAX);
        return NULL;
    }
    return pw;
}

static char *hash_password(cli_ctx *ctx, const char *pw)
{
    char *h = apr_palloc(ctx->pool, EA_HASH_MAX);
    if (ea_password_hash(pw, EA_PBKDF2_ITERATIONS, h, EA_HASH_MAX) != 0) {
        cli_err(ctx, "cannot hash the password (no randomness?)");
        return NULL;
    }
    return h;
}

/* The id of username (as text), or NULL after printing why. */
static const char *user_id(cli_ctx *ctx, const char *username)
{
    const char *params[1] = { username };
    PGresult *r = q(ctx, "SELECT id FROM auth_user WHERE username = $1", 1, params);
    if (!r)
        return NULL;
    if (PQntuples(r) == 0) {
        cli_err(ctx, "no user named '%s'", username);
        PQclear(r);
        return NULL;
    }
    const char *id = apr_pstrdup(ctx->pool, PQgetvalue(r, 0, 0));
    PQclear(r);
    return id;
}

/* ---- createuser ------------------------------------------------------------------ */

static void createuser_usage(FILE *out)
{
    fputs("Usage: ecoatlas createuser USERNAME [--email ADDRESS] [--staff] [--superuser]\n"
          "                           [--password-stdin | --no-password]\n"
          "\n"
          "Create a user in auth_user (Django's table and password hashes).  Writes\n"
          "through the API need an active staff user.\n"
          "\n"
          "  --email ADDRESS    e-mail address (default empty)\n"
          "  --staff            may write through the API (is_staff)\n"
          "  --superuser        is_superuser (implies --staff)\n"
          "  --password-stdin   read the password from the first line of standard input;\n"
          "                     otherwise it is asked twice on the terminal, without echo\n"
          "  --no-password      no usable password: the user authenticates by token only\n"
          "  -f, --config FILE, --db CONNINFO   where the database is (see 'ecoatlas --help')\n", out);
}

static int createuser(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"email", required_argument, NULL, 'e'},
        {"staff", no_argument, NULL, 's'},
        {"superuser", no_argument, NULL, 'S'},
        {"password-stdin", no_argument, NULL, 'p'},
        {"no-password", no_argument, NULL, 'N'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *email = "";
    int staff = 0, super = 0, pw_stdin = 0, no_pw = 0, c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'e': email = optarg; break;
        case 's': staff = 1; break;
        case 'S': super = staff = 1; break;
        case 'p': pw_stdin = 1; break;
        case 'N': no_pw = 1; break;
        default:
            if ((rc = cli_common_option(ctx, &cli_cmd_createuser, c, argv)) >= 0)
                return rc;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(ctx, &cli_cmd_createuser, optind >= argc ? "USERNAME is required"
                                                                        : "too many arguments");
    const char *username = argv[optind];
    if (!username_ok(username))
        return cli_usage_error(ctx, &cli_cmd_createuser,
                               "invalid username '%s': up to %d letters, digits and @/./+/-/_",
                               username, USERNAME_MAX);
    if (strlen(email) > EMAIL_MAX || (*email && !strchr(email, '@')))
        return cli_usage_error(ctx, &cli_cmd_createuser, "invalid e-mail address '%s'", email);
    if (pw_stdin && no_pw)
        return cli_usage_error(ctx, &cli_cmd_createuser,
                               "--password-stdin and --no-password exclude each other");
    char *hash;
    if (no_pw) {
        /* Django's make_password(None): "!" + 40 random characters */
        char rnd[EA_TOKEN_LEN + 1];
        if (ea_token_new(rnd) != 0)
            return CLI_EXIT_FAIL;
        hash = apr_pstrcat(ctx->pool, "!", rnd, NULL);
    } else {
        char *pw = get_password(ctx, pw_stdin);
        if (!pw || !(hash = hash_password(ctx, pw)))
            return CLI_EXIT_FAIL;
    }
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    const char *params[5] = { hash, super ? "t" : "f", username, email, staff ? "t" : "f" };
    PGresult *r = PQexecParams(ctx->pg,
        "INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, "
        "last_name, email, is_staff, is_active, date_joined) "
        "VALUES ($1, NULL, $2::boolean, $3, '', '', $4, $5::boolean, true, now())",
        5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            cli_err(ctx, "a user named '%s' already exists", username);
        else
            cli_err(ctx, "cannot create the user: %s", cli_chomp(ctx->pool, PQerrorMessage(ctx->pg)));
        PQclear(r);
        return CLI_EXIT_FAIL;
    }
    PQclear(r);
    printf("User '%s' created%s.\n", username, super ? " (superuser, staff)" : staff ? " (staff)" : "");
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_createuser = {
    "createuser", "create a user (staff users may write through the API)",
    createuser, createuser_usage,
};

/* ---- changepassword / deactivate --------------------------------------------------- */

static void changepassword_usage(FILE *out)
{
    fputs("Usage: ecoatlas changepassword USERNAME [--password-stdin]\n"
          "\n"
          "Set a new password.  The user's sessions end (as Django does on a\n"
          "password change); API tokens stay valid.\n"
          "\n"
          "  --password-stdin   read the password from the first line of standard input\n"
          "  -f, --config FILE, --db CONNINFO   where the database is\n", out);
}

static int changepassword(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"password-stdin", no_argument, NULL, 'p'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int pw_stdin = 0, c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        if (c == 'p')
            pw_stdin = 1;
        else if ((rc = cli_common_option(ctx, &cli_cmd_changepassword, c, argv)) >= 0)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(ctx, &cli_cmd_changepassword, optind >= argc ? "USERNAME is required"
                                                                            : "too many arguments");
    const char *username = argv[optind];
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    const char *id = user_id(ctx, username);
    if (!id)
        return CLI_EXIT_FAIL;
    char *pw = get_password(ctx, pw_stdin), *hash;
    if (!pw || !(hash = hash_password(ctx, pw)))
        return CLI_EXIT_FAIL;
    const char *params[2] = { hash, id };
    PGresult *r = q(ctx, "WITH u AS (UPDATE auth_user SET password = $1 WHERE id = $2::integer RETURNING id) "
                         "DELETE FROM ecoatlas_session WHERE user_id IN (SELECT id FROM u)", 2, params);
    if (!r)
        return CLI_EXIT_FAIL;
    PQclear(r);
    printf("Password changed for user '%s'.\n", username);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_changepassword = {
    "changepassword", "set a user's password (ends the user's sessions)",
    changepassword, changepassword_usage,
};

static void deactivate_usage(FILE *out)
{
    fputs("Usage: ecoatlas deactivate USERNAME [--activate]\n"
          "\n"
          "Mark the user inactive: every request with one of its tokens then gets\n"
          "401 \"User inactive or deleted.\" and its sessions end.  The user and its\n"
          "tokens are kept; --activate undoes it.\n"
          "\n"
          "  -f, --config FILE, --db CONNINFO   where the database is\n", out);
}

static int deactivate(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"activate", no_argument, NULL, 'a'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int activate = 0, c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        if (c == 'a')
            activate = 1;
        else if ((rc = cli_common_option(ctx, &cli_cmd_deactivate, c, argv)) >= 0)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(ctx, &cli_cmd_deactivate, optind >= argc ? "USERNAME is required"
                                                                        : "too many arguments");
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    const char *id = user_id(ctx, argv[optind]);
    if (!id)
        return CLI_EXIT_FAIL;
    const char *params[2] = { id, activate ? "t" : "f" };
    PGresult *r = q(ctx, "WITH u AS (UPDATE auth_user SET is_active = $2::boolean WHERE id = $1::integer "
                         "RETURNING id, is_active) "
                         "DELETE FROM ecoatlas_session WHERE user_id IN (SELECT id FROM u WHERE NOT is_active)",
                    2, params);
    if (!r)
        return CLI_EXIT_FAIL;
    PQclear(r);
    printf("User '%s' %s.\n", argv[optind], activate ? "activated" : "deactivated");
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_deactivate = {
    "deactivate", "mark a user inactive (its tokens and sessions stop working)",
    deactivate, deactivate_usage,
};

/* ---- token ---------------------------------------------------------------------------- */

static void token_usage(FILE *out)
{
    fputs("Usage: ecoatlas token create USERNAME [--name NAME] [--expires DAYS]\n"
          "       ecoatlas token regen USERNAME [--name NAME] [--expires DAYS]\n"
          "       ecoatlas token list [USERNAME]\n"
          "       ecoatlas token revoke ID|PREFIX\n"
          "\n"
          "API tokens, sent by clients as 'Authorization: Token <key>'.  A user may hold\n"
          "several; each has a name, a creation time, a last-use time (to within a\n"
          "minute) and an optional expiry.  Only a SHA-256 digest of each key is\n"
          "stored: the key is printed once, by create and regen, on standard output.\n"
          "\n"
          "  create   a new token for USERNAME\n"
          "  regen    revoke all of USERNAME's tokens (legacy Django token included)\n"
          "           and print a new one (manage.py drf_create_token --reset)\n"
          "  list     tokens (never their keys): id, user, key prefix, name, times\n"
          "  revoke   revoke one token by id, or by the first characters of its key\n"
          "           (as 'list' shows them; at least 4, and they must be unique)\n"
          "\n"
          "  --name NAME      label (default: EcoAtlasTokenName from the configuration,\n"
          "                   else \"EcoPowerAtlas API\", followed by today's date)\n"
          "  --expires DAYS   the token stops working after DAYS days (default: never)\n"
          "  -f, --config FILE, --db CONNINFO   where the database is\n"
          "\n"
          "Revocation takes effect at once on every httpd child (PostgreSQL notifies\n"
          "them).\n", out);
}

static const char *default_token_name(cli_ctx *ctx)
{
    const char *base = cli_config_value(ctx, "EcoAtlasTokenName", "EcoPowerAtlas API");
    char day[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    const char *name = apr_pstrcat(ctx->pool, base, " ", day, NULL);
    return strlen(name) > TOKEN_NAME_MAX ? apr_pstrndup(ctx->pool, name, TOKEN_NAME_MAX) : name;
}

/* Insert a token for user id; prints the key.  0 or -1. */
static int token_insert(cli_ctx *ctx, const char *id, const char *name, long long days)
{
    char key[EA_TOKEN_LEN + 1], hex[65];
    if (ea_token_new(key) != 0) {
        cli_err(ctx, "cannot generate a key (no randomness?)");
        return -1;
    }
    ea_sha256(key, EA_TOKEN_LEN, NULL, hex);
    const char *prefix = apr_pstrndup(ctx->pool, key, EA_TOKEN_PREFIX_LEN);
    const char *exp = days > 0 ? apr_psprintf(ctx->pool, "%" APR_INT64_T_FMT, (apr_int64_t)days) : NULL;
    const char *params[5] = { id, hex, prefix, name, exp };
    PGresult *r = q(ctx, "INSERT INTO ecoatlas_token (user_id, key_sha256, prefix, name, created, expires) "
                         "VALUES ($1::integer, decode($2, 'hex'), $3, $4, now(), "
                         "now() + make_interval(days => $5::integer)) RETURNING id",
                    5, params);
    if (!r)
        return -1;
    fprintf(stderr, "Token %s \"%s\" created%s. Keep the key: it is not stored and cannot be shown again.\n",
            PQgetvalue(r, 0, 0), name, exp ? apr_psprintf(ctx->pool, ", expires in %s day%s", exp, days == 1 ? "" : "s") : "");
    PQclear(r);
    printf("%s\n", key);
    fflush(stdout);
    memset(key, 0, sizeof(key));
    return 0;
}

static int token_create(cli_ctx *ctx, int regen, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"expires", required_argument, NULL, 'x'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL;
    long long days = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'x':
            if (cli_parse_count(ctx, &cli_cmd_token, "--expires", optarg, 36500, &days) != 0)
                return CLI_EXIT_USAGE;
            if (days == 0)
                return cli_usage_error(ctx, &cli_cmd_token, "--expires DAYS must be at least 1");
            break;
        default:
            if ((rc = cli_common_option(ctx, &cli_cmd_token, c, argv)) >= 0)
                return rc;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(ctx, &cli_cmd_token, optind >= argc ? "USERNAME is required"
                                                                   : "too many arguments");
    if (name && (*name == '\0' || strlen(name) > TOKEN_NAME_MAX))
        return cli_usage_error(ctx, &cli_cmd_token, "--name must have 1 to %d characters", TOKEN_NAME_MAX);
    if (!name)
        name = default_token_name(ctx);
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    if (cli_db_exec(ctx, "BEGIN", "begin") != 0)
        return CLI_EXIT_FAIL;
    const char *id = user_id(ctx, argv[optind]);
    if (!id) {
        cli_db_rollback(ctx);
        return CLI_EXIT_FAIL;
    }
    if (regen) {
        const char *params[1] = { id };
        PGresult *r = q(ctx, "WITH a AS (DELETE FROM ecoatlas_token WHERE user_id = $1::integer RETURNING 1), "
                             "b AS (DELETE FROM authtoken_token WHERE user_id = $1::integer RETURNING 1) "
                             "SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)", 1, params);
        if (!r) {
            cli_db_rollback(ctx);
            return CLI_EXIT_FAIL;
        }
        fprintf(stderr, "Revoked %s token(s) of '%s'.\n", PQgetvalue(r, 0, 0), argv[optind]);
        PQclear(r);
    }
    /* The key is printed only once the transaction is sure to commit. */
    PGresult *chk = q(ctx, "SET CONSTRAINTS ALL IMMEDIATE", 0, NULL);
    if (!chk) {
        cli_db_rollback(ctx);
        return CLI_EXIT_FAIL;
    }
    PQclear(chk);
    if (token_insert(ctx, id, name, days) != 0 || cli_db_exec(ctx, "COMMIT", "commit") != 0) {
        cli_db_rollback(ctx);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int token_list(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = { CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0} };
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
        if ((rc = cli_common_option(ctx, &cli_cmd_token, c, argv)) >= 0)
            return rc;
    if (optind < argc - 1)
        return cli_usage_error(ctx, &cli_cmd_token, "too many arguments");
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    const char *params[1] = { optind < argc ? argv[optind] : NULL };
    if (params[0] && !user_id(ctx, params[0]))
        return CLI_EXIT_FAIL;
    PGresult *r = q(ctx,
        "SELECT id, username, prefix, name, created, last_used, expires, state FROM ("
        " SELECT t.id::text AS id, u.username, t.prefix, t.name,"
        "  to_char(t.created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS created,"
        "  coalesce(to_char(t.last_used AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'never') AS last_used,"
        "  coalesce(to_char(t.expires AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'never') AS expires,"
        "  CASE WHEN NOT u.is_active THEN 'user inactive' WHEN t.expires <= now() THEN 'expired'"
        "       ELSE 'active' END AS state, t.created AS sort"
        " FROM ecoatlas_token t JOIN auth_user u ON u.id = t.user_id"
        " WHERE $1::text IS NULL OR u.username = $1"
        " UNION ALL"
        " SELECT 'legacy', u.username, left(a.key, 8), '(Django token)',"
        "  to_char(a.created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), '-', 'never',"
        "  CASE WHEN NOT u.is_active THEN 'user inactive' ELSE 'active' END, a.created"
        " FROM authtoken_token a JOIN auth_user u ON u.id = a.user_id"
        " WHERE $1::text IS NULL OR u.username = $1) x ORDER BY username, sort",
        1, params);
    if (!r)
        return CLI_EXIT_FAIL;
    printf("%-7s %-20s %-9s %-32s %-17s %-17s %-17s %s\n", "ID", "USER", "PREFIX", "NAME",
           "CREATED (UTC)", "LAST USED", "EXPIRES", "STATE");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-7s %-20s %-9s %-32s %-17s %-17s %-17s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
               PQgetvalue(r, i, 6), PQgetvalue(r, i, 7));
    PQclear(r);
    return CLI_EXIT_OK;
}

static int token_revoke(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = { CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0} };
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
        if ((rc = cli_common_option(ctx, &cli_cmd_token, c, argv)) >= 0)
            return rc;
    if (optind != argc - 1)
        return cli_usage_error(ctx, &cli_cmd_token, optind >= argc ? "ID or PREFIX is required"
                                                                   : "too many arguments");
    const char *arg = argv[optind];
    /* Key prefixes are hex, so a prefix may be all digits: a number is
     * taken as an id or a prefix, whichever matches (both: ambiguous). */
    int numeric = *arg && strspn(arg, "0123456789") == strlen(arg) && strlen(arg) < 19;
    int prefix = strlen(arg) >= 4 && strspn(arg, "0123456789abcdef") == strlen(arg);
    if (!numeric && !prefix)
        return cli_usage_error(ctx, &cli_cmd_token,
                               "'%s' is neither a token id nor a key prefix (4+ lower-case hex digits)", arg);
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    const char *params[3] = { arg, numeric ? "t" : "f", prefix ? "t" : "f" };
    /* the matches among our tokens (by id or prefix) and the legacy ones */
    static const char matches[] =
        "m AS (SELECT id FROM ecoatlas_token WHERE ($2::boolean AND id = CASE WHEN $2::boolean"
        "        THEN $1::text::bigint END) OR ($3::boolean AND length($1::text) <= 8"
        "        AND left(prefix, length($1::text)) = $1::text)),"
        " l AS (SELECT key FROM authtoken_token WHERE $3::boolean AND left(key, length($1::text)) = $1::text)";
    PGresult *r = q(ctx, apr_pstrcat(ctx->pool, "WITH ", matches,
                                     " SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM l)", NULL),
                    3, params);
    if (!r)
        return CLI_EXIT_FAIL;
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (n == 0) {
        cli_err(ctx, "no token with the id or key prefix '%s'", arg);
        return CLI_EXIT_FAIL;
    }
    if (n > 1) {
        cli_err(ctx, "'%s' matches %ld tokens (ids or key prefixes): give more characters of the key, "
                "or the id shown by 'ecoatlas token list'", arg, n);
        return CLI_EXIT_FAIL;
    }
    r = q(ctx, apr_pstrcat(ctx->pool, "WITH ", matches,
                           ", a AS (DELETE FROM ecoatlas_token WHERE id IN (SELECT id FROM m) RETURNING 1),"
                           " b AS (DELETE FROM authtoken_token WHERE key IN (SELECT key FROM l) RETURNING 1)"
                           " SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)", NULL),
          3, params);
    if (!r)
        return CLI_EXIT_FAIL;
    PQclear(r);
    printf("Token %s revoked.\n", arg);
    return CLI_EXIT_OK;
}

static int token(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(ctx, &cli_cmd_token, "a subcommand is required (create, regen, list, revoke)");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        token_usage(stdout);
        return CLI_EXIT_OK;
    }
    argc--, argv++;
    optind = 0;
    if (strcmp(sub, "create") == 0)
        return token_create(ctx, 0, argc, argv);
    if (strcmp(sub, "regen") == 0)
        return token_create(ctx, 1, argc, argv);
    if (strcmp(sub, "list") == 0)
        return token_list(ctx, argc, argv);
    if (strcmp(sub, "revoke") == 0)
        return token_revoke(ctx, argc, argv);
    return cli_usage_error(ctx, &cli_cmd_token, "unknown subcommand '%s' (create, regen, list, revoke)", sub);
}

const cli_command cli_cmd_token = {
    "token", "create, regenerate, list and revoke API tokens",
    token, token_usage,
};
