/**
 * What the backup steps are built from: the worker's clients (activities/deps.ts;
 * the backup settings are in its endpoints) and the registry, whose schemas a
 * backup stores and a restore compares.
 */
import type { SchemaRegistry } from '../../connectors/registry/client.ts';
import type { ActivityDeps } from '../deps.ts';

export type BackupDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka' | 'endpoints'> & { registry: SchemaRegistry };
