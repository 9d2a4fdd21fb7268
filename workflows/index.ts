/** Every workflow the ingest worker registers (the bundler's entry point). */
export { ingestAstronauts } from './ingest-astronauts.ts';
export * from './validate-pipeline.ts';
export * from './add-table.ts';
export * from './remove-table.ts';
export * from './resync-table.ts';
export * from './recover-pipeline.ts';
export * from './schema-changes.ts';
export * from './backup.ts';
