#!/usr/bin/env bash
# Show a connector's state (connector, tasks, the first lines of a failed
# task's trace), or restart it. Replication lag: npm run lag.
#
#   debezium/status.sh [name]                   (default: astros-postgres)
#   debezium/status.sh [name] --restart         restart the connector and its FAILED tasks, wait for RUNNING
#   debezium/status.sh [name] --restart-all     restart the connector and all its tasks, wait for RUNNING
#   CONNECT_URL=http://127.0.0.1:8083           Kafka Connect REST address
#   STATUS_TIMEOUT=120                          seconds to wait for RUNNING after a restart
# Exit status: 0 RUNNING, 1 not running / failed, 2 usage or environment error.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
name="astros-postgres"; action=""
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --restart) action="failed" ;;
    --restart-all) action="all" ;;
    -*) echo "error: unknown option $arg" >&2; usage >&2; exit 2 ;;
    *) name="$arg" ;;
  esac
done
connect="${CONNECT_URL:-http://127.0.0.1:8083}"
timeout="${STATUS_TIMEOUT:-120}"
command -v curl >/dev/null || { echo "error: curl is not installed" >&2; exit 2; }
command -v node >/dev/null || { echo "error: node is needed to read the REST answers" >&2; exit 2; }
curl -fsS -o /dev/null --max-time 5 "$connect/" || { echo "error: Kafka Connect is not answering at $connect" >&2; exit 2; }

# Prints "<STATE>" on the first line (RUNNING only when the connector and every task run), then details.
state() {
  local body
  body="$(curl -sS --max-time 5 "$connect/connectors/$name/status" || true)"
  printf '%s' "$body" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      let j; try { j = JSON.parse(s); } catch { console.log("UNKNOWN"); console.log("  no status: " + s.slice(0, 200)); return; }
      if (!j.connector) { console.log("MISSING"); console.log("  " + (j.message || "connector not found")); return; }
      const t = j.tasks || [];
      const ok = j.connector.state === "RUNNING" && t.length > 0 && t.every((x) => x.state === "RUNNING");
      console.log(ok ? "RUNNING" : t.some((x) => x.state === "FAILED") || j.connector.state === "FAILED" ? "FAILED" : j.connector.state);
      console.log(`  connector ${j.name}: ${j.connector.state} on ${j.connector.worker_id}`);
      for (const x of t) {
        console.log(`  task ${x.id}: ${x.state} on ${x.worker_id}`);
        if (x.trace) for (const l of x.trace.split("\n").slice(0, 4)) console.log(`    ${l}`);
      }
    });'
}

if [ -n "$action" ]; then
  if [ "$action" = "all" ]; then q="includeTasks=true&onlyFailed=false"; else q="includeTasks=true&onlyFailed=true"; fi
  code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$connect/connectors/$name/restart?$q")"
  case "$code" in 200|202|204) echo "restart requested for '$name' ($action tasks)" ;; *) echo "error: restart refused (HTTP $code)" >&2; exit 1 ;; esac
  deadline=$(( $(date +%s) + timeout ))
  sleep 1
  until [ "$(state | head -1)" = "RUNNING" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then state; echo "error: '$name' not RUNNING after ${timeout}s" >&2; exit 1; fi
    sleep 1
  done
fi

out="$(state)"
echo "$out" | tail -n +2
[ "$(echo "$out" | head -1)" = "RUNNING" ] && exit 0 || exit 1
