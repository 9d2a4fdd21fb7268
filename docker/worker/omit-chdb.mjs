// Build step of docker/worker/Dockerfile: drop the embedded ClickHouse engine
// (npm `chdb` and its `@chdb/lib-*` native library, ~550 MB, linux-x64 only)
// from package.json and package-lock.json before `npm install`. Only the native
// stack's ClickHouse (stack/clickhouse/) loads it; in docker-compose ClickHouse
// is the clickhouse-server container, and without it the image also builds on arm64.
// Every other package keeps its locked version.
import fs from 'node:fs';

const dropped = (name) => name === 'chdb' || name.startsWith('@chdb/');
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const removed = [];
for (const deps of [pkg.dependencies, pkg.optionalDependencies, lock.packages?.['']?.dependencies, lock.packages?.['']?.optionalDependencies]) {
  for (const name of Object.keys(deps ?? {})) {
    if (dropped(name)) {
      delete deps[name];
      removed.push(name);
    }
  }
}
for (const key of Object.keys(lock.packages ?? {})) {
  if (key.startsWith('node_modules/') && dropped(key.slice('node_modules/'.length))) delete lock.packages[key];
}
if (removed.length === 0) {
  console.error('omit-chdb: package.json has no chdb dependency any more; remove this step from docker/worker/Dockerfile');
  process.exit(1);
}
fs.writeFileSync('package.json', `${JSON.stringify(pkg, null, 2)}\n`);
fs.writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
console.log(`omit-chdb: not installed in the image: ${[...new Set(removed)].join(', ')}`);
