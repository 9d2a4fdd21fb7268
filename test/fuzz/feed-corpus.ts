/**
 * A seeded corpus of malformed astros.json payloads, each with what must
 * happen to it, decided by the generator (not by the code under test):
 *
 *  - the payload fails as a whole with one of the named error types
 *    (not JSON, wrong envelope, too large), or
 *  - it applies: exactly the generator's good people land (keys known in
 *    advance), and every bad record and duplicate is rejected with a reason.
 *
 * Kinds: wrong types, missing fields, huge strings, invalid UTF-8, NUL,
 * lone surrogates, duplicate people, deep nesting, non-JSON, truncated bodies,
 * wrong content types, unusable keys, envelope edge numbers, too large.
 * Bad records are mixed with good ones, so one bad record must never sink a
 * payload. JSON text is assembled as strings (deep nesting would overflow
 * JSON.stringify) and invalid bytes are spliced into the encoded buffer.
 */
import { IngestErrorType } from '../../shared/errors.ts';
import { Random } from './random.ts';

export const feedKinds = [
  'wrong-types',
  'missing-fields',
  'huge-strings',
  'invalid-utf8',
  'nul',
  'lone-surrogates',
  'duplicates',
  'deep-nesting',
  'unusable-keys',
  'control-chars',
  'wrong-content-type',
  'number-mismatch',
  'non-json',
  'truncated',
  'wrong-envelope',
  'too-many-people',
  'too-large',
] as const;

export type FeedKind = (typeof feedKinds)[number];

export type FeedExpectation =
  | { fails: IngestErrorType[] }
  | { keys: string[]; rejected: number; duplicates: number };

export interface FeedCase {
  id: number;
  kind: FeedKind;
  body: Buffer;
  contentType: string;
  expect: FeedExpectation;
}

/** The limits the corpus is built for (the tests configure the activities with them). */
export const corpusLimits = { maxPeople: 50, maxBodyBytes: 512 * 1024 } as const;

const U8_MARK = '@@BADUTF8@@';
const invalidSequences = [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80]];
const jsonTypes = ['application/json', 'application/json; charset=utf-8'];
const otherTypes = ['text/html; charset=utf-8', 'text/plain', 'application/octet-stream', 'application/xml', 'image/png', 'multipart/form-data; boundary=x'];

/** A record as JSON text (deep values cannot go through JSON.stringify). */
type Rec = string;
const obj = (fields: Record<string, string>): Rec => `{${Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
const q = (s: string): string => JSON.stringify(s);

function deep(rng: Random, leaf = '1'): string {
  const depth = rng.pick([200, 1_000, 5_000, 20_000]);
  return rng.chance(0.5) ? `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}

/** A bad record of `kind`: the checks must reject it on its own. */
function badRecord(rng: Random, kind: FeedKind): Rec {
  const craft = q(rng.pick(['ISS', 'Tiangong']));
  switch (kind) {
    case 'wrong-types':
      return rng.pick([
        obj({ name: rng.pick(['42', 'true', '[]', '{}', 'null', '1e400', '-0']), craft }),
        obj({ name: q('Typed Craft'), craft: rng.pick(['7', 'false', '["ISS"]', '{"n":"ISS"}', 'null']) }),
        rng.pick(['"just a string"', '5', 'null', 'true', '[]', '["A B","ISS"]']),
        `{"name":"Dup Key","craft":"ISS","name":${rng.pick(['1', 'null', '{}'])}}`,
      ]);
    case 'missing-fields':
      return rng.pick([obj({ craft }), obj({ name: q('No Craft') }), '{}', obj({ nam: q('Typo Field'), craft })]);
    case 'huge-strings':
      return rng.chance(0.5)
        ? obj({ name: q('N'.repeat(rng.pick([201, 5_000, 100_000]))), craft })
        : obj({ name: q('Huge Craft'), craft: q('C'.repeat(rng.pick([101, 20_000]))) });
    case 'invalid-utf8':
      return obj({ name: q(`Bad ${U8_MARK} Bytes`), craft });
    case 'nul':
      return rng.chance(0.7) ? obj({ name: q(`Nul\u0000Name`), craft }) : obj({ name: q('Nul Craft'), craft: q('IS\u0000S') });
    case 'lone-surrogates':
      return obj({ name: q(`Lone ${rng.pick(['\ud800', '\udfff', '\udbff x', 'x\udc00'])} Half`), craft });
    case 'deep-nesting':
      return rng.chance(0.5) ? deep(rng) : obj({ name: deep(rng, '"x"'), craft });
    case 'unusable-keys':
      return obj({ name: q(rng.pick(['\u0301\u0302', '\u0327', '\uFDFA'.repeat(150)])), craft });
    case 'control-chars':
      return obj({ name: q(rng.pick(['   ', '\u3000', 'Tab\tName', 'Del\u007fName', 'Line\nBreak', '\u001b[31mRed'])), craft });
    default:
      return obj({ name: '[]', craft });
  }
}

