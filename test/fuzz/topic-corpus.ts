/**
 * A seeded corpus of malformed messages for a CDC topic, built around one
 * real message (the Confluent wire format: magic byte 0, 4-byte schema id,
 * Avro body), each with where it must end up:
 *   'error'    a row in astros.kafka_errors (ClickHouse could not parse it)
 *   'skipped'  consumed without a row or an error: AvroConfluent skips empty
 *              messages and tombstones (counted by offset, activities/dead-letters/topic-accounting.ts)
 * Nothing may parse: a message that did would land a row Postgres does not have.
 */
import { Random } from './random.ts';

export const topicKinds = ['random-bytes', 'truncated-avro', 'unknown-schema-id', 'wrong-magic', 'header-only', 'text', 'empty', 'tombstone'] as const;
export type TopicKind = (typeof topicKinds)[number] | 'size-limit';

export interface TopicMessage {
  kind: TopicKind;
  value: Buffer | null;
  expect: 'error' | 'skipped';
}

/** Schema ids far above anything a registry hands out here. */
function unknownId(rng: Random): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(rng.int(1_500_000_000, 2_000_000_000));
  return id;
}

function message(rng: Random, kind: (typeof topicKinds)[number], real: Buffer): TopicMessage {
  switch (kind) {
    case 'random-bytes': {
      const b = rng.bytes(rng.int(1, 4096));
      if (b[0] === 0) b[0] = 1; // keep the odds of a decodable message at nil
      return { kind, value: b, expect: 'error' };
    }
    case 'truncated-avro':
      // At least the header and one byte short of the end: the body ends early.
      return { kind, value: real.subarray(0, rng.int(5, real.length - 1)), expect: 'error' };
    case 'unknown-schema-id':
      return { kind, value: Buffer.concat([Buffer.from([0]), unknownId(rng), real.subarray(5)]), expect: 'error' };
    case 'wrong-magic': {
      const b = Buffer.from(real);
      b[0] = rng.int(1, 255);
      return { kind, value: b, expect: 'error' };
    }
    case 'header-only':
      return { kind, value: real.subarray(0, rng.int(1, 5)), expect: 'error' };
    case 'text':
      return { kind, value: Buffer.from(rng.pick(['{"probe_key":"x"}', 'not avro', '<xml/>', 'null', '\u0000'])), expect: 'error' };
    case 'empty':
      return { kind, value: Buffer.alloc(0), expect: 'skipped' };
    case 'tombstone':
      return { kind, value: null, expect: 'skipped' };
  }
}

/** `count` messages of every kind in a seeded order, plus `sizeLimit` messages of `limitBytes` random bytes. */
export function topicCorpus(seed: number, count: number, real: Buffer, sizeLimit: { count: number; bytes: number }): TopicMessage[] {
  const rng = new Random(seed);
  const out = Array.from({ length: count }, (_, i) => message(rng, topicKinds[i % topicKinds.length]!, real));
  rng.shuffle(out);
  for (let i = 0; i < sizeLimit.count; i++) {
    const b = rng.bytes(sizeLimit.bytes);
    b[0] = 1;
    out.push({ kind: 'size-limit', value: b, expect: 'error' });
  }
  return out;
}
