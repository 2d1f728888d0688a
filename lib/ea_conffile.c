/* ea_conffile: a reader for the subset of Apache configuration syntax that
 * the CLI and the worker need to find their settings (see ea_conffile.h).
 * It does not interpret directives: it records the arguments of the last
 * occurrence of each one, following Include and expanding ${VAR}. */
#include "ea_conffile.h"

#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* httpd itself stops at 128 nested includes; a shallower limit is plenty
 * and turns an include cycle into an error quickly. */
#define EA_CONF_MAX_DEPTH 32
/* Sections nested deeper than this are certainly a broken file. */
#define EA_CONF_MAX_SECTIONS 64

struct ea_conffile {
    apr_pool_t *pool;
    apr_hash_t *directives;   /* lower-cased name -> apr_array_header_t * */
    apr_table_t *defines;     /* Define NAME VALUE, consulted before environ */
    const char *server_root;  /* last ServerRoot seen, for relative Includes */
    apr_array_header_t *entries;  /* ea_conf_entry, in file order */
    apr_array_header_t *vhosts;   /* ea_conf_vhost */
    int cur_vhost;            /* the <VirtualHost> being read, -1: none */
    int dir_depth;            /* per-directory sections open */
};

/* Parsing state for one file; sections must close in the file that opened
 * them, as in httpd. */
typedef struct {
    ea_conffile *cf;
    const char *path;
    const char *dir;          /* directory of path, for relative Includes */
    int depth;
    unsigned line;
    const char *sections[EA_CONF_MAX_SECTIONS];
    unsigned section_lines[EA_CONF_MAX_SECTIONS];
    int nsections;
} ea_conf_state;

static int conf_read_file(ea_conffile *cf, const char *path, int depth,
                          const char **err);

static const char *conf_err(ea_conf_state *st, const char *msg)
{
    return apr_psprintf(st->cf->pool, "%s:%u: %s", st->path, st->line, msg);
}

/* Expand ${NAME} from Define'd variables, then the environment.  An
 * undefined variable stays as written, which is what httpd does after
 * logging its warning. */
static char *conf_expand_vars(ea_conffile *cf, const char *s)
{
    const char *dollar = strstr(s, "${");
    if (dollar == NULL) {
        return apr_pstrdup(cf->pool, s);
    }
    const char *end = strchr(dollar + 2, '}');
    if (end == NULL) {
        return apr_pstrdup(cf->pool, s);
    }
    char *name = apr_pstrmemdup(cf->pool, dollar + 2, (apr_size_t)(end - dollar - 2));
    const char *val = apr_table_get(cf->defines, name);
    if (val == NULL) {
        val = getenv(name);
    }
    const char *head = apr_pstrmemdup(cf->pool, s, (apr_size_t)(dollar - s));
    if (val == NULL) {
        /* keep the literal text and continue after it */
        const char *lit = apr_pstrmemdup(cf->pool, dollar, (apr_size_t)(end + 1 - dollar));
        return apr_pstrcat(cf->pool, head, lit, conf_expand_vars(cf, end + 1), NULL);
    }
    return apr_pstrcat(cf->pool, head, val, conf_expand_vars(cf, end + 1), NULL);
}

/* Next word of a directive line, like ap_getword_conf: words are separated
 * by white space; a word that starts with a quote runs to the matching
 * quote, and a backslash before that quote character keeps it literal.
 * Returns NULL at the end of the line. */
static char *conf_next_word(apr_pool_t *p, const char **line)
{
    const char *s = *line;
    while (*s && isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '\0') {
        *line = s;
        return NULL;
    }
    char *word = apr_palloc(p, strlen(s) + 1);
    char *w = word;
    if (*s == '"' || *s == '\'') {
        char quote = *s++;
        while (*s && *s != quote) {
            if (*s == '\\' && s[1] == quote) {
                s++;
            }
            *w++ = *s++;
        }
        if (*s == quote) {
            s++;
        }
    }
    else {
        while (*s && !isspace((unsigned char)*s)) {
            *w++ = *s++;
        }
    }
    *w = '\0';
    *line = s;
    return word;
}

static apr_array_header_t *conf_split_args(apr_pool_t *p, const char *rest)
{
    apr_array_header_t *args = apr_array_make(p, 4, sizeof(const char *));
    char *word;
    while ((word = conf_next_word(p, &rest)) != NULL) {
        APR_ARRAY_PUSH(args, const char *) = word;
    }
    return args;
}

