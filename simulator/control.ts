/** What POST /control accepts (simulator/server.ts): the scenario's crew, step and faults, checked with zod. */
import { z } from 'zod';
import { INVALID_RECORDS } from './crew.ts';

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
