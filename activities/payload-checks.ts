/**
 * Payload checks: is the astros.json feed usable? (pure logic, no I/O;
 * not to be confused with pipeline validation, which compares Postgres with
 * ClickHouse: activities/pipeline-validation/).
 *
 * Two levels, so that one bad record never sinks a whole fetch:
 *  - the envelope (`message`, `number`, `people` being an array) must hold,
 *    otherwise the payload as a whole is unusable (non-retryable failure);
 *  - each element of `people` is checked on its own; an invalid element is
 *    rejected with its reasons (dead-lettered later) and the rest go on.
 * `number` disagreeing with the length of `people` is reported, not fatal:
 * the list is what we store, the mismatch is recorded with the run.
 */
import { z } from 'zod';
import { IngestErrorType, permanentFailure } from './errors.ts';

/** Printable text without control characters; bounded so a runaway value cannot bloat the table. */
const text = (max: number) =>
  z
    .string()
    .refine((v) => v.trim().length > 0, 'must not be empty or blank')
    .refine((v) => v.length <= max, `must be at most ${max} characters`)
    // eslint-disable-next-line no-control-regex
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters');

export const personSchema = z.object({
  name: text(200),
  craft: text(100),
});

export type RawPerson = z.infer<typeof personSchema>;

export const envelopeSchema = z.object({
  message: z.literal('success', { error: (i) => `expected "success", got ${JSON.stringify(i.input)}` }),
  number: z.number().int().nonnegative(),
  people: z.array(z.unknown()),
});

export interface RecordReject {
  /** Position in people[] (0-based). */
  index: number;
  reason: string;
  /** The element exactly as received. */
  record: unknown;
}

export interface CheckedPayload {
  declaredNumber: number;
  /** Length of people[] as received. */
  listed: number;
  numberMismatch: boolean;
  valid: { index: number; person: RawPerson }[];
  rejects: RecordReject[];
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** Parse the body as JSON; a body that is not JSON is a permanent fault. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw permanentFailure(IngestErrorType.MalformedPayload, `source body is not valid JSON: ${(err as Error).message}`, {
      bodyPrefix: body.slice(0, 200),
      bytes: Buffer.byteLength(body),
    });
  }
}

/** Check an already-parsed payload. Throws a non-retryable InvalidPayload failure when the envelope is wrong. */
export function checkPayload(payload: unknown, opts: { maxPeople: number }): CheckedPayload {
  const envelope = envelopeSchema.safeParse(payload);
  if (!envelope.success) {
    throw permanentFailure(IngestErrorType.InvalidPayload, `source payload has the wrong shape: ${describeIssues(envelope.error)}`);
  }
  const { number: declaredNumber, people } = envelope.data;
  if (people.length > opts.maxPeople) {
    throw permanentFailure(
      IngestErrorType.InvalidPayload,
      `source payload lists ${people.length} people, more than ASTROS_MAX_PEOPLE=${opts.maxPeople}`,
    );
  }
  const valid: CheckedPayload['valid'] = [];
  const rejects: RecordReject[] = [];
  people.forEach((record, index) => {
    const parsed = personSchema.safeParse(record);
    if (parsed.success) valid.push({ index, person: parsed.data });
    else rejects.push({ index, record, reason: `invalid record: ${describeIssues(parsed.error)}` });
  });
  return { declaredNumber, listed: people.length, numberMismatch: declaredNumber !== people.length, valid, rejects };
}