static const char *conf_arg(const apr_array_header_t *args, int i)
{
    return i < args->nelts ? APR_ARRAY_IDX(args, i, const char *) : NULL;
}

/* Directives that change how the rest of the file is read take effect
 * immediately, so that later ${VAR} and relative Includes see them. */
static void conf_note_special(ea_conffile *cf, const char *name,
                              const apr_array_header_t *args)
{
    if (strcasecmp(name, "Define") == 0 && args->nelts >= 2) {
        apr_table_set(cf->defines, conf_arg(args, 0), conf_arg(args, 1));
    }
    else if (strcasecmp(name, "UnDefine") == 0 && args->nelts >= 1) {
        apr_table_unset(cf->defines, conf_arg(args, 0));
    }
    else if (strcasecmp(name, "ServerRoot") == 0 && args->nelts >= 1) {
        cf->server_root = conf_arg(args, 0);
    }
}

static void conf_record(ea_conffile *cf, const char *name,
                        apr_array_header_t *args)
{
    char *key = apr_pstrdup(cf->pool, name);
    for (char *c = key; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    apr_hash_set(cf->directives, key, APR_HASH_KEY_STRING, args);
}

static int conf_has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int conf_is_dir(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;
    return apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_SUCCESS && fi.filetype == APR_DIR;
}

static int conf_include_path(ea_conf_state *st, const char *path, int optional,
                             const char **err);

/* An included directory contributes every file below it, in name order,
 * as httpd does; glob(3) sorts and skips dot files. */
static int conf_include_dir(ea_conf_state *st, const char *dir, const char **err)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')   /* "Include sites/" names files sites/x */
        n--;
    const char *pattern = apr_pstrcat(st->cf->pool, apr_pstrmemdup(st->cf->pool, dir, n), "/*", NULL);
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        return 0;
    }
    if (rc != 0) {
        *err = conf_err(st, apr_psprintf(st->cf->pool, "cannot list directory %s", dir));
        return -1;
    }
    int ret = 0;
    for (size_t i = 0; i < g.gl_pathc && ret == 0; i++) {
        ret = conf_include_path(st, g.gl_pathv[i], 0, err);
    }
    globfree(&g);
    return ret;
}

static int conf_include_glob(ea_conf_state *st, const char *pattern, int optional,
                             const char **err)
{
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        if (optional) {
            return 0;
        }
        *err = conf_err(st, apr_psprintf(st->cf->pool,
                        "Include: no matches for the wildcard '%s'", pattern));
        return -1;
    }
    if (rc != 0) {
        *err = conf_err(st, apr_psprintf(st->cf->pool, "Include: cannot expand '%s'", pattern));
        return -1;
    }
    int ret = 0;
    for (size_t i = 0; i < g.gl_pathc && ret == 0; i++) {
        ret = conf_include_path(st, g.gl_pathv[i], optional, err);
    }
    globfree(&g);
    return ret;
}

/* path is already absolute or relative to the process's directory. */
static int conf_include_path(ea_conf_state *st, const char *path, int optional,
                             const char **err)
{
    apr_pool_t *p = st->cf->pool;
    if (conf_has_wildcard(path)) {
        return conf_include_glob(st, path, optional, err);
    }
    if (conf_is_dir(p, path)) {
        return conf_include_dir(st, path, err);
    }
    apr_finfo_t fi;
    if (optional && apr_stat(&fi, path, APR_FINFO_TYPE, p) != APR_SUCCESS) {
        return 0;
    }
    const char *sub_err = NULL;
    if (conf_read_file(st->cf, path, st->depth + 1, &sub_err) != 0) {
        *err = sub_err;
        return -1;
    }
    return 0;
}

static const char *conf_resolve(ea_conf_state *st, const char *path)
{
    if (path[0] == '/') {
        return path;
    }
    const char *base = st->cf->server_root ? st->cf->server_root : st->dir;
    return apr_pstrcat(st->cf->pool, base, "/", path, NULL);
}

