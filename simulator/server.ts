/**
 * Local stand-in for http://api.open-notify.org/astros.json.
 *
 *   npm run simulator -- --port 8090 [--seed 1] [--size 10] [--step-seconds 60]   (cli/simulator.ts)
 *
 * GET  /astros.json            the feed (same JSON shape as open-notify)
 * GET  /health                 {"status":"ok"}
 * GET  /control/state          scenario state (step, crew size, pending faults, request counts)
 * POST /control                script the scenario (JSON body, see control.ts)
 * Every route also exists under /s/<scenario>/... : independent scenarios, so
 * concurrent tests never see each other's crew or faults. DELETE /s/<scenario>
 * forgets one.
 *
 * The crew is deterministic from seed, size and step (simulator/crew.ts). The
 * step advances every --step-seconds (0 = only through POST /control).
 */
import http from 'node:http';
import { controlSchema, type Control } from './control.ts';
import { crewAt, INVALID_RECORDS, type CrewMember } from './crew.ts';

export { MAX_CREW } from './control.ts';

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
