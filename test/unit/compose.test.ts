/**
 * docker-compose.yml is the same system as the native stack, not a second one
 * that drifts (issue 7):
 *
 *   - it is a valid Compose project: loaded by compose-go (the library the
 *     docker compose CLI uses; schema validation, interpolation, consistency
 *     checks) through test/compose-validate, a small Go program built from the
 *     Go module proxy once and cached in the per-user cache;
 *   - its images are pinned and their versions are stack/versions.ts;
 *   - its services run the repository's own SQL, connector JSON, register.sh (for curl users)
 *     and worker code, and the settings the native components use.
 *
 * Needs the Go toolchain the first time (or after test/compose-validate changes).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddlDir, ddlVars, listMigrations, render } from '../../connectors/clickhouse/migrate.ts';
import { migrationsDir } from '../../connectors/postgres/migrate.ts';
import { connectorFile } from '../../catalog/connector.ts';
import { consumerClientConfigXml } from '../../catalog/consumer-settings.ts';
import { clusterConfigFiles, clusterDir, clusterHosts, composeCluster, keeperHosts } from '../../catalog/cluster-compose.ts';
import { parseConfig } from '../../config/load.ts';
import { defaultPorts } from '../../config/profiles.ts';
import { envSchema } from '../../config/schema.ts';
import { connect, connectorEnv } from '../../stack/components/connect.ts';
import { kafka } from '../../stack/components/kafka.ts';
import { monitor as monitorComponent } from '../../stack/components/monitor.ts';
import { prometheusConfig } from '../../stack/components/prometheus.ts';
import { initSqlDir, pgRoles, postgres } from '../../stack/components/postgres.ts';
import { registry } from '../../stack/components/registry.ts';
import { temporal } from '../../stack/components/temporal.ts';
import { worker as workerComponent } from '../../stack/components/worker.ts';
import { createContext } from '../../stack/lib/context.ts';
import { composeFile, envExample, root, validate, validatorBinary, type Project, type Service } from './compose-project.ts';
import type { StackContext } from '../../stack/lib/types.ts';
import { versions } from '../../stack/versions.ts';

let bin: string;
let project: Project;
let tmpDir: string;
let nativeCtx: StackContext;

function svc(name: string): Service {
  const s = project.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service '${name}'`);
  return s;
}

function env(name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(svc(name).environment ?? {}).map(([k, v]) => [k, v ?? '']));
}

function imageTag(image: string): { name: string; tag: string | undefined; digest: string | undefined } {
  const [ref, digest] = image.split('@');
  const m = /^(.*?)(?::([^:/]+))?$/.exec(ref ?? '');
  return { name: m?.[1] ?? image, tag: m?.[2], digest };
}

/** A tag that names a release: present, not `latest`, at least major.minor. */
function isPinned(image: string): boolean {
  const { tag, digest } = imageTag(image);
  if (digest !== undefined && /^sha256:[0-9a-f]{64}$/.test(digest)) return true;
  return tag !== undefined && !/latest/i.test(tag) && /\d+\.\d+/.test(tag);
}

/** `key=value` lines of a Java properties file (comments and blanks skipped). */
function readProperties(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const i = line.indexOf('=');
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Dockerfile: FROM images with ARG defaults and the compose build args applied; COPY sources. */
function readDockerfile(service: Service): { from: string[]; copies: string[]; argDefaults: Record<string, string>; text: string } {
  const file = path.join(root, service.build?.context ?? '.', service.build?.dockerfile ?? 'Dockerfile');
  const text = fs.readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
  const argDefaults: Record<string, string> = {};
  const stages = new Set<string>();
  const from: string[] = [];
  const copies: string[] = [];
  const buildArgs = Object.fromEntries(Object.entries(service.build?.args ?? {}).map(([k, v]) => [k, v ?? '']));
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const arg = /^ARG\s+(\w+)(?:=(\S+))?/i.exec(line);
    if (arg?.[1] && arg[2] !== undefined) argDefaults[arg[1]] = arg[2];
    const f = /^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (f?.[1]) {
      const image = f[1].replace(/\$\{?(\w+)\}?/g, (_, k: string) => buildArgs[k] ?? argDefaults[k] ?? '');
      if (!stages.has(image)) from.push(image);
      if (f[2]) stages.add(f[2]);
    }
    const c = /^COPY\s+(?!--from)(?:--\S+\s+)*(.+)$/i.exec(line);
    if (c?.[1]) {
      const parts = c[1].trim().split(/\s+/);
      copies.push(...parts.slice(0, -1));
    }
  }
  return { from, copies, argDefaults, text };
}

/** Docker's .dockerignore semantics, enough for plain patterns: last match wins, a match on a parent folder counts. */
function dockerIgnored(relPath: string): boolean {
  const file = path.join(root, '.dockerignore');
  if (!fs.existsSync(file)) return false;
  let ignored = false;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '');
    const re = new RegExp(
      `^${pattern
        .split('**')
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
        .join('.*')}(/.*)?$`,
    );
    if (re.test(relPath)) ignored = !negate;
  }
  return ignored;
}

function filesIn(dir: string, pattern: RegExp): string[] {
  return fs
    .readdirSync(path.join(root, dir))
    .filter((f) => pattern.test(f))
    .map((f) => `${dir}/${f}`);
}

/** The `-c name=value` settings of a postgres command line. */
function pgSettings(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a !== '-c') return;
    const [k, ...v] = (args[i + 1] ?? '').split('=');
    if (k) out[k] = v.join('=');
  });
  return out;
}

