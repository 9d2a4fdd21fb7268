/**
 * Local stand-in for http://api.open-notify.org/astros.json.
 *
 *   npx tsx simulator/server.ts --port 8090 [--seed 1] [--size 10] [--step-seconds 60]
 *
 * GET  /astros.json            the feed (same JSON shape as open-notify)
 * GET  /health                 {"status":"ok"}
 * GET  /control/state          scenario state (step, crew size, pending faults, request counts)
 * POST /control                script the scenario (JSON body, see controlSchema)
 * Every route also exists under /s/<scenario>/... : independent scenarios, so
 * concurrent tests never see each other's crew or faults. DELETE /s/<scenario>
 * forgets one.
 *
 * The crew is deterministic from seed, size and step (simulator/crew.ts). The
 * step advances every --step-seconds (0 = only through POST /control).
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { crewAt, INVALID_RECORDS, type CrewMember } from './crew.ts';

export const MAX_CREW = 100_000;

const count = z.number().int().min(0).max(1_000_000);

export const controlSchema = z
  .object({
    seed: z.number().int().min(0).max(2 ** 31 - 1),
    size: z.number().int().min(0).max(MAX_CREW),
    step: z.number().int().min(0),
    advance: z.number().int().min(0),
    stepSeconds: z.number().min(0),
    /** An explicit crew replaces the generated one; null goes back to generation. */
    crew: z.array(z.object({ name: z.string(), craft: z.string() })).max(MAX_CREW).nullable(),
    /** Override the `number` field (to make it disagree with the list); null = list length. */
    number: z.number().int().nullable(),
    /** Each fault applies to the next `count` feed requests. */
    faults: z
      .object({
        http5xx: z.object({ count, status: z.number().int().min(500).max(599).default(503) }),
        reset: z.object({ count }),
        slow: z.object({ count, ms: z.number().int().min(0).max(600_000) }),
        malformed: z.object({ count }),
        invalidRecords: z.object({ count, records: z.number().int().min(1).max(INVALID_RECORDS.length).default(3) }),
        duplicates: z.object({ count }),
      })
      .partial(),
    clearFaults: z.boolean(),
    /**
     * Raw responses served as they are, one per feed request, in order, before
     * the crew (fuzzing: any bytes, any content type, any status).
     */
    serve: z
      .array(
        z.object({
          bodyBase64: z.string(),
          contentType: z.string().default('application/json'),
          status: z.number().int().min(200).max(599).default(200),
        }),
      )
      .max(100_000),
  })
  .partial()
  .strict();

export type Control = z.infer<typeof controlSchema>;

interface Scenario {
  seed: number;
  size: number;
  stepOffset: number;
  stepSeconds: number;
  startedAt: number;
  crew: CrewMember[] | null;
  number: number | null;
  faults: {
    http5xx: { count: number; status: number };
    reset: { count: number };
    slow: { count: number; ms: number };
    malformed: { count: number };
    invalidRecords: { count: number; records: number };
    duplicates: { count: number };
  };
  requests: number;
  served: Record<string, number>;
  /** Raw responses still to serve (POST /control {"serve": [...]}). */
  queue: { body: Buffer; contentType: string; status: number }[];
}

export interface SimulatorOptions {
  seed: number;
  size: number;
  stepSeconds: number;
}

function noFaults(): Scenario['faults'] {
  return {
    http5xx: { count: 0, status: 503 },
    reset: { count: 0 },
    slow: { count: 0, ms: 0 },
    malformed: { count: 0 },
    invalidRecords: { count: 0, records: 3 },
    duplicates: { count: 0 },
  };
}

