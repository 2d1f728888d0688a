#!/bin/sh
# mod_ecoatlas container entrypoint (POSIX sh).
#
#   entrypoint.sh [web]        wait for PostgreSQL, ecoatlas migrate, static
#                              files, then exec apache2 -DFOREGROUND (port 8080)
#   entrypoint.sh worker ...   wait for PostgreSQL, then exec ecoatlas-worker (in the
#                              foreground, logging to stderr, unless given --log)
#   entrypoint.sh migrate      wait, migrate, exit
#   entrypoint.sh CMD ...      exec CMD (e.g. /bin/sh, ecoatlas createuser ...)
#
# Settings come from the environment (names and defaults in
# docs/operations.md, section 15 "Docker") and reach httpd through ${VAR} in
# docker/apache-ecoatlas.conf.  Secrets come from files: POSTGRES_PASSWORD_FILE,
# ECOATLAS_SECRET_KEY_FILE (Docker/compose secrets); the plain variables
# POSTGRES_PASSWORD / ECOATLAS_SECRET_KEY are accepted too, moved into
# private files and removed from the environment.  No secret is ever printed.
set -eu

log() { printf '[%s] %s entrypoint: %s\n' "$1" "$(date -u '+%Y-%m-%d %H:%M:%S')" "$2" >&2; }
die() { log ERROR "$1"; exit 1; }

# ---- settings and their defaults ----------------------------------------------
: "${POSTGRES_HOST:=db}"
: "${POSTGRES_PORT:=5432}"
: "${POSTGRES_DB:=ecopower}"
: "${POSTGRES_USER:=ecopower}"
: "${ECOATLAS_DB_WAIT:=60}"                 # seconds to wait for PostgreSQL
: "${ECOATLAS_PORT:=8080}"
: "${ECOATLAS_SERVER_NAME:=localhost}"
: "${ECOATLAS_ALLOWED_HOSTS:=localhost 127.0.0.1}"
: "${ECOATLAS_CORS_ALLOWED_ORIGINS:=}"
: "${ECOATLAS_CORS_ALLOW_ALL_ORIGINS:=Off}"
: "${ECOATLAS_CORS_ALLOW_CREDENTIALS:=Off}"
: "${ECOATLAS_CSRF_TRUSTED_ORIGINS:=}"
: "${ECOATLAS_RATE_LIMIT_ANON:=1000/day}"
: "${ECOATLAS_RATE_LIMIT_USER:=5000/day}"
: "${ECOATLAS_THROTTLE_BACKEND:=}"
: "${ECOATLAS_PAGE_SIZE:=50}"
: "${ECOATLAS_MAX_PAGE_SIZE:=200}"
: "${ECOATLAS_DEBUG:=Off}"
: "${ECOATLAS_LOG_LEVEL:=info}"
: "${ECOATLAS_TRUSTED_PROXIES:=}"           # mod_remoteip: X-Forwarded-For from these
: "${ECOATLAS_PROXY_SSL_HEADER:=}"          # e.g. "X-Forwarded-Proto https 10.0.0.0/8"
: "${ECOATLAS_BROKER_URL:=redis://redis:6379/0}"
: "${ECOATLAS_RESULT_BACKEND:=$ECOATLAS_BROKER_URL}"
: "${ECOATLAS_TASK_ALWAYS_EAGER:=Off}"
: "${ECOATLAS_TASK_TIME_LIMIT:=600}"
: "${ECOATLAS_IMPORT_DIR:=/var/lib/ecoatlas/imports}"   # uploads, shared by web and worker
: "${ECOATLAS_RUN_DIR:=/tmp/ecoatlas}"      # pid file, private secret files
: "${ECOATLAS_STATIC_DIR:=}"                # copy the OpenAPI files there, if set
: "${ECOATLAS_CONF:=/etc/ecoatlas/apache-ecoatlas.conf}"
: "${ECOATLAS_MODULE:=/usr/lib/apache2/modules/mod_ecoatlas.so}"
: "${ECOATLAS_HTTPD_MODULES:=/usr/lib/apache2/modules}"
: "${ECOATLAS_SHARE:=/usr/share/mod_ecoatlas}"
: "${ECOATLAS_HTTPD:=apache2}"              # tests point these at other binaries
: "${ECOATLAS_CLI:=ecoatlas}"
: "${ECOATLAS_WORKER:=ecoatlas-worker}"
export POSTGRES_HOST POSTGRES_PORT POSTGRES_DB POSTGRES_USER ECOATLAS_PORT ECOATLAS_SERVER_NAME \
    ECOATLAS_ALLOWED_HOSTS ECOATLAS_CORS_ALLOWED_ORIGINS ECOATLAS_CORS_ALLOW_ALL_ORIGINS \
    ECOATLAS_CORS_ALLOW_CREDENTIALS ECOATLAS_CSRF_TRUSTED_ORIGINS ECOATLAS_RATE_LIMIT_ANON \
    ECOATLAS_RATE_LIMIT_USER ECOATLAS_THROTTLE_BACKEND ECOATLAS_PAGE_SIZE ECOATLAS_MAX_PAGE_SIZE \
    ECOATLAS_DEBUG ECOATLAS_LOG_LEVEL ECOATLAS_TRUSTED_PROXIES ECOATLAS_PROXY_SSL_HEADER \
    ECOATLAS_BROKER_URL ECOATLAS_RESULT_BACKEND ECOATLAS_TASK_ALWAYS_EAGER ECOATLAS_TASK_TIME_LIMIT \
    ECOATLAS_IMPORT_DIR ECOATLAS_RUN_DIR ECOATLAS_MODULE ECOATLAS_HTTPD_MODULES

