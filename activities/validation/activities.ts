/**
 * Pipeline validation's activities (validatePipeline compares a Postgres
 * table with its ClickHouse copy), built from their dependencies. The names
 * are registered with Temporal and recorded in histories: do not rename them.
 */
import { compareTable, type ValidationDeps } from './compare-table.ts';
import { recordValidationReport } from './record-report.ts';
import type { CompareTableInput, ValidationReport } from '../../shared/validation.ts';

export function createValidationActivities(deps: ValidationDeps) {
  return {
    async compareTable(input: CompareTableInput): Promise<ValidationReport> {
      return compareTable(deps, input);
    },
    async recordValidationReport(report: ValidationReport): Promise<{ reportKey: string }> {
      return recordValidationReport(deps.pool, report);
    },
  };
}

export type ValidationActivities = ReturnType<typeof createValidationActivities>;
