#!/bin/sh
# The table groups' own databases on this server (ASTROS_GROUP_DATABASES entries
# `group=database`; an entry `group=postgres://…` is another server, prepared there
# by its own superuser): each made, owned by astros, and given what the astros
# database gets (db/init/20_grants.sql: the capture's grants; 30_schema_changes.sql:
# the event triggers that log its tables' schema changes). The native stack does
# the same at each `up` (stack/components/postgres.ts, prepareSourceDatabase).
# Run by the pg-init service as the superuser, at every `up`. Idempotent.
set -eu
init="${ASTROS_INIT_DIR:-/astros/db/init}"
for entry in $(echo "${ASTROS_GROUP_DATABASES:-}" | tr ',' ' '); do
  db="${entry#*=}"
  case "$db" in *://*) continue ;; esac
  psql="psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet -h postgres -U postgres"
  if [ -z "$($psql -d postgres -tAc "select 1 from pg_database where datname = '$db'")" ]; then
    $psql -d postgres -c "create database \"$db\" owner astros"
  fi
  for f in 20_grants.sql 30_schema_changes.sql; do $psql -d "$db" -f "$init/$f"; done
done