const badKinds: FeedKind[] = ['wrong-types', 'missing-fields', 'huge-strings', 'invalid-utf8', 'nul', 'lone-surrogates', 'deep-nesting', 'unusable-keys', 'control-chars'];

function goodPeople(rng: Random, id: number): { name: string; craft: string }[] {
  return Array.from({ length: rng.int(0, 4) }, (_, i) => ({ name: `Good Person ${id} ${i}`, craft: rng.pick(['ISS', 'Tiangong']) }));
}

/** A duplicate of `p` that normalises to the same key (case, spacing, accents). */
function duplicateOf(rng: Random, p: { name: string; craft: string }): Rec {
  const name = rng.pick([p.name.toUpperCase(), `  ${p.name.replaceAll(' ', '   ')} `, p.name.replace('o', 'ó'), p.name.toLowerCase()]);
  return obj({ name: q(name), craft: q(rng.pick([p.craft, 'Shenzhou'])) });
}

function envelope(rng: Random, people: Rec[], number = people.length, extra = ''): string {
  return `{"message":"success","number":${number},"people":[${people.join(',')}]${extra}}`;
}

function encode(text: string, rng: Random): Buffer {
  const parts = text.split(U8_MARK);
  const chunks: Buffer[] = [];
  parts.forEach((part, i) => {
    if (i > 0) chunks.push(Buffer.from(rng.pick(invalidSequences)));
    chunks.push(Buffer.from(part, 'utf8'));
  });
  return Buffer.concat(chunks);
}

/** A payload of good people mixed with bad records of `kind` (and duplicates when asked). */
function mixed(rng: Random, id: number, kind: FeedKind, opts: { dups?: boolean; number?: number; contentType?: string; extra?: string } = {}): Omit<FeedCase, 'id'> {
  const good = goodPeople(rng, id);
  const bad = kind === 'duplicates' ? [] : Array.from({ length: rng.int(1, 3) }, () => badRecord(rng, kind));
  const dups = opts.dups && good.length > 0 ? Array.from({ length: rng.int(1, 3) }, () => duplicateOf(rng, rng.pick(good))) : [];
  // Good ones first (a duplicate names the first occurrence), the rest shuffled after them.
  const records = [...good.map((p) => obj({ name: q(p.name), craft: q(p.craft) })), ...rng.shuffle([...bad, ...dups])];
  return {
    kind,
    body: encode(envelope(rng, records, opts.number ?? records.length, opts.extra), rng),
    contentType: opts.contentType ?? rng.pick(jsonTypes),
    expect: { keys: good.map((p) => p.name.toLowerCase()).sort(), rejected: bad.length + dups.length, duplicates: dups.length },
  };
}

const fails = (...types: IngestErrorType[]) => ({ fails: types });

