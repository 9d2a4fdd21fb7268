#!/usr/bin/env bash
# First start of an empty postgres-data volume only: the postgres image runs
# /docker-entrypoint-initdb.d/* once, as the superuser, before the server
# accepts TCP connections.
#
#   1. roles astros / astros_cdc: db/init/10_roles.sql, the file the native stack runs
#   2. database astros, owned by astros
#   3. grants in astros: db/init/20_grants.sql, the file the native stack runs;
#      the schema-change event triggers: db/init/30_schema_changes.sql
#   4. role + database of the schema registry (docker only; the native registry uses an H2 file)
#
# db/init is mounted at /astros/db/init (docker-compose.yml). Passwords come from
# the environment (.env), never from this file. Tables, the publication and the
# replication slot come later: the setup service runs the migrations and registers
# the connector, exactly as `npm run setup` (cli/setup.ts) does natively.
set -eo pipefail

for v in ASTROS_APP_PASSWORD ASTROS_CDC_PASSWORD REGISTRY_DB_PASSWORD; do
  if [ -z "${!v:-}" ]; then echo "10-astros.sh: $v is not set (see .env.docker.example)" >&2; exit 1; fi
done

init="${ASTROS_INIT_DIR:-/astros/db/init}"
psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}")

"${psql[@]}" --dbname postgres \
  -v app_password="$ASTROS_APP_PASSWORD" -v cdc_password="$ASTROS_CDC_PASSWORD" <<SQL
select set_config('astros.app_password', :'app_password', false), set_config('astros.cdc_password', :'cdc_password', false) \g /dev/null
\i $init/10_roles.sql
create database astros owner astros;
SQL

"${psql[@]}" --dbname astros --file "$init/20_grants.sql"
"${psql[@]}" --dbname astros --file "$init/30_schema_changes.sql"

"${psql[@]}" --dbname postgres -v registry_password="$REGISTRY_DB_PASSWORD" <<'SQL'
create role apicurio_registry login password :'registry_password';
create database apicurio_registry owner apicurio_registry;
SQL
