/**
 * Conformance of the embedded ClickHouse HTTP server (cli/clickhouse-server.ts)
 * with the real clients: @clickhouse/client, curl and clickhouse-connect (the
 * driver dbt-clickhouse uses, via clickhouse_connect_check.py and $DBT_PYTHON).
 *
 * Uses the stack's server when CLICKHOUSE_URL is set (global setup); otherwise
 * starts its own on a free port with a temporary data directory.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { type ClickHouseClient, ClickHouseError, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const execFileP = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const serverScript = path.join(repoRoot, 'cli', 'clickhouse-server.ts');
const connectCheck = path.join(repoRoot, 'test', 'integration', 'clickhouse_connect_check.py');

const runId = `${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
const uniqueName = (base: string): string => `${base}_${runId}`;

let baseUrl = '';
let own: { child: ChildProcess; dataDir: string; port: number; log: string[] } | undefined;
let client: ClickHouseClient;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function startServer(port: number, dataDir: string): { child: ChildProcess; log: string[] } {
  const log: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript, '--port', String(port), '--data-dir', dataDir], {
    cwd: repoRoot,
    env: { ...process.env, UV_THREADPOOL_SIZE: '16' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (b: Buffer): void => {
    log.push(...b.toString().split('\n').filter(Boolean));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return { child, log };
}

async function waitForPing(url: string, child: ChildProcess, log: string[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`clickhouse server exited with ${child.exitCode}:\n${log.join('\n')}`);
    try {
      const res = await fetch(`${url}/ping`);
      if (res.status === 200 && (await res.text()) === 'Ok.\n') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`clickhouse server did not answer /ping within ${timeoutMs} ms:\n${log.join('\n')}`);
}

async function stopServer(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

async function curl(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileP('curl', ['-sS', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

beforeAll(async () => {
  if (process.env.CLICKHOUSE_URL) {
    baseUrl = process.env.CLICKHOUSE_URL.replace(/\/+$/, '');
  } else {
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ch-http-test-'));
    const { child, log } = startServer(port, dataDir);
    own = { child, dataDir, port, log };
    baseUrl = `http://127.0.0.1:${port}`;
    await waitForPing(baseUrl, child, log);
  }
  // Client logging off: the error tests provoke failures on purpose.
  client = createClient({ url: baseUrl, username: 'default', password: 'any', log: { level: ClickHouseLogLevel.OFF } });
}, 120_000);

afterAll(async () => {
  await client?.close();
  if (own) {
    const code = await stopServer(own.child);
    fs.rmSync(own.dataDir, { recursive: true, force: true });
    // A clean SIGTERM closes the engine (flushes data) and exits 0.
    expect(code, own.log.join('\n')).toBe(0);
    expect(own.log.join('\n')).toContain('engine closed');
  }
}, 60_000);

describe('HTTP basics', () => {
  it('answers /ping and an empty GET / with "Ok."', async () => {
    for (const p of ['/ping', '/']) {
      const res = await fetch(`${baseUrl}${p}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('Ok.\n');
    }
    expect((await fetch(`${baseUrl}/no_such_handler`)).status).toBe(404);
  });

  it('defaults to TabSeparated and sends the ClickHouse headers', async () => {
    const res = await fetch(`${baseUrl}/?query=${encodeURIComponent('SELECT 1 AS a, \'x\' AS b')}&query_id=qid_${runId}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('1\tx\n');
    expect(res.headers.get('x-clickhouse-format')).toBe('TabSeparated');
    expect(res.headers.get('x-clickhouse-query-id')).toBe(`qid_${runId}`);
    expect(res.headers.get('x-clickhouse-timezone')).toBe('UTC');
    expect(res.headers.get('x-clickhouse-server-display-name')).toBeTruthy();
    const summary = JSON.parse(res.headers.get('x-clickhouse-summary') ?? '{}') as Record<string, unknown>;
    expect(summary.read_rows).toBe('1');
    expect(typeof summary.written_rows).toBe('string');
  });

  it('returns binary formats as exact bytes', async () => {
    const rb = await fetch(`${baseUrl}/?query=${encodeURIComponent('SELECT toUInt32(258) AS n, toUInt8(0) AS z FORMAT RowBinary')}`);
    expect(rb.headers.get('x-clickhouse-format')).toBe('RowBinary');
    expect([...new Uint8Array(await rb.arrayBuffer())]).toEqual([2, 1, 0, 0, 0]);
    const native = await fetch(`${baseUrl}/?query=${encodeURIComponent("SELECT toUInt16(65535) AS n FORMAT Native")}`);
    const bytes = new Uint8Array(await native.arrayBuffer());
    // Native: columns=1, rows=1, name "n", type "UInt16", value ff ff
    expect([...bytes]).toEqual([1, 1, 1, 110, 6, ...Buffer.from('UInt16'), 0xff, 0xff]);
  });
});

describe('@clickhouse/client', () => {
  it('queries in JSONEachRow, JSON and TabSeparated with server defaults (64-bit ints quoted, sync inserts)', async () => {
    const rows = await (
      await client.query({ query: 'SELECT toUInt64(18446744073709551615) AS big, 1 AS small', format: 'JSONEachRow' })
    ).json<{ big: string; small: number }>();
    expect(rows).toEqual([{ big: '18446744073709551615', small: 1 }]);
    const json = await (await client.query({ query: 'SELECT number FROM numbers(3)', format: 'JSON' })).json<{ number: string }>();
    expect(json.rows).toBe(3);
    expect(json.data.map((r) => r.number)).toEqual(['0', '1', '2']);
    const tsv = await (await client.query({ query: 'SELECT number FROM numbers(2)', format: 'TabSeparated' })).text();
    expect(tsv).toBe('0\n1\n');
    const settings = await (
      await client.query({
        query: "SELECT getSetting('async_insert') AS a, getSetting('output_format_json_quote_64bit_integers') AS q, timezone() AS tz",
        format: 'JSONEachRow',
      })
    ).json();
    expect(settings).toEqual([{ a: false, q: true, tz: 'UTC' }]);
  });

  it('streams a large TabSeparated insert in chunks as it arrives; a bad row fails it after the chunks before it', async () => {
    const table = uniqueName('tsv_stream');
    await client.command({ query: `CREATE TABLE ${table} (id UInt64, s String) ENGINE = MergeTree ORDER BY id` });
    // Merges would fold the chunks' parts together before they are counted.
    await client.command({ query: `SYSTEM STOP MERGES ${table}` });
    const padding = 'x'.repeat(170);
    const rows = (from: number, n: number, bad?: number) =>
      Readable.from(
        (function* () {
          for (let i = from; i < from + n; i += 1000) {
            let block = '';
            for (let j = i; j < Math.min(i + 1000, from + n); j++) block += `${j === bad ? 'oops' : j}\t${padding}\\n\n`;
            yield Buffer.from(block);
          }
        })(),
        { objectMode: false },
      );
    try {
      // ~36 MB: more than two of the server's 16 MiB chunks, each its own INSERT and part.
      const summary = await client.insert({ table, values: rows(0, 200_000), format: 'TabSeparated' });
      expect(summary.summary?.written_rows).toBe('200000');
      const [c] = await (await client.query({ query: `SELECT count() AS n, uniqExact(_part) AS parts, any(s) AS s FROM ${table}`, format: 'JSONEachRow' })).json<{ n: string; parts: string; s: string }>();
      expect(c).toEqual({ n: '200000', parts: '3', s: `${padding}\n` });
      // Chunks inserted before the failing one stay (at least once): the client sees the engine's parse error.
      const failed = await client.insert({ table, values: rows(1_000_000, 200_000, 1_150_000), format: 'TabSeparated' }).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(ClickHouseError);
      expect((failed as ClickHouseError).message).toMatch(/oops|parse|Cannot/i);
      const [after] = await (await client.query({ query: `SELECT count() AS n FROM ${table} WHERE id >= 1000000`, format: 'JSONEachRow' })).json<{ n: string }>();
      expect(Number(after!.n)).toBeGreaterThan(0);
      expect(Number(after!.n)).toBeLessThan(150_000);
    } finally {
      await client.command({ query: `DROP TABLE IF EXISTS ${table}` });
    }
  });

  it('inserts JSONEachRow and JSONCompactEachRow and reads them back', async () => {
    const table = uniqueName('js_insert');
    await client.command({ query: `CREATE TABLE ${table} (id UInt64, name String, at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY id` });
    try {
      const summary = await client.insert({
        table,
        values: [
          { id: 1, name: 'Ada', at: '2024-01-02 03:04:05.123456' },
          { id: 2, name: "O'Brien\ttab", at: '2024-01-03 00:00:00' },
        ],
        format: 'JSONEachRow',
      });
      expect(summary.executed).toBe(true);
      expect(summary.summary?.written_rows).toBe('2');
      await client.insert({ table, values: [[3, 'Grace', '2024-01-04 00:00:00']], format: 'JSONCompactEachRow' });
      // A stream that ends without a row (an empty table's COPY) is an insert of nothing, not an error.
      const none = await client.insert({ table, values: Readable.from([], { objectMode: false }), format: 'CSV' });
      expect(none.summary?.written_rows).toBe('0');
      const copied = await client.command({ query: `INSERT INTO ${table} SELECT id + 100, name, at FROM ${table}` });
      expect(copied.summary?.written_rows).toBe('3');
      await client.command({ query: `DELETE FROM ${table} WHERE id > 100` });
      const rows = await (await client.query({ query: `SELECT id, name, at FROM ${table} ORDER BY id`, format: 'JSONEachRow' })).json();
      expect(rows).toEqual([
        { id: '1', name: 'Ada', at: '2024-01-02 03:04:05.123456' },
        { id: '2', name: "O'Brien\ttab", at: '2024-01-03 00:00:00.000000' },
        { id: '3', name: 'Grace', at: '2024-01-04 00:00:00.000000' },
      ]);
    } finally {
      await client.command({ query: `DROP TABLE IF EXISTS ${table}` });
    }
  });

  it('binds query parameters and applies settings', async () => {
    const rows = await (
      await client.query({
        query: 'SELECT {id:UInt64} + 1 AS next, {name:String} AS name, {tags:Array(String)} AS tags',
        query_params: { id: 41, name: "it's a \\ test", tags: ['a', "b'c"] },
        format: 'JSONEachRow',
      })
    ).json();
    expect(rows).toEqual([{ next: '42', name: "it's a \\ test", tags: ['a', "b'c"] }]);
    const s = await (
      await client.query({
        query: "SELECT getSetting('max_threads') AS t, getSetting('output_format_json_quote_64bit_integers') AS q",
        clickhouse_settings: { max_threads: 3, output_format_json_quote_64bit_integers: 0 },
        format: 'JSONEachRow',
      })
    ).json();
    expect(s).toEqual([{ t: 3, q: false }]);
  });

  it('keeps temporary tables and SET within a session_id, and not outside it', async () => {
    const sessionId = uniqueName('sess');
    const inSession = createClient({ url: baseUrl, session_id: sessionId, log: { level: ClickHouseLogLevel.OFF } });
    try {
      await inSession.command({ query: 'CREATE TEMPORARY TABLE tmp_sess (x UInt8)' });
      await inSession.insert({ table: 'tmp_sess', values: [{ x: 1 }, { x: 2 }], format: 'JSONEachRow' });
      await inSession.command({ query: 'SET max_threads = 2' });
      const r = await (await inSession.query({ query: "SELECT sum(x) AS s, getSetting('max_threads') AS t FROM tmp_sess", format: 'JSONEachRow' })).json();
      expect(r).toEqual([{ s: '3', t: 2 }]);
      await expect(client.query({ query: 'SELECT * FROM tmp_sess' })).rejects.toThrow(/tmp_sess/);
    } finally {
      await inSession.close();
    }
  });

  it('compresses requests and responses with gzip', async () => {
    const table = uniqueName('js_gzip');
    const gz = createClient({ url: baseUrl, compression: { request: true, response: true } });
    try {
      await gz.command({ query: `CREATE TABLE ${table} (n UInt32, s String) ENGINE = MergeTree ORDER BY n` });
      const values = Array.from({ length: 5000 }, (_, n) => ({ n, s: `row ${n} `.repeat(5) }));
      await gz.insert({ table, values, format: 'JSONEachRow' });
      const rows = await (await gz.query({ query: `SELECT count() AS c, sum(n) AS total FROM ${table}`, format: 'JSONEachRow' })).json();
      expect(rows).toEqual([{ c: '5000', total: String((4999 * 5000) / 2) }]);
      // What the client asked for really came back compressed.
      const res = await fetch(`${baseUrl}/?enable_http_compression=1`, {
        method: 'POST',
        headers: { 'Accept-Encoding': 'gzip', 'Content-Encoding': 'gzip' },
        body: zlib.gzipSync(`SELECT s FROM ${table} ORDER BY n LIMIT 3`),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding')).toBe('gzip');
      expect((await res.text()).split('\n').length).toBe(4);
    } finally {
      await gz.command({ query: `DROP TABLE IF EXISTS ${table}` });
      await gz.close();
    }
  });

  it('rejects a failing query with the server exception text and code', async () => {
    const table = uniqueName('no_such_table');
    const err = await client.query({ query: `SELECT * FROM ${table}` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClickHouseError);
    const chErr = err as ClickHouseError;
    expect(chErr.message).toContain(table);
    expect(chErr.code).toBe('60');
    expect(chErr.type).toBe('UNKNOWN_TABLE');
    await expect(client.command({ query: 'CREATE TABLE broken (' })).rejects.toThrow(/Syntax error/);
  });
});

describe('curl', () => {
  it('runs a query from the URL, with gzip both ways', async () => {
    const { stdout } = await curl(['-g', `${baseUrl}/?query=${encodeURIComponent('SELECT number * 2 FROM numbers(3) FORMAT CSV')}`]);
    expect(stdout).toBe('0\n2\n4\n');
    const compressed = await curl(['-g', '--compressed', '-D', '-', `${baseUrl}/?enable_http_compression=1&query=${encodeURIComponent('SELECT 42')}`]);
    expect(compressed.stdout).toMatch(/content-encoding: gzip/i);
    expect(compressed.stdout.trimEnd().endsWith('42')).toBe(true);
    const body = path.join(os.tmpdir(), `${uniqueName('curl_body')}.gz`);
    fs.writeFileSync(body, zlib.gzipSync('SELECT 7 * 6'));
    try {
      const gzBody = await curl(['-H', 'Content-Encoding: gzip', '--data-binary', `@${body}`, `${baseUrl}/`]);
      expect(gzBody.stdout).toBe('42\n');
    } finally {
      fs.rmSync(body, { force: true });
    }
  });

  it('inserts data from the body, with the statement in the URL or in the body', async () => {
    const table = uniqueName('curl_insert');
    await curl(['--fail-with-body', '--data-binary', `CREATE TABLE ${table} (a UInt8, b String) ENGINE = MergeTree ORDER BY a`, `${baseUrl}/`]);
    try {
      await curl(['--fail-with-body', '--data-binary', '1,one\n2,two\n', `${baseUrl}/?query=${encodeURIComponent(`INSERT INTO ${table} FORMAT CSV`)}`]);
      await curl(['--fail-with-body', '--data-binary', `INSERT INTO ${table} FORMAT TSV\n3\tthree\n`, `${baseUrl}/`]);
      await curl(['--fail-with-body', '--data-binary', `INSERT INTO ${table} VALUES (4, 'FORMAT CSV')`, `${baseUrl}/`]);
      // An empty body inserts nothing and succeeds, as on a server (an empty table's load sends one).
      const empty = await curl(['-i', '--fail-with-body', '--data-binary', '', `${baseUrl}/?query=${encodeURIComponent(`INSERT INTO ${table} FORMAT CSV`)}`]);
      expect(empty.stdout).toMatch(/^HTTP\/1\.1 200/);
      expect(empty.stdout).toMatch(/x-clickhouse-summary: .*"written_rows":"0"/i);
      const { stdout } = await curl([`${baseUrl}/?query=${encodeURIComponent(`SELECT a, b FROM ${table} ORDER BY a`)}`]);
      expect(stdout).toBe('1\tone\n2\ttwo\n3\tthree\n4\tFORMAT CSV\n');
    } finally {
      await curl(['--data-binary', `DROP TABLE IF EXISTS ${table}`, `${baseUrl}/`]);
    }
  });

  it('reports errors with a status, X-ClickHouse-Exception-Code and the message', async () => {
    const { stdout } = await curl(['-i', `${baseUrl}/?query=${encodeURIComponent('SELECT * FROM definitely_missing_table')}`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 404/);
    expect(stdout).toMatch(/x-clickhouse-exception-code: 60/i);
    expect(stdout).toMatch(/Code: 60\. DB::Exception: .*definitely_missing_table.*\(UNKNOWN_TABLE\)/);
    const readonly = await curl(['-i', `${baseUrl}/?query=${encodeURIComponent('CREATE TABLE via_get (a UInt8) ENGINE = Memory')}`]);
    expect(readonly.stdout).toMatch(/x-clickhouse-exception-code: 164/i);
    expect(readonly.stdout).toContain('method GET implies readonly');
  });
});

describe('clickhouse-connect (dbt-clickhouse driver)', () => {
  it('connects, creates, inserts Native (lz4, gzip, plain), queries Native, binds params, surfaces errors, keeps sessions', async () => {
    const python = process.env.DBT_PYTHON;
    if (!python) {
      throw new Error(
        'DBT_PYTHON is not set: point it at a Python with clickhouse-connect installed ' +
          '(the stack sets it to the dbt virtualenv; for a quick run: python3 -m venv /tmp/cc && /tmp/cc/bin/pip install clickhouse-connect && DBT_PYTHON=/tmp/cc/bin/python)',
      );
    }
    const { stdout } = await execFileP(python, [connectCheck, baseUrl, runId], { encoding: 'utf8', timeout: 120_000 }).catch(
      (err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`clickhouse_connect_check.py failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
      },
    );
    const report = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    expect(report.connect).toMatchObject({ server_tz: 'UTC' });
    expect(report.write_compression).toBe('lz4');
    expect(report.insert_native_lz4).toEqual({ written_rows: 3 });
    expect(report.insert_plain_and_gzip).toBe(2);
    expect(report.query_native_roundtrip).toBe(3);
    expect(report.query_server_params).toEqual([42, "it's"]);
    expect(report.error_surfaces).toMatch(/no_such_column/);
    expect(report.session_temp_table).toBe(6);
  });
});

describe('concurrency', () => {
  it('does not make fast queries wait for a slow one (20 concurrent, one sleeps 3 s)', async () => {
    const pool = createClient({ url: baseUrl, max_open_connections: 25 });
    try {
      const t0 = Date.now();
      const finished: { slow: boolean; ms: number }[] = [];
      const run = async (slow: boolean, i: number): Promise<void> => {
        const query = slow ? 'SELECT sleep(3) AS s' : `SELECT ${i} + number AS v FROM numbers(1000) ORDER BY v DESC LIMIT 1`;
        await (await pool.query({ query, format: 'JSONEachRow' })).json();
        finished.push({ slow, ms: Date.now() - t0 });
      };
      await Promise.all(Array.from({ length: 20 }, (_, i) => run(i === 0, i)));
      const slow = finished.find((f) => f.slow);
      const fast = finished.filter((f) => !f.slow);
      expect(slow?.ms).toBeGreaterThanOrEqual(3000);
      expect(fast).toHaveLength(19);
      // Every fast query finished before the slow one, and well before 3 s.
      expect(finished.at(-1)?.slow).toBe(true);
      expect(Math.max(...fast.map((f) => f.ms))).toBeLessThan(2000);
    } finally {
      await pool.close();
    }
  });
});

describe('durability', () => {
  it('keeps MergeTree data across a SIGTERM restart and closes the engine cleanly', async () => {
    // Always a dedicated server: the shared stack's server must not be restarted under other tests.
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ch-durable-test-'));
    const url = `http://127.0.0.1:${port}`;
    let server = startServer(port, dataDir);
    let c = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });
    try {
      await waitForPing(url, server.child, server.log);
      await c.command({ query: 'CREATE TABLE durable (n UInt32) ENGINE = MergeTree ORDER BY n' });
      await c.insert({ table: 'durable', values: [{ n: 1 }, { n: 2 }], format: 'JSONEachRow' });
      await c.close();
      expect(await stopServer(server.child)).toBe(0);
      expect(server.log.join('\n')).toContain('engine closed');
      server = startServer(port, dataDir);
      await waitForPing(url, server.child, server.log);
      c = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });
      const rows = await (await c.query({ query: 'SELECT sum(n) AS s FROM durable', format: 'JSONEachRow' })).json();
      expect(rows).toEqual([{ s: '3' }]);
    } finally {
      await c.close();
      await stopServer(server.child);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