function build(rng: Random, id: number, kind: FeedKind): Omit<FeedCase, 'id'> {
  switch (kind) {
    case 'duplicates':
      return mixed(rng, id, kind, { dups: true });
    case 'deep-nesting':
      // Deep records, and sometimes a deep extra envelope field (ignored: the payload still applies).
      return mixed(rng, id, kind, rng.chance(0.3) ? { extra: `,"extra":${deep(rng)}` } : {});
    case 'wrong-content-type':
      return mixed(rng, id, rng.pick(badKinds), { contentType: rng.pick(otherTypes) });
    case 'number-mismatch':
      return mixed(rng, id, rng.pick(badKinds), { number: rng.pick([0, 7, 1000, 2_147_483_647]) });
    case 'non-json': {
      const text = rng.pick([
        '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>',
        '<?xml version="1.0"?><astros><person name="A"/></astros>',
        'Service temporarily unavailable',
        '',
        ' ',
        'undefined',
        'NaN',
        "{'message': 'success'}",
        '{"message":"success",}',
        '\u0000\u0000',
      ]);
      if (rng.chance(0.3)) return { kind, body: rng.bytes(rng.int(1, 2048)), contentType: rng.pick([...jsonTypes, ...otherTypes]), expect: fails(IngestErrorType.MalformedPayload, IngestErrorType.InvalidPayload) };
      return { kind, body: Buffer.from(text), contentType: rng.pick([...jsonTypes, ...otherTypes]), expect: fails(IngestErrorType.MalformedPayload) };
    }
    case 'truncated': {
      const whole = mixed(rng, id, rng.pick(badKinds)).body;
      // Any proper prefix of an object's text is unbalanced, hence not JSON.
      const cut = rng.int(0, whole.length - 2);
      return { kind, body: whole.subarray(0, cut), contentType: rng.pick(jsonTypes), expect: fails(IngestErrorType.MalformedPayload) };
    }
    case 'wrong-envelope': {
      const invalid = fails(IngestErrorType.InvalidPayload);
      const [text, expect] = rng.pick<[string, FeedExpectation]>([
        [`{"message":"failure","number":0,"people":[]}`, invalid],
        [`{"message":${q(`succ\u0000ess`)},"number":0,"people":[]}`, invalid],
        [`{"message":${q('s'.repeat(100_000))},"number":0,"people":[]}`, invalid],
        [`{"message":"success","number":"3","people":[]}`, invalid],
        [`{"message":"success","number":-1,"people":[]}`, invalid],
        [`{"message":"success","number":1.5,"people":[]}`, invalid],
        [`{"message":"success","number":2147483648,"people":[]}`, invalid],
        [`{"message":"success","number":1e308,"people":[]}`, invalid],
        [`{"message":"success","number":0,"people":{}}`, invalid],
        [`{"message":"success","number":0}`, invalid],
        [`{"number":0,"people":[]}`, invalid],
        [`{"mess${U8_MARK}age":"success","number":0,"people":[]}`, invalid],
        [`[{"message":"success","number":0,"people":[]}]`, invalid],
        ['null', invalid],
        ['"success"', invalid],
        ['42', invalid],
        [deep(rng), invalid],
        // A valid envelope whose one record is a string: the record is rejected, the (empty) snapshot applies.
        [`{"message":"success","number":1,"people":["Env Person"]}`, { keys: [], rejected: 1, duplicates: 0 }],
      ]);
      return { kind, body: encode(text, rng), contentType: rng.pick(jsonTypes), expect };
    }
    case 'too-many-people': {
      const n = corpusLimits.maxPeople + rng.int(1, 20);
      const records = Array.from({ length: n }, (_, i) => obj({ name: q(`Crowd ${id} ${i}`), craft: '"ISS"' }));
      return { kind, body: Buffer.from(envelope(rng, records)), contentType: rng.pick(jsonTypes), expect: fails(IngestErrorType.InvalidPayload) };
    }
    case 'too-large': {
      const body = Buffer.from(envelope(rng, [obj({ name: q('L'.repeat(corpusLimits.maxBodyBytes)), craft: '"ISS"' })]));
      return { kind, body, contentType: rng.pick(jsonTypes), expect: fails(IngestErrorType.PayloadTooLarge) };
    }
    default:
      return mixed(rng, id, kind);
  }
}

