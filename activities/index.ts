/**
 * Every activity the worker registers, built from one set of required
 * dependencies (activities/deps.ts) so tests can hand in their own. The
 * names are registered with Temporal and recorded in histories: do not
 * rename them.
 */
import { createBackupActivities } from './backup/activities.ts';
import type { ActivityDeps } from './deps.ts';
import { createIngestActivities } from './ingest.ts';
import { createRecoverActivities } from './recover.ts';
import { createResyncActivities } from './resync.ts';
import { createSchemaChangeActivities } from './schema-changes.ts';
import { createTableActivities } from './tables.ts';
import { createValidationActivities } from './validation/activities.ts';

export type { ActivityDeps } from './deps.ts';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createIngestActivities(deps),
    ...createValidationActivities(deps),
    ...createTableActivities(deps),
    ...createRecoverActivities(deps),
    ...createSchemaChangeActivities(deps),
    ...createResyncActivities(deps),
    ...createBackupActivities(deps),
  };
}

export type IngestActivities = ReturnType<typeof createActivities>;
