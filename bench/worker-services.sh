# Sourced by bench/tasks and bench/import: private PostgreSQL and Redis under
# var/bench-worker (as ecoatlas-dev when run as root), migrated, and an
# Apache-syntax config for the CLI and the worker.  Sets B, conf, redis_b, psql_b.
DEV_USER=ecoatlas-dev
B=$top/var/bench-worker
mkdir -p "$B/run"
as_dev() { if [ "$(id -u)" = 0 ]; then runuser -u "$DEV_USER" -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown "$DEV_USER:" "$B" "$B/run"
(cd "$B" && as_dev bash "$top/t/services" pg-up "$B/pg" "$B/run" 5497 bench fast)
(cd "$B" && as_dev bash "$top/t/services" redis-up "$B/redis" "$B/run/redis.sock")
conf=$B/bench.conf
cat >"$conf" <<CONF
DBDParams "host=$B/run port=5497 dbname=bench user=ecoatlas"
EcoAtlasBrokerURL "unix://$B/run/redis.sock?db=0"
LogLevel warn
CONF
redis_b() { redis-cli -s "$B/run/redis.sock" "$@"; }
psql_b() { "$(bash "$top/t/services" pg-bindir)/psql" -h "$B/run" -p 5497 -U ecoatlas -d bench -XAtq "$@"; }
ECOATLAS_MIGRATIONS_DIR="$top/db/migrations" "$top/cli/ecoatlas" -f "$conf" migrate >/dev/null
# Stop them with: bash t/services pg-down var/bench-worker/pg; bash t/services redis-down var/bench-worker/redis