/** Weights: the expensive kinds (large bodies) are rare. */
const weights: Partial<Record<FeedKind, number>> = { 'too-large': 0.1, 'too-many-people': 0.3, 'huge-strings': 0.5 };

/** `count` cases from `seed`; the same arguments always give the same corpus. */
export function feedCorpus(seed: number, count: number): FeedCase[] {
  const rng = new Random(seed);
  const table = feedKinds.map((k) => [k, weights[k] ?? 1] as const);
  const total = table.reduce((s, [, w]) => s + w, 0);
  const cases: FeedCase[] = [];
  for (let id = 0; id < count; id++) {
    // Every kind at least once, then by weight.
    let kind: FeedKind = feedKinds[id] ?? feedKinds[0];
    if (id >= feedKinds.length) {
      let r = rng.next() * total;
      for (const [k, w] of table) {
        r -= w;
        if (r <= 0) {
          kind = k;
          break;
        }
      }
    }
    cases.push({ id, ...build(rng, id, kind) });
  }
  return cases;
}

/** What happened to one payload. */
export type FeedOutcome =
  | { failed: string; message: string }
  | { keys: string[]; rejected: number; duplicates: number; reasons: string[] };

/** Problems with an outcome (empty when it is what the generator expected). */
export function checkOutcome(c: FeedCase, o: FeedOutcome): string[] {
  const where = `case ${c.id} (${c.kind})`;
  if ('fails' in c.expect) {
    if (!('failed' in o)) return [`${where}: expected a ${c.expect.fails.join(' or ')} failure, but it applied`];
    if (!c.expect.fails.includes(o.failed as IngestErrorType)) return [`${where}: expected ${c.expect.fails.join(' or ')}, got ${o.failed}: ${o.message.slice(0, 300)}`];
    return o.message.trim() === '' ? [`${where}: failed without a reason`] : [];
  }
  if ('failed' in o) return [`${where}: expected to apply, failed with ${o.failed}: ${o.message.slice(0, 300)}`];
  const problems: string[] = [];
  if (JSON.stringify(o.keys) !== JSON.stringify(c.expect.keys)) problems.push(`${where}: landed ${JSON.stringify(o.keys)}, expected ${JSON.stringify(c.expect.keys)}`);
  if (o.rejected !== c.expect.rejected) problems.push(`${where}: ${o.rejected} rejected, expected ${c.expect.rejected}`);
  if (o.duplicates !== c.expect.duplicates) problems.push(`${where}: ${o.duplicates} duplicates, expected ${c.expect.duplicates}`);
  if (o.reasons.some((r) => r.trim() === '')) problems.push(`${where}: a reject without a reason`);
  return problems;
}

/** The figures every fuzz run prints. */
export function feedFigures(label: string, seed: number, tried: number, crashes: number, rejected: number, accepted: number, failed: number): string {
  return `${label} (seed ${seed}): payloads tried ${tried}, crashes ${crashes}, rejected with a reason ${rejected} (records), accepted ${accepted} (records), payloads failed with a clear reason ${failed}`;
}

/** Queue cases as raw responses in a simulator scenario (POST <scenario>/control, in chunks: its body is bounded). */
export async function serveRaw(controlUrl: string, cases: FeedCase[]): Promise<void> {
  for (let i = 0; i < cases.length; i += 200) {
    const serve = cases.slice(i, i + 200).map((c) => ({ bodyBase64: c.body.toString('base64'), contentType: c.contentType }));
    const res = await fetch(controlUrl, { method: 'POST', body: JSON.stringify({ serve }) });
    if (!res.ok) throw new Error(`simulator control: ${await res.text()}`);
  }
}
