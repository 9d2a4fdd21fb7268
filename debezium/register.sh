#!/usr/bin/env bash
# Register (or update) a Debezium connector through the Kafka Connect REST API.
# Idempotent: PUT /connectors/<name>/config creates or replaces the config.
# Waits until the connector and its tasks are RUNNING, then prints the state.
#
#   debezium/register.sh [connector.json]        (default: debezium/astros-postgres.json)
#   CONNECT_URL=http://127.0.0.1:8083            Kafka Connect REST address
#   REGISTER_TIMEOUT=120                         seconds to wait for RUNNING
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac

here="$(cd "$(dirname "$0")" && pwd)"
file="${1:-$here/astros-postgres.json}"
connect="${CONNECT_URL:-http://127.0.0.1:8083}"
timeout="${REGISTER_TIMEOUT:-120}"

[ -f "$file" ] || { echo "error: connector file not found: $file" >&2; exit 2; }
command -v curl >/dev/null || { echo "error: curl is not installed (apt-get install -y curl)" >&2; exit 2; }
command -v node >/dev/null || { echo "error: node is needed to read the connector JSON" >&2; exit 2; }

name="$(node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if(!c.name||!c.config){console.error("connector file needs {\"name\", \"config\"}");process.exit(1)} console.log(c.name)' "$file")"
config="$(node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).config))' "$file")"

if ! curl -fsS -o /dev/null --max-time 5 "$connect/"; then
  echo "error: Kafka Connect is not answering at $connect (is the stack up? npm run stack -- status)" >&2
  exit 1
fi

echo "registering connector '$name' at $connect"
body="$(mktemp)"; trap 'rm -f "$body"' EXIT
code="$(curl -sS -o "$body" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' --data "$config" "$connect/connectors/$name/config")"
case "$code" in
  200|201) ;;
  *) echo "error: Kafka Connect rejected the config (HTTP $code):" >&2; cat "$body" >&2; echo >&2; exit 1 ;;
esac

deadline=$(( $(date +%s) + timeout ))
while :; do
  status="$(curl -fsS --max-time 5 "$connect/connectors/$name/status" 2>/dev/null || true)"
  state="$(printf '%s' "$status" | node -e '
    let s=""; process.stdin.on("data",d=>s+=d).on("end",()=>{
      try { const j=JSON.parse(s); const t=j.tasks||[];
        const failed=t.find(x=>x.state==="FAILED");
        if (failed) { console.log("FAILED " + (failed.trace||"").split("\n").slice(0,3).join(" | ")); return; }
        console.log(j.connector.state==="RUNNING" && t.length>0 && t.every(x=>x.state==="RUNNING") ? "RUNNING" : (j.connector.state||"UNKNOWN"));
      } catch { console.log("UNKNOWN"); } });')"
  case "$state" in
    RUNNING) echo "connector '$name': RUNNING"; exit 0 ;;
    FAILED*) echo "error: connector '$name' failed: ${state#FAILED }" >&2; exit 1 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "error: connector '$name' not RUNNING after ${timeout}s (last state: $state)" >&2; exit 1
  fi
  sleep 1
done