umask 077
mkdir -p "$ECOATLAS_RUN_DIR"
chmod 700 "$ECOATLAS_RUN_DIR"

# ---- secrets: *_FILE first, then the plain variable; into private files -----------
# secret_file NAME DEST: copy $NAME_FILE (or the value of $NAME) to DEST (0600).
# Returns 1 when neither is set.  Written beside DEST, then renamed: several
# entrypoints may share ECOATLAS_RUN_DIR (web, worker, a one-off command).
secret_file() {
    eval "f=\${${1}_FILE:-}; v=\${${1}:-}"
    if [ -n "$f" ]; then
        [ -r "$f" ] || die "${1}_FILE: cannot read $f"
        # one line, no trailing newline (what Docker secrets and editors leave)
        tr -d '\r\n' <"$f" >"$2.$$"
    elif [ -n "$v" ]; then
        printf '%s' "$v" >"$2.$$"
    else
        return 1
    fi
    chmod 600 "$2.$$"
    mv -f "$2.$$" "$2"
    unset "$1" "${1}_FILE"
    return 0
}

# libpq reads the password from a passfile: it never sits in the
# environment of httpd or in a configuration file.
PGPASSFILE_ECOATLAS=$ECOATLAS_RUN_DIR/pgpass
if secret_file POSTGRES_PASSWORD "$ECOATLAS_RUN_DIR/pgpassword.$$"; then
    # host:port:db:user:password, with : and \ escaped
    pw=$(sed -e 's/\\/\\\\/g' -e 's/:/\\:/g' "$ECOATLAS_RUN_DIR/pgpassword.$$")
    printf '*:*:*:*:%s\n' "$pw" >"$PGPASSFILE_ECOATLAS.$$"
    unset pw
    rm -f "$ECOATLAS_RUN_DIR/pgpassword.$$"
else
    : >"$PGPASSFILE_ECOATLAS.$$"
fi
chmod 600 "$PGPASSFILE_ECOATLAS.$$"
mv -f "$PGPASSFILE_ECOATLAS.$$" "$PGPASSFILE_ECOATLAS"
export PGPASSFILE="$PGPASSFILE_ECOATLAS"

httpd_defines=""
if secret_file ECOATLAS_SECRET_KEY "$ECOATLAS_RUN_DIR/secret_key"; then
    export ECOATLAS_SECRET_KEY_PATH="$ECOATLAS_RUN_DIR/secret_key"
    httpd_defines="$httpd_defines -D ECOATLAS_SECRET_KEY"
fi

