/**
 * One place reads the environment: config/. No other file of the product
 * (everything but test/ and the test runner's config) reads process.env
 * (passing it on to a child process is not reading it), and every variable
 * the configuration reads is documented in .env.example.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { envSchema } from '../../config/schema.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const skip = new Set(['node_modules', '.stack', 'test', '.git', 'dbt', 'docs']);

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (skip.has(e.name) || e.name.startsWith('.')) return [];
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') && !p.endsWith('vitest.config.ts') ? [p] : [];
  });
}

/** process.env.X or process.env[...] used as a value: not spread into a child's env, not assigned. */
const READ = /process\.env(?:\.[A-Za-z_][A-Za-z0-9_]*\b(?!\s*=[^=])|\[)/g;

it('only config/ reads the environment', () => {
  const offenders = sources(root)
    .filter((f) => !path.relative(root, f).startsWith(`config${path.sep}`))
    .flatMap((f) => (fs.readFileSync(f, 'utf8').match(READ) ?? []).map((m) => `${path.relative(root, f)}: ${m}`));
  expect(offenders).toEqual([]);
});

it('every variable the configuration reads is in .env.example', () => {
  const configDir = path.join(root, 'config');
  const sourcesOfConfig = fs.readdirSync(configDir).map((f) => fs.readFileSync(path.join(configDir, f), 'utf8')).join('\n');
  const example = fs.readFileSync(path.join(root, '.env.example'), 'utf8');
  const names = new Set([...Object.keys(envSchema.shape), ...[...sourcesOfConfig.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!)]);
  for (const port of ['PG_PORT', 'KAFKA_PORT', 'CONNECT_PORT', 'REGISTRY_PORT', 'CLICKHOUSE_HTTP_PORT', 'TEMPORAL_PORT', 'TEMPORAL_UI_PORT', 'SIMULATOR_PORT']) names.add(port);
  expect(names.size).toBeGreaterThan(30);
  const missing = [...names].filter((n) => !new RegExp(`^#?\\s*${n}=`, 'm').test(example));
  expect(missing).toEqual([]);
});
