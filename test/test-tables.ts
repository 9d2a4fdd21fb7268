/**
 * Tables only the tests capture, declared through the catalog like any other
 * (origin 'test' in public.captured_tables), so the production connector
 * (debezium/astros-postgres.json) never names them.
 *
 *   public.cdc_types_probe  the self-test table (db/migrations/postgres/100):
 *                           types, TOAST, deletes and restarts are proven on it
 *                           rather than on astronauts, which ingest runs of
 *                           other tests rewrite mid-test. Its topic has 3
 *                           partitions, so the CDC suite's ordering and delete
 *                           tests, the topic fuzz's dead-letter accounting and
 *                           validation's catch-up run over several partitions.
 */
import type { TableDeclarationInput } from '../catalog/declaration.ts';

export const testTables: TableDeclarationInput[] = [{ source: 'public.cdc_types_probe', description: 'The CDC self-test table.', partitions: 3 }];
