#!/usr/bin/env bash
# Run dbt (the stack's pinned dbt-core + dbt-clickhouse venv) on the dbt/ project
# against a running stack. With no arguments it runs `dbt build`; otherwise the
# arguments are passed through:
#
#   npm run dbt                         # dbt build (models, unit tests, data tests)
#   npm run dbt -- run --select dim_astronauts_scd2
#   npm run dbt -- build --full-refresh
#   npm run dbt -- docs generate
#
# Which stack: CLICKHOUSE_HOST/CLICKHOUSE_PORT if set, else CLICKHOUSE_URL, else
# the native stack of STACK_PROFILE (dev by default, test or cluster). With a
# ClickHouse replica set (CLICKHOUSE_REPLICA_URLS): the replica DBT_REPLICA names,
# else CLICKHOUSE_PRIMARY, else the next that answers; a run stays on one host.
# Which dbt: DBT_EXECUTABLE if set, else the venv `npm run stack -- up` installed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
# --help answers without a running stack: the usage first, dbt's own help below it when dbt is installed.
help=false
case "${1:-}" in -h|--help) help=true; usage ;; esac

profile="${STACK_PROFILE:-dev}"
if [ -z "${DBT_EXECUTABLE:-}" ] || { [ -z "${CLICKHOUSE_URL:-}" ] && [ -z "${CLICKHOUSE_PORT:-}" ]; }; then
  stack_env="$(npx --no-install tsx -e "
    import { stackEnv } from './stack/lib/endpoints.ts';
    import { createContext } from './stack/lib/context.ts';
    const env = stackEnv(createContext('${profile}', () => {}));
    console.log(env.DBT_EXECUTABLE);
    console.log(env.CLICKHOUSE_URL);
  ")"
  DBT_EXECUTABLE="${DBT_EXECUTABLE:-$(sed -n 1p <<<"$stack_env")}"
  CLICKHOUSE_URL="${CLICKHOUSE_URL:-$(sed -n 2p <<<"$stack_env")}"
fi

if [ ! -x "$DBT_EXECUTABLE" ]; then
  $help && { echo; echo "(dbt's own help appears here once 'npm run stack -- up' has installed dbt)"; exit 0; }
  echo "dbt is not installed at $DBT_EXECUTABLE: start the stack first (npm run stack -- up), or set DBT_EXECUTABLE" >&2
  exit 1
fi

# A replica set: the host that answers, chosen once (the run's tables are built and swapped on that host).
if [ -z "${CLICKHOUSE_HOST:-}" ] && [ -z "${CLICKHOUSE_PORT:-}" ] && [ -n "${CLICKHOUSE_REPLICA_URLS:-}" ] && ! $help; then
  CLICKHOUSE_URL="$(CLICKHOUSE_URL="${CLICKHOUSE_URL:-}" npx --no-install tsx cli/ch.ts --print-url ${DBT_REPLICA:+--replica "$DBT_REPLICA"})"
  echo "dbt: ClickHouse at $CLICKHOUSE_URL" >&2
fi

if [ -z "${CLICKHOUSE_HOST:-}" ] && [ -z "${CLICKHOUSE_PORT:-}" ] && [ -n "${CLICKHOUSE_URL:-}" ]; then
  hostport="${CLICKHOUSE_URL#*://}"
  hostport="${hostport%%/*}"
  export CLICKHOUSE_HOST="${hostport%:*}"
  export CLICKHOUSE_PORT="${hostport##*:}"
  [ "$CLICKHOUSE_PORT" = "$hostport" ] && CLICKHOUSE_PORT=8123
  case "$CLICKHOUSE_URL" in https://*) export CLICKHOUSE_SECURE="${CLICKHOUSE_SECURE:-true}" ;; esac
fi

export DBT_SEND_ANONYMOUS_USAGE_STATS=false
[ $# -eq 0 ] && set -- build
# One SCD2 history model per captured table of the live catalog (dbt/models/history/).
if ! $help && [ "${ASTROS_DBT_MODELS:-1}" = 1 ]; then
  npx --no-install tsx cli/catalog.ts dbt-models --profile "$profile" >&2 \
    || echo "warning: could not write the history models from the live catalog (is the stack up?); building what is there" >&2
fi
case "$1" in
  # dbt's own top-level options take no --project-dir: pass them through alone.
  -h|--help) echo; echo "dbt's own help:"; exec "$DBT_EXECUTABLE" --help ;;
  -*) exec "$DBT_EXECUTABLE" "$@" ;;
esac
exec "$DBT_EXECUTABLE" "$@" --project-dir dbt --profiles-dir dbt
