/**
 * Pipeline validation's activities (validatePipeline compares a Postgres
 * table with its ClickHouse copy), built from their dependencies. The names
 * are registered with Temporal and recorded in histories: do not rename them.
 */
import { compareTable, type ValidationDeps } from './compare-table.ts';
import { findReplica, type ClickHouseReplica } from '../../config/clickhouse-replicas.ts';
import { createClickHouse } from '../../connectors/clickhouse/client.ts';
import { IngestErrorType, permanentFailure } from '../../shared/errors.ts';
import { recordValidationReport } from './record-report.ts';
import type { CompareTableInput, ValidationReport } from '../../shared/validation.ts';

/** The pipeline's ClickHouse replicas (absent: one host, deps.clickhouse). */
export type ReplicaDeps = { endpoints: { clickhouseReplicas?: ClickHouseReplica[] } };

/** A named replica's comparison: its own client and consumer groups (the catch-up waits for its groups). */
async function compareOnReplica(deps: ValidationDeps & ReplicaDeps, input: CompareTableInput & { replica: string }): Promise<ValidationReport> {
  let r: ClickHouseReplica;
  try {
    r = findReplica(deps.endpoints.clickhouseReplicas ?? [], input.replica);
  } catch (err) {
    throw permanentFailure(IngestErrorType.InvalidInput, (err as Error).message);
  }
  const ch = createClickHouse(r.url, { requestTimeoutMs: 120_000 });
  try {
    return await compareTable({ ...deps, clickhouse: ch, endpoints: { ...deps.endpoints, groupPrefix: r.groupPrefix } }, input);
  } finally {
    await ch.close();
  }
}

export function createValidationActivities(deps: ValidationDeps & ReplicaDeps) {
  return {
    async compareTable(input: CompareTableInput): Promise<ValidationReport> {
      return input.replica === undefined ? compareTable(deps, input) : compareOnReplica(deps, { ...input, replica: input.replica });
    },
    async recordValidationReport(report: ValidationReport): Promise<{ reportKey: string }> {
      return recordValidationReport(deps.pool, report);
    },
  };
}

export type ValidationActivities = ReturnType<typeof createValidationActivities>;
