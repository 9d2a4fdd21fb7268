/** What validatePipeline compares for a captured table, derived from its catalog entry. */
import type { ValidationSpec } from '../activities/pipeline-validation/types.ts';
import { pipelineNames } from './names.ts';
import type { CapturedTable } from './pipeline.ts';

export function validationSpec(t: CapturedTable, opts: { slot?: string } = {}): ValidationSpec {
  const n = t.objects.names;
  return {
    source: {
      schema: n.schema,
      table: n.table,
      key: t.objects.key,
      // Left-out columns never reach ClickHouse: compare the rest.
      columns: t.objects.columns.filter((c) => !c.key).map((c) => c.source.name),
    },
    target: { database: n.database, table: n.current.slice(n.database.length + 1), versionColumn: 'version', deletedColumn: 'is_deleted' },
    catchUp: { mode: 'slot', slotName: opts.slot ?? pipelineNames.slot, kafka: { topic: n.topic, groupId: n.group } },
  };
}
