/**
 * The ClickHouse HTTP interface over the embedded engine: enough of it that
 * @clickhouse/client, clickhouse-connect (dbt-clickhouse) and curl work
 * unchanged. See stack/clickhouse/README.md for what is and is not covered.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import os from 'node:os';
import type { Session } from 'chdb';
import type { Engine, QueryOutcome } from './engine.ts';
import { formatError, httpError } from './errors.ts';
import { contentTypeFor, decodeBody, encodeBody, pickResponseEncoding, readBody } from './http-encoding.ts';
import { formatClauseOf, isInsert, quoteIdentifier, quoteString, splitInlineInsert } from './query-text.ts';
import { SessionRegistry } from './sessions.ts';
import { decodingStream, insertStream, isLineFormat } from './stream-insert.ts';

export type LogLevel = 'error' | 'info' | 'debug';

export interface HandlerOptions {
  engine: Engine;
  logLevel: LogLevel;
  log: (line: string) => void;
}

/** URL parameters the HTTP handler consumes itself; everything else is a setting. */
const reservedParams = new Set([
  'query',
  'database',
  'default_format',
  'user',
  'password',
  'quota_key',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'close_session',
  'compress',
  'decompress',
  'buffer_size',
  'wait_end_of_query',
  'stacktrace',
  'role',
  'client_protocol_version',
  'enable_http_compression',
  'http_zlib_compression_level',
]);

function truthy(v: string | null | undefined): boolean {
  return v === '1' || v === 'true';
}

interface ParsedRequest {
  queryId: string;
  format: string;
  settings: [string, string][];
  params: [string, string][];
  database: string | undefined;
  readonlyGet: boolean;
}

function parseParams(url: URL, req: IncomingMessage): ParsedRequest {
  const settings: [string, string][] = [];
  const params: [string, string][] = [];
  for (const [key, value] of url.searchParams) {
    if (key.startsWith('param_')) {
      const name = key.slice('param_'.length);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw httpError('BAD_ARGUMENTS', `Invalid query parameter name: ${name}`);
      params.push([name, value]);
    } else if (!reservedParams.has(key) && !key.startsWith('http_') && key !== '') {
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) throw httpError('UNKNOWN_SETTING', `Unknown setting '${key}'`);
      settings.push([key, value]);
    }
  }
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    queryId: url.searchParams.get('query_id') || randomUUID(),
    format: url.searchParams.get('default_format') || header('x-clickhouse-format') || 'TabSeparated',
    settings,
    params,
    database: url.searchParams.get('database') || header('x-clickhouse-database') || undefined,
    readonlyGet: req.method === 'GET' || req.method === 'HEAD',
  };
}

/** `SET ...; USE ...` run on the connection before the query, or undefined when nothing is needed. */
function prelude(p: ParsedRequest, inSession: boolean): string | undefined {
  const assignments = p.settings.map(([k, v]) => `${k} = ${quoteString(v)}`);
  for (const [k, v] of p.params) assignments.push(`param_${k} = ${quoteString(v)}`);
  // A server runs GET requests with readonly=2 ("GET implies readonly"); in a
  // session that would stick to the connection, so sessions skip it.
  if (p.readonlyGet && !inSession && !p.settings.some(([k]) => k === 'readonly')) assignments.push(`readonly = 2`);
  const statements: string[] = [];
  if (assignments.length > 0) statements.push(`SET ${assignments.join(', ')}`);
  if (p.database) statements.push(`USE ${quoteIdentifier(p.database)}`);
  return statements.length > 0 ? statements.join('; ') : undefined;
}

export interface Handler {
  handle(req: IncomingMessage, res: ServerResponse): void;
  sessions: SessionRegistry;
  inFlight(): number;
}

