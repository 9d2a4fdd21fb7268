#!/usr/bin/env bash
# Quickstart on the native stack (no Docker): install and start every
# component, make it a pipeline, run one ingest, prove Postgres and ClickHouse
# agree, build the dbt marts, and print where to look. Idempotent: run it again
# any time; healthy components are left alone.
#
#   npm run quickstart            (stop everything with: npm run stack -- down)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm packages"
  # npm ci would be stricter, but npm 11 writes lock files without other platforms'
  # optional packages (@swc/core-darwin-*, ...) and then refuses them in `npm ci`;
  # `npm install` installs the locked versions all the same.
  npm install --no-audit --no-fund --prefer-offline
fi

step "native stack (dev profile: usual ports)"
npx --no-install tsx cli/stack.ts up --profile dev
eval "$(npx --no-install tsx cli/stack.ts env --profile dev)"

step "pipeline: Postgres migrations, ClickHouse DDL, Debezium connector"
npx --no-install tsx cli/setup.ts --profile dev

step "schedules: ingest every 5 minutes, validate every 15 (Temporal Schedules, visible in the Web UI)"
npx --no-install tsx cli/astros.ts schedule
npx --no-install tsx cli/astros.ts schedule --workflow validate

step "one ingest now (workflow ingestAstronauts, source $ASTROS_SOURCE_URL)"
npx --no-install tsx cli/astros.ts ingest --source "$ASTROS_SOURCE_URL"

step "validate: Postgres and ClickHouse agree at one LSN (counts + value checksums)"
npx --no-install tsx cli/astros.ts validate

step "dbt build: SCD2 dimension and marts from the change log"
bash scripts/dbt.sh build

step "ClickHouse: who is in space now (current state, deletes honoured by FINAL)"
npx --no-install tsx cli/ch.ts "SELECT craft, count() AS people FROM astros.astronauts FINAL WHERE is_deleted = 0 GROUP BY craft ORDER BY craft"

cat <<MSG

Pipeline is running.
  Temporal Web UI   $TEMPORAL_UI_URL   (Workflows: ingestAstronauts / validatePipeline; Schedules: ingest-astronauts)
  Pipeline page     $MONITOR_URL/   (stages, lag, charts, validations, dead letters; Prometheus metrics at /metrics)
  ClickHouse        npm run ch -- "SELECT * FROM astros.astronauts_changelog ORDER BY lsn DESC LIMIT 10"
  dbt               npm run dbt -- run
  Connector status  curl -s $CONNECT_URL/connectors/astros-postgres/status
  Stack             npm run stack -- status   |   npm run stack -- down
MSG