# DBDParams for httpd, the CLI and the worker (one string, no password).
ECOATLAS_DBD_PARAMS="host=$POSTGRES_HOST port=$POSTGRES_PORT dbname=$POSTGRES_DB user=$POSTGRES_USER passfile=$PGPASSFILE_ECOATLAS"
export ECOATLAS_DBD_PARAMS
export ECOATLAS_CONFIG="$ECOATLAS_CONF"     # where `ecoatlas` and the worker read settings

# Optional settings become -D flags, so that an empty one is simply absent.
[ -n "$ECOATLAS_CORS_ALLOWED_ORIGINS" ] && httpd_defines="$httpd_defines -D ECOATLAS_CORS_ORIGINS"
[ -n "$ECOATLAS_CSRF_TRUSTED_ORIGINS" ] && httpd_defines="$httpd_defines -D ECOATLAS_CSRF_ORIGINS"
[ -n "$ECOATLAS_TRUSTED_PROXIES" ] && httpd_defines="$httpd_defines -D ECOATLAS_REMOTEIP"
[ -n "$ECOATLAS_PROXY_SSL_HEADER" ] && httpd_defines="$httpd_defines -D ECOATLAS_PROXY_SSL"
[ -n "$ECOATLAS_THROTTLE_BACKEND" ] && httpd_defines="$httpd_defines -D ECOATLAS_THROTTLE_REDIS"

# ---- PostgreSQL ---------------------------------------------------------------------
wait_for_db() {
    log INFO "waiting for PostgreSQL at $POSTGRES_HOST:$POSTGRES_PORT (at most ${ECOATLAS_DB_WAIT}s)"
    start=$(date +%s)
    while :; do
        if pg_isready -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -d "$POSTGRES_DB" -U "$POSTGRES_USER" -t 2; then
            log INFO "PostgreSQL is ready"
            return 0
        fi
        now=$(date +%s)
        if [ $((now - start)) -ge "$ECOATLAS_DB_WAIT" ]; then
            die "PostgreSQL at $POSTGRES_HOST:$POSTGRES_PORT did not answer within ${ECOATLAS_DB_WAIT}s (ECOATLAS_DB_WAIT)"
        fi
        sleep 1
    done
}

migrate() {
    log INFO "ecoatlas migrate"
    "$ECOATLAS_CLI" -f "$ECOATLAS_CONF" migrate || die "ecoatlas migrate failed"
}

# The documents are compiled into the module (GET /api/schema/, /api/docs/);
# a copy on disk serves a proxy or CDN in front, when asked for.
install_static() {
    [ -n "$ECOATLAS_STATIC_DIR" ] || return 0
    mkdir -p "$ECOATLAS_STATIC_DIR"
    for f in openapi.yaml openapi.json; do
        [ -r "$ECOATLAS_SHARE/openapi/$f" ] || die "missing $ECOATLAS_SHARE/openapi/$f"
        cp "$ECOATLAS_SHARE/openapi/$f" "$ECOATLAS_STATIC_DIR/$f"
        chmod 644 "$ECOATLAS_STATIC_DIR/$f"
    done
    log INFO "OpenAPI documents copied to $ECOATLAS_STATIC_DIR"
}

# Uploaded imports wait there for the worker (a volume both containers
# mount); httpd refuses to start without it.
import_dir() {
    (umask 027 && mkdir -p "$ECOATLAS_IMPORT_DIR") \
        || die "cannot create ECOATLAS_IMPORT_DIR $ECOATLAS_IMPORT_DIR"
}

cmd=${1:-web}
case "$cmd" in
    web)
        shift || true
        wait_for_db
        migrate
        install_static
        import_dir
        log INFO "starting httpd on port $ECOATLAS_PORT"
        # shellcheck disable=SC2086 # the -D flags are words
        exec "$ECOATLAS_HTTPD" -f "$ECOATLAS_CONF" -DFOREGROUND $httpd_defines "$@"
        ;;
    worker)
        shift
        wait_for_db
        import_dir
        log INFO "starting ecoatlas-worker"
        # no --log: it stays in the foreground and logs to stderr
        exec "$ECOATLAS_WORKER" "$@"
        ;;
    migrate)
        wait_for_db
        migrate
        ;;
    *)
        exec "$@"
        ;;
esac
