/**
 * How a rejected record is kept in `ingest_rejects` (pure logic, no I/O).
 *
 * A record is stored as `jsonb` when Postgres can hold it exactly, otherwise
 * as JSON text in `raw_text` (record null), so that one odd record is
 * dead-lettered instead of aborting the whole apply:
 *  - jsonb refuses `\u0000` and lone surrogates (they arrive escaped in JSON);
 *  - very deep nesting overflows recursive serialisers (V8's JSON.stringify
 *    throws past a few thousand levels);
 *  - a huge record would bloat the table: the text is cut at a bound and
 *    flagged `raw_truncated` (the full body stays a day in `ingest_payloads`).
 * The text is produced iteratively and escapes every control character and
 * lone surrogate, so it is plain, valid UTF-8 text whatever was received.
 */

/** Longest record or body text kept per reject (characters). */
export const MAX_KEPT_CHARS = 64 * 1024;
/** Deepest nesting stored as jsonb; deeper records are kept as text. */
export const MAX_JSONB_DEPTH = 100;

// eslint-disable-next-line no-control-regex
const NOT_JSONB_SAFE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export interface KeptRecord {
  /** JSON text Postgres accepts as jsonb, or null when the record is kept as text. */
  json: string | null;
  /** JSON text (escaped, possibly cut) when it cannot be jsonb. */
  raw: string | null;
  truncated: boolean;
}

/** JSON text of a parsed JSON value, built without recursion and cut after `max` characters. */
export function boundedJson(value: unknown, max = MAX_KEPT_CHARS): { text: string; truncated: boolean; depth: number; jsonbSafe: boolean } {
  let out = '';
  let depth = 0;
  let maxDepth = 0;
  let jsonbSafe = true;
  // Work items: a value to write, or a literal piece of punctuation.
  const stack: ({ v: unknown } | { s: string; close?: true })[] = [{ v: value }];
  const str = (s: string) => {
    if (NOT_JSONB_SAFE.test(s)) jsonbSafe = false;
    return JSON.stringify(s);
  };
  while (stack.length > 0 && out.length <= max) {
    const item = stack.pop()!;
    if ('s' in item) {
      out += item.s;
      if (item.close) depth -= 1;
      continue;
    }
    const v = item.v;
    if (Array.isArray(v)) {
      depth += 1;
      maxDepth = Math.max(maxDepth, depth);
      out += '[';
      stack.push({ s: ']', close: true });
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ v: v[i] });
        if (i > 0) stack.push({ s: ',' });
      }
    } else if (v !== null && typeof v === 'object') {
      depth += 1;
      maxDepth = Math.max(maxDepth, depth);
      out += '{';
      stack.push({ s: '}', close: true });
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i]!;
        stack.push({ v: child });
        stack.push({ s: `${str(k)}:` });
        if (i > 0) stack.push({ s: ',' });
      }
    } else if (typeof v === 'string') {
      out += str(v);
    } else if (typeof v === 'number') {
      out += Number.isFinite(v) ? String(v) : 'null';
    } else if (typeof v === 'boolean') {
      out += String(v);
    } else {
      out += 'null';
    }
  }
  const truncated = out.length > max || stack.length > 0;
  return { text: truncated ? toWellFormed(out.slice(0, max)) : out, truncated, depth: maxDepth, jsonbSafe };
}

/** The form a rejected record is stored in (see the header). */
export function keptRecord(record: unknown): KeptRecord {
  const { text, truncated, depth, jsonbSafe } = boundedJson(record);
  if (!truncated && jsonbSafe && depth <= MAX_JSONB_DEPTH) return { json: text, raw: null, truncated: false };
  return { json: null, raw: text, truncated };
}

function toWellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/** Text Postgres can store (no NUL, no lone surrogate), at most `max` characters. */
export function storableText(s: string, max = MAX_KEPT_CHARS): string {
  return toWellFormed(s.slice(0, max)).replaceAll('\u0000', '\uFFFD');
}