export function createHandler(opts: HandlerOptions): Handler {
  const { engine } = opts;
  const sessions = new SessionRegistry(() => engine.connect());
  const displayName = os.hostname();
  let inFlight = 0;

  const baseHeaders = (): Record<string, string> => ({
    'X-ClickHouse-Server-Display-Name': displayName,
    'X-ClickHouse-Timezone': engine.timezone,
  });

  function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    const body = Buffer.from(text);
    res.writeHead(status, {
      ...baseHeaders(),
      'Content-Type': 'text/plain; charset=UTF-8',
      'Content-Length': String(body.length),
      ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  async function execute(conn: Session, p: ParsedRequest, inSession: boolean, urlQuery: string, body: Buffer | Readable): Promise<QueryOutcome> {
    const pre = prelude(p, inSession);
    if (pre) await engine.query(conn, pre, 'TabSeparated');
    if (!Buffer.isBuffer(body)) {
      const t = await insertStream(body, (chunk) => engine.insert(conn, urlQuery, chunk));
      // An empty body inserts nothing, as a buffered one does (throw_if_no_data_to_insert=0).
      if (t.chunks === 0) return engine.insert(conn, urlQuery, Buffer.alloc(0));
      return { body: Buffer.alloc(0), readRows: 0, readBytes: t.bytes, writtenRows: t.writtenRows, writtenBytes: t.writtenBytes, elapsedSeconds: 0 };
    }
    if (urlQuery !== '' && body.length > 0 && isInsert(urlQuery)) {
      return engine.insert(conn, urlQuery, body);
    }
    if (urlQuery === '') {
      const split = splitInlineInsert(body);
      if (split) return engine.insert(conn, split.statement, split.data);
    }
    const text = urlQuery !== '' && body.length > 0 ? `${urlQuery}\n${body.toString('utf8')}` : urlQuery || body.toString('utf8');
    if (text.trim() === '') throw httpError('SYNTAX_ERROR', 'Empty query');
    // INSERT ... SELECT / VALUES through the insert entry point: it reports written rows for the summary.
    if (isInsert(text)) return engine.insert(conn, text, Buffer.alloc(0));
    return engine.query(conn, text, p.format);
  }

  async function handleQuery(req: IncomingMessage, res: ServerResponse, url: URL, seen: { query: string }): Promise<number> {
    let queryId = url.searchParams.get('query_id') || randomUUID();
    try {
      if (truthy(url.searchParams.get('decompress')) || truthy(url.searchParams.get('compress'))) {
        throw httpError(
          'NOT_IMPLEMENTED',
          "ClickHouse's native block compression (compress=1/decompress=1) is not supported by this embedded server; use HTTP Content-Encoding/Accept-Encoding (gzip, lz4) instead",
        );
      }
      if ((req.headers['content-type'] ?? '').toLowerCase().startsWith('multipart/form-data')) {
        throw httpError(
          'NOT_IMPLEMENTED',
          'multipart/form-data requests (external data tables, form-encoded parameters) are not supported by this embedded server; send the query in the URL or body and parameters as param_<name> URL parameters',
        );
      }
      const p = parseParams(url, req);
      queryId = p.queryId;
      const urlQuery = url.searchParams.get('query') ?? '';
      // An INSERT in the URL with its rows in a line format streams: chunk by chunk into the engine, never whole in memory.
      const streamed = req.method === 'POST' && isInsert(urlQuery) && isLineFormat(formatClauseOf(urlQuery)) ? decodingStream(req, req.headers['content-encoding']) : undefined;
      const rawBody = req.method === 'POST' && !streamed ? await readBody(req) : Buffer.alloc(0);
      const body = await decodeBody(rawBody, req.headers['content-encoding']);
      seen.query = urlQuery !== '' ? urlQuery : body.subarray(0, 200).toString('latin1');
      if (urlQuery === '' && body.length === 0 && req.method !== 'POST') {
        sendText(res, 200, 'Ok.\n');
        return 200;
      }
      const sessionId = url.searchParams.get('session_id');
      const started = process.hrtime.bigint();
      const outcome = sessionId
        ? await sessions.run(
            sessionId,
            {
              timeoutSeconds: url.searchParams.get('session_timeout') ?? undefined,
              check: truthy(url.searchParams.get('session_check')),
              close: truthy(url.searchParams.get('close_session')),
            },
            (conn) => execute(conn, p, true, urlQuery, streamed ?? body),
          )
        : await (async () => {
            const conn = engine.connect();
            try {
              return await execute(conn, p, false, urlQuery, streamed ?? body);
            } finally {
              conn.close();
            }
          })();
      const elapsedNs = process.hrtime.bigint() - started;
      const queryText = urlQuery !== '' ? urlQuery : body.subarray(0, 4096).toString('latin1');
      const format = formatClauseOf(queryText) ?? p.format;
      const summary = {
        read_rows: String(outcome.readRows),
        read_bytes: String(outcome.readBytes),
        written_rows: String(outcome.writtenRows),
        written_bytes: String(outcome.writtenBytes),
        total_rows_to_read: String(outcome.readRows),
        result_rows: String(outcome.writtenRows > 0 ? outcome.writtenRows : outcome.readRows),
        result_bytes: String(outcome.writtenRows > 0 ? outcome.writtenBytes : outcome.body.length),
        elapsed_ns: elapsedNs.toString(),
      };
      let payload = outcome.body;
      const headers: Record<string, string> = {
        ...baseHeaders(),
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': format,
        'Content-Type': contentTypeFor(format),
        'X-ClickHouse-Summary': JSON.stringify(summary),
      };
      const encoding = truthy(url.searchParams.get('enable_http_compression')) ? pickResponseEncoding(req.headers['accept-encoding']) : undefined;
      if (encoding && payload.length > 0) {
        const level = Number(url.searchParams.get('http_zlib_compression_level') ?? '3');
        const zopts = { level: Number.isInteger(level) && level >= 1 && level <= 9 ? level : 3 };
        payload = await encodeBody(payload, encoding, zopts);
        headers['Content-Encoding'] = encoding;
        headers['Vary'] = 'Accept-Encoding';
      }
      headers['Content-Length'] = String(payload.length);
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : payload);
      return 200;
    } catch (err) {
      // A streamed insert that failed midway: the client is still sending; read the rest so it gets the error.
      if (!req.readableEnded) req.resume();
      const formatted = formatError(err, engine.version);
      if (formatted.code === 164 && (req.method === 'GET' || req.method === 'HEAD')) {
        formatted.body = formatted.body.replace(
          'Cannot execute query in readonly mode.',
          'Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries.',
        );
      }
      if (opts.logLevel === 'debug') opts.log(`query ${queryId} failed: ${formatted.body.trimEnd()}`);
      sendText(res, formatted.status, formatted.body, {
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Exception-Code': String(formatted.code),
      });
      return formatted.status;
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse, seen: { query: string }): Promise<number> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (url.pathname === '/ping' || url.pathname === '/replicas_status') {
      sendText(res, 200, 'Ok.\n');
      return 200;
    }
    if (url.pathname !== '/') {
      const text = `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\nOr /replicas_status for more sophisticated health checks.\n`;
      sendText(res, 404, text);
      return 404;
    }
    if (method === 'OPTIONS') {
      res.writeHead(204, { ...baseHeaders(), Allow: 'GET, POST, HEAD, OPTIONS' });
      res.end();
      return 204;
    }
    if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') {
      const f = formatError(httpError('NOT_IMPLEMENTED', `HTTP method ${method} is not supported`), engine.version);
      sendText(res, 405, f.body, { 'X-ClickHouse-Exception-Code': String(f.code) });
      return 405;
    }
    return handleQuery(req, res, url, seen);
  }

  return {
    sessions,
    inFlight: () => inFlight,
    handle(req, res) {
      inFlight++;
      const started = Date.now();
      const seen = { query: '' };
      route(req, res, seen)
        .then(
          (status) => {
            if (opts.logLevel === 'debug') {
              const q = seen.query.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').slice(0, 100);
              opts.log(`${req.method} ${req.url?.split('?')[0]} ${status} ${Date.now() - started}ms ${q}`);
            }
          },
          (err: unknown) => {
            opts.log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
            if (!res.headersSent) sendText(res, 500, formatError(err, engine.version).body);
            else res.destroy();
          },
        )
        .finally(() => {
          inFlight--;
        });
    },
  };
}