static int conf_include(ea_conf_state *st, const char *directive,
                        const apr_array_header_t *args, const char **err)
{
    int optional = strcasecmp(directive, "IncludeOptional") == 0;
    if (args->nelts < 1) {
        *err = conf_err(st, apr_psprintf(st->cf->pool, "%s takes one argument", directive));
        return -1;
    }
    for (int i = 0; i < args->nelts; i++) {
        if (conf_include_path(st, conf_resolve(st, conf_arg(args, i)), optional, err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The name of a section tag: "<IfModule mod_x.c>" -> "IfModule". */
static const char *conf_section_name(apr_pool_t *p, const char *tag)
{
    size_t n = strcspn(tag, " \t>");
    return apr_pstrmemdup(p, tag, n);
}

static int conf_is_dir_section(const char *name)
{
    static const char *const dirs[] = { "Location", "LocationMatch", "Directory", "DirectoryMatch",
                                        "Files", "FilesMatch", NULL };
    for (int i = 0; dirs[i]; i++)
        if (strcasecmp(name, dirs[i]) == 0)
            return 1;
    return 0;
}

static int conf_open_section(ea_conf_state *st, const char *line, const char **err)
{
    const char *name = conf_section_name(st->cf->pool, line + 1);
    if (line[strlen(line) - 1] != '>') {
        *err = conf_err(st, apr_psprintf(st->cf->pool, "<%s> directive missing closing '>'", name));
        return -1;
    }
    if (strcasecmp(name, "VirtualHost") == 0) {
        ea_conf_vhost *v = apr_array_push(st->cf->vhosts);
        const char *a = line + 1 + strlen(name);
        size_t n = strlen(a);
        while (*a == ' ' || *a == '\t')
            a++, n--;
        v->addrs = apr_pstrmemdup(st->cf->pool, a, n > 0 ? n - 1 : 0);
        v->file = st->path;
        v->line = st->line;
        st->cf->cur_vhost = st->cf->vhosts->nelts - 1;
    }
    else if (conf_is_dir_section(name)) {
        st->cf->dir_depth++;
    }
    if (st->nsections == EA_CONF_MAX_SECTIONS) {
        *err = conf_err(st, "sections nested too deeply");
        return -1;
    }
    st->section_lines[st->nsections] = st->line;
    st->sections[st->nsections++] = name;
    return 0;
}

static int conf_close_section(ea_conf_state *st, const char *line, const char **err)
{
    const char *name = conf_section_name(st->cf->pool, line + 2);
    if (st->nsections == 0) {
        *err = conf_err(st, apr_psprintf(st->cf->pool,
                        "</%s> without matching <%s> section", name, name));
        return -1;
    }
    const char *open = st->sections[st->nsections - 1];
    if (strcasecmp(open, name) != 0) {
        *err = conf_err(st, apr_psprintf(st->cf->pool,
                        "Expected </%s> but saw </%s>", open, name));
        return -1;
    }
    st->nsections--;
    if (strcasecmp(name, "VirtualHost") == 0)
        st->cf->cur_vhost = -1;
    else if (conf_is_dir_section(name) && st->cf->dir_depth > 0)
        st->cf->dir_depth--;
    return 0;
}

/* One logical line (continuations already joined, leading blanks gone). */
static int conf_line(ea_conf_state *st, const char *raw, const char **err)
{
    if (*raw == '\0' || *raw == '#') {
        return 0;
    }
    const char *line = conf_expand_vars(st->cf, raw);
    if (line[0] == '<' && line[1] == '/') {
        return conf_close_section(st, line, err);
    }
    if (line[0] == '<') {
        return conf_open_section(st, line, err);
    }
    const char *rest = line;
    const char *name = conf_next_word(st->cf->pool, &rest);
    apr_array_header_t *args = conf_split_args(st->cf->pool, rest);
    if (strcasecmp(name, "Include") == 0 || strcasecmp(name, "IncludeOptional") == 0) {
        return conf_include(st, name, args, err);
    }
    conf_note_special(st->cf, name, args);
    conf_record(st->cf, name, args);
    ea_conf_entry *e = apr_array_push(st->cf->entries);
    e->name = name;
    e->args = args;
    e->vhost = st->cf->cur_vhost;
    e->in_dir = st->cf->dir_depth > 0;
    e->file = st->path;
    e->line = st->line;
    return 0;
}

/* Cut the next physical line out of *cursor; strips CR/LF and trailing
 * blanks so that a continuation backslash is the last character. */
static char *conf_physical_line(char **cursor)
{
    char *start = *cursor;
    if (*start == '\0') {
        return NULL;
    }
    char *nl = strchr(start, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *cursor = nl + 1;
    }
    else {
        *cursor = start + strlen(start);
    }
    size_t n = strlen(start);
    while (n > 0 && isspace((unsigned char)start[n - 1])) {
        start[--n] = '\0';
    }
    return start;
}

static int conf_parse_text(ea_conf_state *st, char *text, const char **err)
{
    char *cursor = text;
    char *phys;
    unsigned lineno = 0;
    while ((phys = conf_physical_line(&cursor)) != NULL) {
        lineno++;
        st->line = lineno;
        const char *logical = phys;
        size_t n = strlen(phys);
        /* a trailing backslash joins the next physical line */
        while (n > 0 && phys[n - 1] == '\\') {
            char *head = apr_pstrmemdup(st->cf->pool, logical, strlen(logical) - 1);
            char *next = conf_physical_line(&cursor);
            if (next == NULL) {
                logical = head;
                break;
            }
            lineno++;
            logical = apr_pstrcat(st->cf->pool, head, next, NULL);
            phys = next;
            n = strlen(next);
        }
        while (isspace((unsigned char)*logical)) {
            logical++;
        }
        if (conf_line(st, logical, err) != 0) {
            return -1;
        }
    }
    if (st->nsections > 0) {
        st->line = st->section_lines[st->nsections - 1];
        *err = conf_err(st, apr_psprintf(st->cf->pool, "<%s> was not closed",
                        st->sections[st->nsections - 1]));
        return -1;
    }
    return 0;
}

static char *conf_slurp(apr_pool_t *p, const char *path, const char **err)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char ebuf[256];
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    }
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot open %s: %s", path, apr_strerror(rv, ebuf, sizeof ebuf));
        return NULL;
    }
    apr_size_t len = (apr_size_t)fi.size;
    char *text = apr_palloc(p, len + 1);
    rv = len ? apr_file_read_full(f, text, len, &len) : APR_SUCCESS;
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *err = apr_psprintf(p, "cannot read %s: %s", path, apr_strerror(rv, ebuf, sizeof ebuf));
        return NULL;
    }
    text[len] = '\0';
    return text;
}