function stepOf(s: Scenario, now = Date.now()): number {
  const elapsed = s.stepSeconds > 0 ? Math.floor((now - s.startedAt) / (s.stepSeconds * 1000)) : 0;
  return s.stepOffset + elapsed;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new Error(`request body larger than ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createSimulator(opts: SimulatorOptions): http.Server {
  const scenarios = new Map<string, Scenario>();
  const crewCache = new Map<string, CrewMember[]>();

  const scenario = (name: string): Scenario => {
    let s = scenarios.get(name);
    if (!s) {
      s = {
        seed: opts.seed,
        size: opts.size,
        stepOffset: 0,
        stepSeconds: opts.stepSeconds,
        startedAt: Date.now(),
        crew: null,
        number: null,
        faults: noFaults(),
        requests: 0,
        served: {},
        queue: [],
      };
      scenarios.set(name, s);
    }
    return s;
  };

  const crewOf = (s: Scenario): CrewMember[] => {
    if (s.crew) return s.crew;
    const key = `${s.seed}:${s.size}:${stepOf(s)}`;
    let crew = crewCache.get(key);
    if (!crew) {
      crew = crewAt(s.seed, s.size, stepOf(s));
      if (crewCache.size > 8) crewCache.clear();
      crewCache.set(key, crew);
    }
    return crew;
  };

  const state = (name: string, s: Scenario) => ({
    scenario: name,
    seed: s.seed,
    size: s.size,
    step: stepOf(s),
    stepSeconds: s.stepSeconds,
    explicitCrew: s.crew !== null,
    crewSize: crewOf(s).length,
    number: s.number,
    faults: s.faults,
    queued: s.queue.length,
    requests: s.requests,
    served: s.served,
  });

  const applyControl = (s: Scenario, c: Control): void => {
    if (c.seed !== undefined) s.seed = c.seed;
    if (c.size !== undefined) s.size = c.size;
    if (c.stepSeconds !== undefined) {
      s.stepOffset = stepOf(s);
      s.startedAt = Date.now();
      s.stepSeconds = c.stepSeconds;
    }
    if (c.step !== undefined) {
      s.stepOffset = c.step;
      s.startedAt = Date.now();
    }
    if (c.advance !== undefined) s.stepOffset += c.advance;
    if (c.crew !== undefined) s.crew = c.crew;
    if (c.number !== undefined) s.number = c.number;
    if (c.clearFaults) {
      s.faults = noFaults();
      s.queue = [];
    }
    if (c.serve) s.queue.push(...c.serve.map((r) => ({ body: Buffer.from(r.bodyBase64, 'base64'), contentType: r.contentType, status: r.status })));
    if (c.faults) {
      const f = c.faults;
      if (f.http5xx) s.faults.http5xx = f.http5xx;
      if (f.reset) s.faults.reset = f.reset;
      if (f.slow) s.faults.slow = f.slow;
      if (f.malformed) s.faults.malformed = f.malformed;
      if (f.invalidRecords) s.faults.invalidRecords = f.invalidRecords;
      if (f.duplicates) s.faults.duplicates = f.duplicates;
    }
  };

  const serveFeed = async (req: http.IncomingMessage, res: http.ServerResponse, s: Scenario): Promise<void> => {
    s.requests += 1;
    const served = (kind: string) => {
      s.served[kind] = (s.served[kind] ?? 0) + 1;
    };
    const f = s.faults;
    if (f.reset.count > 0) {
      f.reset.count -= 1;
      served('reset');
      req.socket.destroy();
      return;
    }
    if (f.http5xx.count > 0) {
      f.http5xx.count -= 1;
      served(String(f.http5xx.status));
      sendJson(res, f.http5xx.status, { message: 'simulated failure' });
      return;
    }
    if (f.slow.count > 0) {
      f.slow.count -= 1;
      served('slow');
      await new Promise((resolve) => setTimeout(resolve, f.slow.ms));
      if (res.destroyed || req.socket.destroyed) return;
    }
    const raw = s.queue.shift();
    if (raw) {
      served('raw');
      res.writeHead(raw.status, { 'content-type': raw.contentType, 'content-length': raw.body.length });
      res.end(raw.body);
      return;
    }
    if (f.malformed.count > 0) {
      f.malformed.count -= 1;
      served('malformed');
      const text = '{"message": "success", "number": 3, "people": [{"name": "Trunc';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    let people: unknown[] = crewOf(s);
    if (f.invalidRecords.count > 0) {
      f.invalidRecords.count -= 1;
      served('invalidRecords');
      people = [...people, ...INVALID_RECORDS.slice(0, f.invalidRecords.records)];
    }
    if (f.duplicates.count > 0 && people.length > 0) {
      f.duplicates.count -= 1;
      served('duplicates');
      const first = people[0] as CrewMember;
      people = [...people, { name: `  ${first.name.toUpperCase()} `, craft: first.craft }];
    }
    served('200');
    sendJson(res, 200, { message: 'success', number: s.number ?? people.length, people });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    let route = url.pathname;
    let name = 'default';
    const scoped = /^\/s\/([A-Za-z0-9_.-]{1,100})(\/.*)?$/.exec(route);
    if (scoped) {
      name = scoped[1] ?? 'default';
      route = scoped[2] ?? '/';
    }
    const handle = async (): Promise<void> => {
      if (req.method === 'GET' && route === '/health') return sendJson(res, 200, { status: 'ok' });
      if (req.method === 'GET' && (route === '/astros.json' || route === '/')) return serveFeed(req, res, scenario(name));
      if (req.method === 'GET' && route === '/control/state') return sendJson(res, 200, state(name, scenario(name)));
      if (req.method === 'POST' && route === '/control') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(await readBody(req, 64 * 1024 * 1024));
        } catch (err) {
          return sendJson(res, 400, { error: `body is not JSON: ${(err as Error).message}` });
        }
        const control = controlSchema.safeParse(parsed);
        if (!control.success) {
          return sendJson(res, 400, { error: control.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
        }
        const s = scenario(name);
        applyControl(s, control.data);
        return sendJson(res, 200, state(name, s));
      }
      if (req.method === 'DELETE' && scoped && route === '/') {
        const existed = scenarios.delete(name);
        return sendJson(res, existed ? 200 : 404, { scenario: name, deleted: existed });
      }
      sendJson(res, 404, { error: `no route ${req.method ?? ''} ${url.pathname}` });
    };
    handle().catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  return server;
}

function intOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

export async function main(argv = process.argv): Promise<void> {
  const program = new Command()
    .name('simulator')
    .description('Local astronauts-in-space API (astros.json shape) with deterministic crew rotations and fault injection.')
    .option('--port <port>', 'port to listen on', intOption(0, 65535), 8090)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--seed <n>', 'seed of the generated crews', intOption(0, 2 ** 31 - 1), 1)
    .option('--size <n>', `crew size (up to ${MAX_CREW})`, intOption(0, MAX_CREW), 10)
    .option('--step-seconds <s>', 'advance the rotation step every s seconds (0: only via POST /control)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0');
      return n;
    }, 0)
    .addHelpText(
      'after',
      `
Routes (also under /s/<scenario>/ for independent scenarios):
  GET  /astros.json     the feed
  GET  /health          liveness
  GET  /control/state   step, crew size, pending faults, request counts
  POST /control         e.g. {"crew":[{"name":"A B","craft":"ISS"}]}, {"advance":1},
                        {"faults":{"http5xx":{"count":3},"slow":{"count":1,"ms":5000},
                         "malformed":{"count":1},"invalidRecords":{"count":1,"records":3},
                         "reset":{"count":1},"duplicates":{"count":1}}}, {"clearFaults":true},
                        {"serve":[{"bodyBase64":"…","contentType":"text/html","status":200}]}  (raw responses, in order)
  DELETE /s/<scenario>  forget a scenario`,
    )
    .action(async (opts: { port: number; host: string; seed: number; size: number; stepSeconds: number }) => {
      const server = createSimulator({ seed: opts.seed, size: opts.size, stepSeconds: opts.stepSeconds });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.host, resolve);
      });
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      console.log(`simulator listening on http://${opts.host}:${port}/astros.json (seed ${opts.seed}, size ${opts.size})`);
      const stop = () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  await program.parseAsync(argv);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`simulator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
