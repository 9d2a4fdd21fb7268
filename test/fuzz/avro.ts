/**
 * Just enough Avro binary encoding to write a record of a registered schema
 * in the Confluent wire format (magic byte 0, 4-byte schema id, body): null,
 * boolean, int, long, float, double, string, bytes, unions and records. The
 * topic fuzz builds its template message with it (kafkajs's consumer cannot
 * read from this Kafka 4 broker, so a real message cannot be fetched).
 */
type AvroType = string | AvroType[] | { type: AvroType; fields?: { name: string; type: AvroType }[] };

function zigzag(n: bigint): Buffer {
  let z = n >= 0n ? n << 1n : ((-n) << 1n) - 1n;
  const out: number[] = [];
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z > 0n) b |= 0x80;
    out.push(b);
  } while (z > 0n);
  return Buffer.from(out);
}

function encode(type: AvroType, value: unknown): Buffer {
  if (Array.isArray(type)) {
    const nullAt = type.findIndex((t) => t === 'null');
    const i = value === null || value === undefined ? nullAt : type.findIndex((t) => t !== 'null');
    if (i < 0) throw new Error(`no union branch for ${JSON.stringify(value)}`);
    return Buffer.concat([zigzag(BigInt(i)), encode(type[i]!, value)]);
  }
  if (typeof type === 'object') {
    if (type.type === 'record') return Buffer.concat((type.fields ?? []).map((f) => encode(f.type, (value as Record<string, unknown>)[f.name])));
    return encode(type.type, value);
  }
  switch (type) {
    case 'null':
      return Buffer.alloc(0);
    case 'boolean':
      return Buffer.from([value ? 1 : 0]);
    case 'int':
    case 'long':
      return zigzag(BigInt((value as number | bigint | undefined) ?? 0));
    case 'float': {
      const b = Buffer.alloc(4);
      b.writeFloatLE(Number(value ?? 0));
      return b;
    }
    case 'double': {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(Number(value ?? 0));
      return b;
    }
    case 'string':
    case 'bytes': {
      const b = Buffer.from(String(value ?? ''), 'utf8');
      return Buffer.concat([zigzag(BigInt(b.length)), b]);
    }
    default:
      throw new Error(`Avro type ${type} is not supported here`);
  }
}

/** `values` as a message of the schema registered under `id`. */
export function confluentMessage(id: number, schemaJson: string, values: Record<string, unknown>): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
  return Buffer.concat([header, encode(JSON.parse(schemaJson) as AvroType, values)]);
}