static const char *conf_dirname(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return ".";
    }
    if (slash == path) {
        return "/";
    }
    return apr_pstrmemdup(p, path, (apr_size_t)(slash - path));
}

static int conf_read_file(ea_conffile *cf, const char *path, int depth,
                          const char **err)
{
    if (depth > EA_CONF_MAX_DEPTH) {
        *err = apr_psprintf(cf->pool, "%s: Include nested more than %d levels deep "
                            "(an Include loop?)", path, EA_CONF_MAX_DEPTH);
        return -1;
    }
    char *text = conf_slurp(cf->pool, path, err);
    if (text == NULL) {
        return -1;
    }
    ea_conf_state st;
    memset(&st, 0, sizeof st);
    st.cf = cf;
    st.path = apr_pstrdup(cf->pool, path);   /* glob results are freed after reading */
    st.dir = conf_dirname(cf->pool, path);
    st.depth = depth;
    return conf_parse_text(&st, text, err);
}

ea_conffile *ea_conffile_read(apr_pool_t *p, const char *path, const char **err)
{
    const char *dummy;
    if (err == NULL) {
        err = &dummy;
    }
    *err = NULL;
    ea_conffile *cf = apr_pcalloc(p, sizeof *cf);
    cf->pool = p;
    cf->directives = apr_hash_make(p);
    cf->defines = apr_table_make(p, 4);
    cf->entries = apr_array_make(p, 64, sizeof(ea_conf_entry));
    cf->vhosts = apr_array_make(p, 4, sizeof(ea_conf_vhost));
    cf->cur_vhost = -1;
    if (conf_read_file(cf, path, 0, err) != 0) {
        return NULL;
    }
    return cf;
}

const apr_array_header_t *ea_conffile_args(const ea_conffile *cf, const char *directive)
{
    if (cf == NULL || directive == NULL) {
        return NULL;
    }
    char key[128];
    size_t n = strlen(directive);
    if (n >= sizeof key) {
        return NULL;
    }
    for (size_t i = 0; i <= n; i++) {
        key[i] = (char)tolower((unsigned char)directive[i]);
    }
    return apr_hash_get(cf->directives, key, APR_HASH_KEY_STRING);
}

const char *ea_conffile_get(const ea_conffile *cf, const char *directive, const char *dflt)
{
    const apr_array_header_t *args = ea_conffile_args(cf, directive);
    if (args == NULL || args->nelts == 0) {
        return dflt;
    }
    return APR_ARRAY_IDX(args, 0, const char *);
}

const apr_array_header_t *ea_conffile_entries(const ea_conffile *cf)
{
    return cf->entries;
}

const apr_array_header_t *ea_conffile_vhosts(const ea_conffile *cf)
{
    return cf->vhosts;
}
