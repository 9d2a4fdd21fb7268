/**
 * A stand-in for pg.Pool that answers the ingest activities' queries (staging,
 * whole-payload rejects, the snapshot apply) and records what they would
 * write, for unit-level fuzzing without a database. What Postgres itself
 * accepts is proven by test/integration/feed-fuzz.test.ts; here every value
 * bound for `ingest_rejects` is checked against the rules Postgres enforces
 * (no NUL in text, jsonb without \u0000 or lone surrogate escapes).
 */
import { createHash } from 'node:crypto';

export interface RecordedApply {
  keys: string[];
  rejects: { index: number; reason: string; json: string | null; raw: string | null }[];
}

// eslint-disable-next-line no-control-regex
const NUL = /\u0000/;
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** A \u0000 escape, or a surrogate escape not paired, inside JSON text (what jsonb refuses). */
const BAD_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}/;

/** Problems Postgres would raise for a text value. */
export function textProblems(what: string, v: string | null): string[] {
  if (v === null) return [];
  const out: string[] = [];
  if (NUL.test(v)) out.push(`${what} contains NUL`);
  if (LONE.test(v)) out.push(`${what} contains a lone surrogate`);
  return out;
}

/** Problems Postgres would raise casting `v` to jsonb. */
export function jsonbProblems(what: string, v: string | null): string[] {
  if (v === null) return [];
  const out = textProblems(what, v);
  try {
    JSON.parse(v);
  } catch {
    out.push(`${what} is not JSON`);
  }
  if (BAD_ESCAPE.test(v)) out.push(`${what} has an escape jsonb refuses`);
  return out;
}

export class RecordingPool {
  bodies = new Map<string, Buffer>();
  payloadRejects: { reason: string; raw: string }[] = [];
  applies: RecordedApply[] = [];
  /** Values Postgres would refuse; must stay empty. */
  problems: string[] = [];
  private current: RecordedApply | undefined;

  async connect(): Promise<this & { release(): void }> {
    return Object.assign(this, { release: () => undefined });
  }

  async query(sql: string, params: unknown[] = []): Promise<{ rows: unknown[]; rowCount: number }> {
    const rows = (r: unknown[]) => ({ rows: r, rowCount: r.length });
    if (sql.includes('insert into ingest_payloads')) {
      this.bodies.set(params[0] as string, params[2] as Buffer);
      return rows([{ fetched_at: new Date('2025-01-01T00:00:00Z') }]);
    }
    if (sql.includes('from ingest_payloads')) {
      const body = this.bodies.get(params[0] as string);
      return rows(body ? [{ body, sha256: createHash('sha256').update(body).digest('hex') }] : []);
    }
    if (sql.includes('insert into ingest_rejects') && sql.includes('values ($1, null')) {
      const [, reason, raw] = params as [string, string, string];
      this.problems.push(...textProblems('payload reject reason', reason), ...textProblems('payload raw_text', raw));
      this.payloadRejects.push({ reason, raw });
      return rows([]);
    }
    if (sql === 'begin') {
      this.current = { keys: [], rejects: [] };
      return rows([]);
    }
    if (sql.includes('pg_publication_tables')) return rows([{ captured: false }]);
    const apply = this.current;
    if (!apply) throw new Error(`unexpected query outside a transaction: ${sql.slice(0, 80)}`);
    if (sql.includes('insert into ingest_snapshot')) {
      const [keys, names, crafts] = params as string[][];
      for (const [i, k] of (keys ?? []).entries()) {
        this.problems.push(...textProblems(`key ${i}`, k), ...textProblems(`name ${i}`, names?.[i] ?? null), ...textProblems(`craft ${i}`, crafts?.[i] ?? null));
        if (k === '' || k.length > 200) this.problems.push(`key ${JSON.stringify(k.slice(0, 40))} breaks astronauts.person_key's check`);
      }
      apply.keys = [...(keys ?? [])].sort();
      return rows([]);
    }
    if (sql.includes('insert into ingest_rejects')) {
      const [, indexes, reasons, jsons, raws] = params as [string, number[], string[], (string | null)[], (string | null)[]];
      indexes.forEach((index, i) => {
        const r = { index, reason: reasons[i] ?? '', json: jsons[i] ?? null, raw: raws[i] ?? null };
        this.problems.push(...textProblems(`reason of people[${index}]`, r.reason), ...jsonbProblems(`record of people[${index}]`, r.json), ...textProblems(`raw_text of people[${index}]`, r.raw));
        if (r.json === null && r.raw === null) this.problems.push(`people[${index}] kept with neither record nor raw_text`);
        apply.rejects.push(r);
      });
      return rows([]);
    }
    if (sql === 'commit') {
      this.applies.push(apply);
      this.current = undefined;
      return rows([]);
    }
    if (sql === 'rollback') {
      this.current = undefined;
      return rows([]);
    }
    if (sql.includes('from ingest_runs')) return rows([]);
    if (sql.includes('insert into astronauts')) return rows(apply.keys.map(() => ({ inserted: true })));
    if (sql.includes('as departed')) return rows([{ departed: 0 }]);
    // advisory lock, temp table, analyze, departures/returns deletes, ingest_runs insert, pruning
    return rows([]);
  }
}