/** A copy of obj without the given keys. */
function without(obj: Record<string, string>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));
}

/** `--flag value` / `--flag` pairs of a command line. */
function flags(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) continue;
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a] = next;
      i++;
    } else out[a] = '';
  }
  return out;
}

beforeAll(() => {
  bin = validatorBinary();
  const res = validate(bin, composeFile, [envExample]);
  if (res.status !== 0) throw new Error(`docker-compose.yml is not a valid Compose project:\n${res.stderr}`);
  project = JSON.parse(res.stdout) as Project;
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astros-compose-test-'));
  // The dev profile's default ports (the README's), whatever PG_PORT & co. say in this shell.
  const base = createContext('dev', () => undefined);
  nativeCtx = { ...base, ports: { ...defaultPorts.dev }, stateDir: tmpDir, logDir: path.join(tmpDir, 'logs'), pidDir: path.join(tmpDir, 'pids') };
}, 300_000);

afterAll(() => {
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------

describe('docker-compose.yml against the Compose Specification', () => {
  it('loads with compose-go: schema, interpolation from .env.docker.example, consistency', () => {
    expect(Object.keys(project.services).sort()).toEqual(
      [
        ...['clickhouse', 'connect', 'dbt', 'grafana', 'kafka', 'monitor', 'pg-init', 'postgres', 'prometheus', 'registry', 'schedule', 'seaweedfs', 'setup', 'simulator', 'temporal', 'worker'],
        // The pipeline's cluster profile (test/unit/compose-cluster.test.ts).
        ...['kafka-2', 'kafka-3', 'connect-2', 'worker-2', 'temporal-schema', 'temporal-server', 'temporal-namespace', 'temporal-ui'],
        ...clusterHosts().map((h) => h.host),
        ...keeperHosts(),
      ].sort(),
    );
  });

  it('the validator rejects what the specification forbids (it is not a YAML parser that accepts anything)', () => {
    const bad = path.join(tmpDir, 'bad-compose.yml');
    fs.writeFileSync(bad, 'services:\n  db:\n    image: postgres:15.13\n    restart_policy: always\n');
    const schema = validate(bin, bad);
    expect(schema.status).toBe(1);
    expect(schema.stderr).toMatch(/restart_policy/);

    fs.writeFileSync(bad, 'services:\n  a:\n    image: alpine:3.22.1\n    depends_on:\n      b:\n        condition: service_healthy\n');
    const consistency = validate(bin, bad);
    expect(consistency.status).toBe(1);
    expect(consistency.stderr).toMatch(/\bb\b/);
  });

  it('refuses to start without the env file: every secret is required, with a hint', () => {
    const res = validate(bin, composeFile);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/set \w*PASSWORD in \.env/);
  });
});

describe('images are pinned and match stack/versions.ts', () => {
  it('every image and every Dockerfile base image has a release tag (no latest, no bare name)', () => {
    const unpinned: string[] = [];
    for (const [name, s] of Object.entries(project.services)) {
      if (!s.image) unpinned.push(`${name}: no image name`);
      else if (!isPinned(s.image)) unpinned.push(`${name}: ${s.image}`);
      if (s.build) for (const base of readDockerfile(s).from) if (!isPinned(base)) unpinned.push(`${name} (${s.build.dockerfile}): FROM ${base}`);
    }
    expect(unpinned).toEqual([]);
  });

  it('postgres, kafka, registry and clickhouse images are the native versions', () => {
    const pg = imageTag(svc('postgres').image!);
    expect(pg.name).toBe('postgres');
    expect(pg.tag?.split(/[.-]/)[0]).toBe(String(versions.postgresMajor));

    expect(imageTag(svc('kafka').image!)).toMatchObject({ name: 'apache/kafka', tag: versions.kafka });
    expect(imageTag(svc('registry').image!)).toMatchObject({ name: 'apicurio/apicurio-registry', tag: versions.apicurioServer });

    const ch = imageTag(svc('clickhouse').image!);
    expect(ch.name).toBe('clickhouse/clickhouse-server');
    expect(ch.tag === versions.clickhouse || ch.tag?.startsWith(`${versions.clickhouse}.`)).toBe(true);
  });

  it('connect is Kafka + Debezium + the Apicurio converter of the native versions (compose args and Dockerfile defaults)', () => {
    const c = svc('connect');
    const want = {
      KAFKA_VERSION: versions.kafka,
      DEBEZIUM_VERSION: versions.debezium,
      APICURIO_CONVERTER_VERSION: versions.apicurioConverter,
      SLF4J_VERSION: versions.slf4j,
    };
    expect(c.build?.args).toEqual(want);
    const df = readDockerfile(c);
    expect(df.argDefaults).toMatchObject(want);
    // The project's converter is built into Apicurio's plugin folder, as the native stack does.
    expect(df.copies).toContain('debezium/converter');
    expect(df.from).toContain(`apache/kafka:${versions.kafka}`);
  });

  it('temporal is the native Temporal CLI version; dbt is the native lock file', () => {
    const t = svc('temporal');
    expect(t.build?.args).toEqual({ TEMPORAL_CLI_VERSION: versions.temporalCli });
    const df = readDockerfile(t);
    expect(df.argDefaults.TEMPORAL_CLI_VERSION).toBe(versions.temporalCli);
    expect(df.from).toContain(`temporalio/temporal:${versions.temporalCli}`);

    const dbt = readDockerfile(svc('dbt'));
    expect(dbt.copies).toContain('stack/python/requirements.lock');
    expect(fs.readFileSync(path.join(root, 'stack/python/requirements.lock'), 'utf8')).toContain(`dbt-core==${versions.dbtCore}\n`);
    expect(imageTag(svc('dbt').image!).tag).toBe(versions.dbtCore);
  });

  it('the worker image runs a Node.js the project supports', () => {
    const engines = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const [minMajor, minMinor] = /(\d+)\.(\d+)/.exec(engines)!.slice(1).map(Number) as [number, number];
    const node = readDockerfile(svc('worker')).from.find((f) => f.startsWith('node:'));
    const [major, minor] = /^node:(\d+)\.(\d+)/.exec(node ?? '')!.slice(1).map(Number) as [number, number];
    expect(major > minMajor || (major === minMajor && minor >= minMinor)).toBe(true);
  });
});

describe('the services run the repository\'s own files', () => {
  const appServices = ['setup', 'worker', 'schedule', 'simulator', 'monitor'];

  it('setup, worker, schedule and simulator share one image built from the repository root', () => {
    for (const name of appServices) {
      expect(svc(name).build, name).toEqual({ context: '.', dockerfile: 'docker/worker/Dockerfile' });
      expect(svc(name).image).toBe(svc('worker').image);
    }
    expect(svc('worker').command).toEqual(['node', '--import', 'tsx', 'cli/worker.ts']);
    expect(svc('setup').command).toEqual(['node', '--import', 'tsx', 'cli/setup.ts']);
    // The schedules the native quickstart creates, with the same commands.
    const schedule = (svc('schedule').command ?? []).join(' ');
    const quickstart = [...fs.readFileSync(path.join(root, 'scripts/quickstart.sh'), 'utf8').matchAll(/tsx (cli\/astros\.ts schedule[^\n]*)/g)].map((m) => m[1]!.trim());
    expect(quickstart.length).toBeGreaterThan(0);
    for (const cmd of quickstart) expect(schedule).toMatch(new RegExp(`node --import tsx ${cmd.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?= |&|$)`));
  });

  it('the image copies the folders holding the DDL, migrations, connector, register.sh and worker code; none is docker-ignored', () => {
    const copied = readDockerfile(svc('worker')).copies.map((c) => c.replace(/\/$/, ''));
    const used = [
      path.relative(root, ddlDir), // clickhouse-ddl: what setup (activities/setup.ts) applies
      path.relative(root, migrationsDir), // db/migrations/postgres
      'debezium',
      'catalog', // the captured tables and everything derived from them
      'shared',
      'connectors',
      'worker',
      'workflows',
      'activities',
      'config',
      'cli',
      'monitor',
    ];
    for (const dir of used) {
      expect(copied.some((c) => dir === c || dir.startsWith(`${c}/`)), `${dir} is not copied into the image`).toBe(true);
    }
    const files = [
      ...filesIn('clickhouse-ddl', /\.sql$/),
      ...filesIn('db/migrations/postgres', /\.sql$/),
      ...filesIn('db/init', /\.sql$/),
      ...filesIn('debezium', /\.(json|sh)$/),
      ...filesIn('worker', /\.ts$/),
      ...filesIn('workflows', /\.ts$/),
      ...filesIn('activities', /\.ts$/),
      ...filesIn('catalog', /\.ts$/),
      ...filesIn('shared', /\.ts$/),
      ...filesIn('connectors', /\.ts$/),
      ...filesIn('monitor', /\.ts$/),
      'stack/maven/connect-plugins.xml',
      'stack/python/requirements.lock',
      'package.json',
      'package-lock.json',
    ];
    expect(files.filter((f) => f.startsWith('clickhouse-ddl/')).length).toBeGreaterThan(0);
    expect(files.filter((f) => f.startsWith('db/migrations/postgres/')).length).toBeGreaterThan(0);
    expect(files.filter(dockerIgnored)).toEqual([]);
    expect(dockerIgnored('.env')).toBe(true); // secrets stay out of the build context
  });

  it('no copies: docker/ holds no SQL and no connector config of its own', () => {
    const walk = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    const docker = walk(path.join(root, 'docker')).map((f) => path.relative(root, f));
    expect(docker.filter((f) => f.endsWith('.sql'))).toEqual([]);
    expect(docker.filter((f) => /connector\.class/.test(fs.readFileSync(path.join(root, f), 'utf8')))).toEqual([]);
  });

  it('postgres gets its roles and grants from db/init, the files the native stack runs', () => {
    expect(initSqlDir(nativeCtx)).toBe(path.join(root, 'db', 'init'));
    const mounts = svc('postgres').volumes ?? [];
    expect(mounts).toContainEqual(expect.objectContaining({ type: 'bind', source: './db/init', read_only: true }));
    const initMount = mounts.find((m) => m.source === './db/init')!;
    const initdb = mounts.find((m) => m.target === '/docker-entrypoint-initdb.d');
    expect(initdb?.source).toBe('./docker/postgres/initdb');
    const script = fs.readFileSync(path.join(root, 'docker/postgres/initdb/10-astros.sh'), 'utf8');
    expect(script).toContain(`/astros/db/init`);
    expect(initMount.target).toBe('/astros/db/init');
    // And again at every `up` (the native stack runs them at each start): every file but the roles, as the superuser.
    const again = svc('pg-init');
    expect(again.image).toBe(svc('postgres').image);
    expect(again.volumes).toContainEqual(expect.objectContaining({ type: 'bind', source: './db/init', target: '/astros/db/init', read_only: true }));
    expect(again.command?.join(' ')).toMatch(/for f in \/astros\/db\/init\/\*\.sql; .*\*\/10_roles\.sql\) continue .*psql -v ON_ERROR_STOP=1 .*-U postgres -d astros -f "\$f"/);
    // Each table group's own database on this server, prepared as the native stack's prepareSourceDatabase does.
    expect(again.command?.join(' ')).toMatch(/&& sh \/astros\/group-databases\.sh$/);
    expect(again.volumes).toContainEqual(expect.objectContaining({ type: 'bind', source: './docker/postgres/group-databases.sh', target: '/astros/group-databases.sh', read_only: true }));
    expect(env('pg-init')).toHaveProperty('ASTROS_GROUP_DATABASES');
    const groupScript = fs.readFileSync(path.join(root, 'docker/postgres/group-databases.sh'), 'utf8');
    const nativeSource = fs.readFileSync(path.join(root, 'stack/components/postgres.ts'), 'utf8');
    const nativeGroup = nativeSource.slice(nativeSource.indexOf('export async function prepareSourceDatabase'));
    for (const f of ['20_grants.sql', '30_schema_changes.sql']) {
      expect(groupScript).toContain(f);
      expect(nativeGroup.slice(0, nativeGroup.indexOf('\n}\n'))).toContain(`'${f}'`);
    }
    for (const s of ['setup', 'worker', 'monitor']) expect(env(s), s).toHaveProperty('ASTROS_GROUP_DATABASES');
    for (const f of fs.readdirSync(path.join(root, 'db/init')).filter((n) => n.endsWith('.sql'))) {
      expect(script, `10-astros.sh does not run db/init/${f}`).toContain(`/${f}`);
      expect(nativeSource, `postgres.ts does not run db/init/${f}`).toContain(`'${f}'`);
      const sql = fs.readFileSync(path.join(root, 'db/init', f), 'utf8');
      if (/create role/i.test(sql)) expect(sql).toMatch(new RegExp(`\\b${pgRoles.cdc.user}\\b[\\s\\S]*replication|replication[\\s\\S]*\\b${pgRoles.cdc.user}\\b`));
    }
  });

  it('setup registers the connector (debezium/astros-postgres.json, tables from the catalog) through Connect\'s REST API and renders every ClickHouse DDL file', () => {
    const applySrc = fs.readFileSync(path.join(root, 'activities/apply-catalog.ts'), 'utf8');
    expect(applySrc).toContain('c.connect.register(connectorConfig(mine, group, undefined, groupSourceOf(env, group))');
    expect(fs.readFileSync(path.join(root, 'catalog/derive.ts'), 'utf8')).toContain('base: ConnectorSpec = readConnectorFile()');
    expect(connectorFile).toBe(path.join(root, 'debezium', 'astros-postgres.json'));
    const e = parseConfig(env('setup'));
    const rendered = listMigrations().map((f) => render(f, ddlVars()));
    expect(rendered.length).toBe(filesIn('clickhouse-ddl', /^\d{3}_[\w-]+\.sql$/).length);
    // The broker list the Kafka engine gets is a listener Kafka advertises to containers.
    expect((env('kafka').KAFKA_ADVERTISED_LISTENERS ?? '').split(',').map((l) => l.replace(/^\w+:\/\//, ''))).toContain(e.kafkaBrokers.join(','));
    expect(e.registryCcompatUrl).toBe('http://registry:8080/apis/ccompat/v7');
  });

  it('setup and the worker get the same retention settings, the defaults of config/ unless .env sets them', () => {
    const names = ['CLICKHOUSE_CHANGELOG_TTL', 'CLICKHOUSE_KAFKA_ERRORS_TTL', 'KAFKA_TOPIC_RETENTION'];
    for (const n of names) expect(n in envSchema.shape, n).toBe(true);
    for (const s of ['setup', 'worker']) expect(names.filter((n) => !(n in env(s))), s).toEqual([]);
    const defaults = parseConfig({ ...env('setup'), ...Object.fromEntries(names.map((n) => [n, ''])) }).retention;
    expect(parseConfig(env('setup')).retention).toEqual(defaults);
    expect(parseConfig(env('worker')).retention).toEqual(defaults);
  });

  it('connect sets every ${env:NAME} the connector JSON reads, with the native names and values', () => {
    const names = new Set<string>();
    for (const f of filesIn('debezium', /\.json$/)) {
      for (const m of fs.readFileSync(path.join(root, f), 'utf8').matchAll(/\$\{env:(\w+)\}/g)) names.add(m[1]!);
    }
    const e = env('connect');
    expect([...names].filter((n) => !(n in e))).toEqual([]);
    const native = connectorEnv(nativeCtx);
    expect(Object.keys(e).filter((k) => k.startsWith('ASTROS_')).sort()).toEqual(Object.keys(native).sort());
    expect(e.ASTROS_PG_DATABASE).toBe(native.ASTROS_PG_DATABASE);
    expect(e.ASTROS_CDC_USER).toBe(native.ASTROS_CDC_USER);
    expect(e.ASTROS_PG_PORT).toBe('5432');
    expect(new URL(e.ASTROS_REGISTRY_URL!).pathname).toBe(new URL(native.ASTROS_REGISTRY_URL!).pathname);
    expect(readDockerfile(svc('connect')).copies).toContain('stack/maven/connect-plugins.xml');
  });

  it('the worker container gets every variable the native worker component sets', async () => {
    const spec = await workerComponent.process(nativeCtx);
    const e = env('worker');
    expect(Object.keys(spec.env ?? {}).filter((k) => !(k in e))).toEqual([]);
    expect(e.KAFKA_BROKERS).toBe(env('setup').KAFKA_BROKERS);
    expect(e.CLICKHOUSE_URL).toBe(env('setup').CLICKHOUSE_URL);
    expect(e.DATABASE_URL).toBe(env('setup').DATABASE_URL);
  });
});

describe('backups: SeaweedFS and the backup volume', () => {
  it('SeaweedFS is the pinned release the native stack builds, optional (profile backup), without telemetry', () => {
    expect(imageTag(svc('seaweedfs').image!)).toMatchObject({ name: 'chrislusf/seaweedfs', tag: versions.seaweedfs });
    expect(svc('seaweedfs').profiles).toEqual(['backup']);
    expect(JSON.stringify(svc('seaweedfs').command)).toContain('-master.telemetry=false');
  });

  it('ClickHouse may write /backups, a volume the worker mounts at the same path (its default BACKUP_TARGET)', () => {
    for (const name of ['clickhouse', 'worker']) expect(svc(name).volumes, name).toContainEqual(expect.objectContaining({ type: 'volume', source: 'backups', target: '/backups' }));
    expect(fs.readFileSync(path.join(root, 'docker/clickhouse/config.d/backups.xml'), 'utf8')).toContain('<allowed_path>/backups/</allowed_path>');
    expect(env('worker').BACKUP_TARGET).toBe('/backups');
  });
});

describe('monitoring: the monitor, Prometheus and Grafana', () => {
  it('the monitor runs cli/monitor.ts with every variable the native monitor component sets', async () => {
    expect(svc('monitor').command).toEqual(['node', '--import', 'tsx', 'cli/monitor.ts', 'run']);
    const spec = await monitorComponent.process(nativeCtx);
    expect(spec.args.slice(2, 4)).toEqual([path.join(root, 'cli', 'monitor.ts'), 'run']);
    const e = env('monitor');
    expect(Object.keys(spec.env ?? {}).filter((k) => !(k in e))).toEqual([]);
    for (const k of ['DATABASE_URL', 'CLICKHOUSE_URL', 'KAFKA_BROKERS', 'CONNECT_URL', 'REGISTRY_URL']) expect(e[k], k).toBe(env('setup')[k]);
    expect(e.MONITOR_PORT).toBe(String(defaultPorts.dev.monitor));
  });

  it('Prometheus and Grafana are pinned official images, optional (profile monitoring); Prometheus is the Debian package\'s version', () => {
    expect(imageTag(svc('prometheus').image!)).toMatchObject({ name: 'prom/prometheus', tag: `v${versions.prometheus}` });
    expect(imageTag(svc('grafana').image!)).toMatchObject({ name: 'grafana/grafana', tag: versions.grafana });
    for (const name of ['prometheus', 'grafana']) expect(svc(name).profiles, name).toEqual(['monitoring']);
  });

  it('docker/prometheus/prometheus.yml scrapes the monitor and loads the generated rules, like the native component\'s', () => {
    const docker = fs.readFileSync(path.join(root, 'docker/prometheus/prometheus.yml'), 'utf8');
    const native = prometheusConfig(nativeCtx);
    const field = (text: string, re: RegExp) => re.exec(text)?.[1];
    expect(field(docker, /job_name: (\S+)/)).toBe(field(native, /job_name: (\S+)/));
    expect(field(docker, /targets: \['monitor:(\d+)'\]/)).toBe(String(defaultPorts.dev.monitor));
    expect(field(native, /targets: \['127\.0\.0\.1:(\d+)'\]/)).toBe(String(defaultPorts.dev.monitor));
    expect(path.basename(field(docker, /rule_files:\n\s+- (\S+)/) ?? '')).toBe(path.basename(field(native, /rule_files:\n\s+- (\S+)/) ?? 'missing'));
    const mounts = svc('prometheus').volumes ?? [];
    expect(mounts).toContainEqual(expect.objectContaining({ source: './docker/prometheus/rules.yml', target: field(docker, /rule_files:\n\s+- (\S+)/), read_only: true }));
    expect(mounts).toContainEqual(expect.objectContaining({ source: './docker/prometheus/prometheus.yml', read_only: true }));
  });

  it('Grafana provisions the Prometheus data source and the dashboard folder', () => {
    const mounts = svc('grafana').volumes ?? [];
    expect(mounts).toContainEqual(expect.objectContaining({ source: './docker/grafana/dashboards', target: '/var/lib/grafana/dashboards', read_only: true }));
    expect(mounts).toContainEqual(expect.objectContaining({ source: './docker/grafana/provisioning', target: '/etc/grafana/provisioning', read_only: true }));
    const ds = fs.readFileSync(path.join(root, 'docker/grafana/provisioning/datasources/prometheus.yml'), 'utf8');
    expect(ds).toContain('url: http://prometheus:9090');
    const dash = JSON.parse(fs.readFileSync(path.join(root, 'docker/grafana/dashboards/astros-cdc.json'), 'utf8')) as { panels: { datasource: { uid: string } }[] };
    expect(new Set(dash.panels.map((p) => p.datasource.uid))).toEqual(new Set([/uid: (\S+)/.exec(ds)?.[1]]));
    expect(fs.readFileSync(path.join(root, 'docker/grafana/provisioning/dashboards/astros.yml'), 'utf8')).toContain('path: /var/lib/grafana/dashboards');
  });
});

describe('settings match the native components', () => {
  it('postgres: the same server settings', async () => {
    const native = without(pgSettings((await postgres.process(nativeCtx)).args), ['port', 'listen_addresses', 'unix_socket_directories']);
    expect(native.wal_level).toBe('logical');
    expect(pgSettings(svc('postgres').command ?? [])).toEqual(native);
  });

  it('kafka: the same server.properties, apart from listeners and paths', async () => {
    // prepare() writes server.properties, then formats storage unless meta.properties exists.
    fs.mkdirSync(path.join(tmpDir, 'kafka', 'data'), { recursive: true });
    fs.writeFileSync(path.join(tmpDir, 'kafka', 'data', 'meta.properties'), '');
    await kafka.prepare!(nativeCtx);
    const native = readProperties(path.join(tmpDir, 'kafka', 'server.properties'));
    const addresses = ['listeners', 'advertised.listeners', 'controller.quorum.voters', 'listener.security.protocol.map', 'inter.broker.listener.name', 'log.dirs'];
    const e = env('kafka');
    const toEnv = (k: string) => `KAFKA_${k.replace(/_/g, '___').replace(/-/g, '__').replace(/\./g, '_').toUpperCase()}`;
    const mismatches = Object.entries(native)
      .filter(([k]) => !addresses.includes(k))
      .filter(([k, v]) => e[toEnv(k)] !== v)
      .map(([k, v]) => `${toEnv(k)}: native ${v}, compose ${e[toEnv(k)]}`);
    expect(mismatches).toEqual([]);
    for (const k of addresses) expect(e[toEnv(k)], toEnv(k)).toBeTruthy();
    expect(e.KAFKA_PROCESS_ROLES).toBe(native['process.roles']);
  });

  it('connect: the same worker.properties, apart from addresses and plugin.path', async () => {
    await connect.prepare!(nativeCtx);
    const native = readProperties(path.join(tmpDir, 'connect', 'worker.properties'));
    const docker = readProperties(path.join(root, 'docker', 'connect', 'worker.properties'));
    const addresses = ['bootstrap.servers', 'listeners', 'rest.advertised.host.name', 'plugin.path'];
    for (const k of addresses) expect(docker[k], k).toBeTruthy();
    expect(without(docker, addresses)).toEqual(without(native, addresses));
    expect(readDockerfile(svc('connect')).copies).toContain('docker/connect/worker.properties');
  });

  it('registry: the same Apicurio settings, apart from address and storage', async () => {
    await registry.prepare!(nativeCtx);
    const native = readProperties(path.join(tmpDir, 'registry', 'config', 'application.properties'));
    const differ = ['quarkus.http.host', 'quarkus.http.port', 'apicurio.storage.sql.kind', 'apicurio.datasource.url', 'apicurio.datasource.username', 'apicurio.datasource.password'];
    // MicroProfile Config's environment mapping: every non-alphanumeric character becomes '_'.
    const toEnv = (k: string) => k.replace(/[^A-Za-z0-9]/g, '_').toUpperCase();
    const e = env('registry');
    const mismatches = Object.entries(native)
      .filter(([k]) => !differ.includes(k))
      .filter(([k, v]) => e[toEnv(k)] !== v)
      .map(([k, v]) => `${toEnv(k)}: native ${v}, compose ${e[toEnv(k)]}`);
    expect(mismatches).toEqual([]);
    expect(e.APICURIO_STORAGE_KIND).toBe(native['apicurio.storage.kind']);
  });

  it('temporal: the same start-dev flags, apart from bind address and database file', async () => {
    const native = flags((await temporal.process(nativeCtx)).args);
    const docker = flags(svc('temporal').command ?? []);
    const local = ['--ip', '--db-filename'];
    for (const k of local) expect(docker[k], k).toBeTruthy();
    expect(without(docker, local)).toEqual(without(native, local));
    expect((svc('temporal').command ?? []).slice(0, 2)).toEqual(['server', 'start-dev']);
  });

  it('clickhouse: the settings the native server pins', () => {
    const engine = fs.readFileSync(path.join(root, 'stack/clickhouse/engine.ts'), 'utf8');
    const args = /serverDefaultArgs[^=]*=\s*\[([^\]]*)\]/.exec(engine)?.[1] ?? '';
    const pinned = [...args.matchAll(/--(\w+)=(\w+)/g)].map((m) => [m[1]!, m[2]!] as const);
    expect(pinned.length).toBeGreaterThan(0);
    const xml = fs.readFileSync(path.join(root, 'docker/clickhouse/users.d/astros.xml'), 'utf8');
    for (const [k, v] of pinned) expect(xml).toContain(`<${k}>${v}</${k}>`);
    expect(svc('clickhouse').volumes).toContainEqual(expect.objectContaining({ source: './docker/clickhouse/users.d/astros.xml' }));
  });

  it('clickhouse: the Kafka consumers\' client settings, as the native host passes them', () => {
    expect(svc('clickhouse').volumes).toContainEqual(
      expect.objectContaining({ source: './docker/clickhouse/config.d/kafka.xml', target: '/etc/clickhouse-server/config.d/kafka.xml' }),
    );
    // The file's content is checked against catalog/consumer-settings.ts with every generated file (test/unit/catalog.test.ts).
    expect(fs.readFileSync(path.join(root, 'docker/clickhouse/config.d/kafka.xml'), 'utf8')).toBe(consumerClientConfigXml());
  });

  it('ports: the native defaults, published on 127.0.0.1 only', () => {
    const p = defaultPorts.dev;
    const want: Record<string, [number, number][]> = {
      postgres: [[p.postgres, 5432]],
      kafka: [[p.kafka, 9092]],
      connect: [[p.connect, 8083]],
      registry: [[p.registry, 8080]],
      clickhouse: [[p.clickhouseHttp, 8123]],
      temporal: [
        [p.temporal, 7233],
        [p.temporalUi, 8233],
      ],
      simulator: [[p.simulator, 8090]],
      monitor: [[p.monitor, 9464]],
      prometheus: [[p.prometheus, 9090]],
      seaweedfs: [[p.seaweedfs, 8333]],
    };
    for (const [name, pairs] of Object.entries(want)) {
      const got = (svc(name).ports ?? []).map((x) => [Number(x.published), x.target]);
      expect(got, name).toEqual(pairs);
    }
    for (const [name, s] of Object.entries(project.services)) {
      for (const x of s.ports ?? []) expect(x.host_ip, `${name} publishes ${x.published} beyond loopback`).toBe('127.0.0.1');
    }
  });
});

describe('the ClickHouse cluster profile: the hosts and files catalog/cluster-compose.ts generates', () => {
  const mount = (service: string, target: string) => (svc(service).volumes ?? []).find((v) => v.target === target);
  const rel = (file: string) => `./${path.relative(root, file)}`;
  const clickhouseImage = () => svc('clickhouse').image!;

  it('2 shards x 2 replicas and 3 Keeper nodes, only with --profile cluster, on the native ClickHouse image', () => {
    expect(clusterHosts()).toHaveLength(composeCluster.shards * composeCluster.replicas);
    expect([composeCluster.shards, composeCluster.replicas, composeCluster.keepers]).toEqual([2, 2, 3]);
    for (const name of [...clusterHosts().map((h) => h.host), ...keeperHosts()]) {
      const s = svc(name);
      expect(s.profiles, name).toEqual(['cluster']);
      expect(s.image, name).toBe(clickhouseImage());
      expect(s.hostname, `${name}: replicas fetch parts from each other by host name`).toBe(name);
      expect(s.healthcheck?.test?.length ?? 0, `${name} has no health check`).toBeGreaterThan(0);
      expect(s.ports ?? [], name).toEqual([]);
    }
  });

  it('every server: the cluster and Keeper (the shared file), its own macros, the settings of the single server; waits for every Keeper', () => {
    const single = svc('clickhouse');
    for (const h of clusterHosts()) {
      expect(mount(h.host, '/etc/clickhouse-server/config.d/remote-servers.xml')?.source).toBe(rel(path.join(clusterDir, 'remote-servers.xml')));
      expect(mount(h.host, '/etc/clickhouse-server/config.d/macros.xml')?.source).toBe(rel(path.join(clusterDir, `macros-${h.host}.xml`)));
      for (const target of ['/etc/clickhouse-server/users.d/astros.xml', '/etc/clickhouse-server/config.d/kafka.xml']) {
        expect(mount(h.host, target)?.source, `${h.host}:${target}`).toBe(single.volumes!.find((v) => v.target === target)!.source);
      }
      expect(svc(h.host).environment).toEqual(single.environment);
      const deps = Object.fromEntries(Object.entries(svc(h.host).depends_on ?? {}).map(([k, v]) => [k, v.condition]));
      expect(deps).toEqual(Object.fromEntries(keeperHosts().map((k) => [k, 'service_healthy'])));
    }
  });

  it('every Keeper node: its own raft file at the path its entrypoint reads', () => {
    keeperHosts().forEach((k) => {
      const file = mount(k, '/etc/clickhouse-keeper/keeper.xml');
      expect(file?.source).toBe(rel(path.join(clusterDir, `${k}.xml`)));
      expect(svc(k).entrypoint).toContain(`--config-file=${file!.target}`);
    });
  });

  it('each host keeps its state in a named volume of its own', () => {
    const names = [...clusterHosts().map((h) => [h.host, '/var/lib/clickhouse'] as const), ...keeperHosts().map((k) => [k, '/var/lib/clickhouse-keeper'] as const)];
    const sources = names.map(([name, target]) => {
      const v = mount(name, target);
      expect(v?.type, `${name}:${target}`).toBe('volume');
      expect(Object.keys(project.volumes ?? {})).toContain(v?.source);
      return v!.source;
    });
    expect(new Set(sources).size).toBe(sources.length);
  });

  it('the generated files name exactly these hosts: shards in order, each replica once, the raft peers and ids', () => {
    const text = (name: string) => clusterConfigFiles().find((f) => path.basename(f.file) === name)!.text;
    const remote = text('remote-servers.xml');
    const shards = [...remote.matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m) => [...m[1]!.matchAll(/<host>([^<]+)<\/host>/g)].map((x) => x[1]));
    const want = Array.from({ length: composeCluster.shards }, (_, i) => clusterHosts().filter((h) => h.shard === i + 1).map((h) => h.host));
    expect(shards).toEqual(want);
    expect(remote).toContain(`<${composeCluster.name}>`);
    expect([...remote.matchAll(/<zookeeper>[\s\S]*?<\/zookeeper>/g)][0]![0].match(/<host>[^<]+<\/host>/g)).toEqual(keeperHosts().map((k) => `<host>${k}</host>`));
    expect(remote).not.toMatch(/<password>[^<]/); // the password comes from the server's environment
    for (const h of clusterHosts()) {
      const macros = text(`macros-${h.host}.xml`);
      expect(macros).toContain(`<shard>${h.shard}</shard>`);
      expect(macros).toContain(`<replica>${h.host}</replica>`);
    }
    keeperHosts().forEach((k, i) => {
      const keeper = text(`${k}.xml`);
      expect(keeper).toContain(`<server_id>${i + 1}</server_id>`);
      expect([...keeper.matchAll(/<hostname>([^<]+)<\/hostname>/g)].map((m) => m[1])).toEqual(keeperHosts());
    });
    // Every generated file is in the repository as generated, and each one is mounted.
    const mounted = new Set(Object.values(project.services).flatMap((x) => (x.volumes ?? []).map((v) => v.source)));
    for (const f of clusterConfigFiles()) {
      expect(fs.readFileSync(f.file, 'utf8'), rel(f.file)).toBe(f.text);
      expect(mounted.has(rel(f.file)), `${rel(f.file)} is mounted`).toBe(true);
    }
  });

  it('setup, worker, monitor and dbt reach the server CLICKHOUSE_SERVICE names and pass CLICKHOUSE_CLUSTER on', () => {
    for (const name of ['setup', 'worker', 'monitor']) {
      expect(env(name).CLICKHOUSE_URL, name).toMatch(/@clickhouse:8123$/); // .env.docker.example: the single server
      expect(env(name).CLICKHOUSE_CLUSTER, name).toBe('');
    }
    expect(env('dbt').CLICKHOUSE_HOST).toBe('clickhouse');
    const raw = fs.readFileSync(composeFile, 'utf8');
    expect(raw.match(/@\$\{CLICKHOUSE_SERVICE:-clickhouse\}:8123/g)).toHaveLength(3);
  });
});

describe('start order, health and state', () => {
  const longRunning = ['postgres', 'kafka', 'registry', 'connect', 'clickhouse', 'temporal', 'monitor', 'prometheus'];
  const oneShot = ['pg-init', 'setup', 'schedule', 'temporal-schema', 'temporal-namespace'];

  it('every long-running infrastructure service has a health check', () => {
    for (const name of longRunning) {
      const hc = svc(name).healthcheck;
      expect(hc?.disable ?? false, name).toBe(false);
      expect(hc?.test?.length ?? 0, `${name} has no health check`).toBeGreaterThan(0);
    }
  });

  it('conditions: service_healthy only on health-checked services, service_completed_successfully only on one-shot jobs', () => {
    for (const [name, s] of Object.entries(project.services)) {
      for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
        if (d.condition === 'service_healthy') expect(svc(dep).healthcheck?.test?.length ?? 0, `${name} -> ${dep}`).toBeGreaterThan(0);
        if (d.condition === 'service_completed_successfully') expect(oneShot, `${name} -> ${dep}`).toContain(dep);
      }
    }
    for (const name of oneShot) expect(svc(name).restart, name).toBe('no');
  });

  it('setup waits for the whole pipeline; worker and schedule wait for setup', () => {
    const deps = (name: string) => Object.fromEntries(Object.entries(svc(name).depends_on ?? {}).map(([k, v]) => [k, v.condition]));
    expect(deps('setup')).toEqual({
      postgres: 'service_healthy',
      'pg-init': 'service_completed_successfully',
      kafka: 'service_healthy',
      registry: 'service_healthy',
      connect: 'service_healthy',
      clickhouse: 'service_healthy',
      [clusterHosts()[0]!.host]: 'service_healthy',
    });
    // The cluster's first server only when its profile runs (the pipeline talks to it then).
    expect(svc('setup').depends_on?.[clusterHosts()[0]!.host]?.required).toBe(false);
    expect(deps('worker')).toMatchObject({ setup: 'service_completed_successfully', temporal: 'service_healthy', postgres: 'service_healthy', clickhouse: 'service_healthy' });
    expect(deps('schedule')).toMatchObject({ setup: 'service_completed_successfully', temporal: 'service_healthy' });
    expect(deps('connect')).toMatchObject({ kafka: 'service_healthy', registry: 'service_healthy' });
    expect(deps('registry')).toMatchObject({ postgres: 'service_healthy' });
  });

  it('state lives in named volumes', () => {
    const state: Record<string, string> = {
      postgres: '/var/lib/postgresql/data',
      kafka: '/var/lib/kafka/data',
      clickhouse: '/var/lib/clickhouse',
      temporal: '/var/lib/temporal',
    };
    for (const [name, target] of Object.entries(state)) {
      const v = (svc(name).volumes ?? []).find((m) => m.target === target);
      expect(v?.type, `${name}:${target}`).toBe('volume');
      expect(Object.keys(project.volumes ?? {})).toContain(v?.source);
    }
  });
});

describe('secrets come from the env file', () => {
  const raw = () => fs.readFileSync(composeFile, 'utf8');

  it('no password or credential in docker-compose.yml itself', () => {
    const literal = raw()
      .split('\n')
      .filter((l) => /^\s*[A-Z_]*PASSWORD[A-Z_]*:\s*\S/.test(l) || /:\/\/[^\s/:@]+:[^\s/@]+@/.test(l))
      .filter((l) => !/\$\{[A-Z_]+:\?[^}]*\}/.test(l));
    expect(literal).toEqual([]);
  });

  it('.env.docker.example defines every variable docker-compose.yml reads; .env is git-ignored', () => {
    const used = new Set([...raw().matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const defined = new Set(
      fs
        .readFileSync(envExample, 'utf8')
        .split('\n')
        .map((l) => /^(\w+)=/.exec(l)?.[1])
        .filter((n): n is string => n !== undefined),
    );
    expect([...used].filter((n) => !defined.has(n))).toEqual([]);
    expect(fs.readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n')).toContain('.env');
  });
});
