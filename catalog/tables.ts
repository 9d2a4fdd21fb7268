/**
 * The tables this repository captures in production: one declaration each.
 * Edit here to add a table to every stack built from the repository; a running
 * pipeline's own additions live in Postgres (public.captured_tables) and
 * `npm run catalog -- export` prints them in this shape (see catalog/README.md).
 *
 * After an edit: `npm run catalog -- generate` rewrites the files derived from
 * it (the connector's table list, the dbt sources), and `npm run setup`
 * applies it to a running stack.
 */
import { parseDeclarations, type TableDeclarationInput } from './declaration.ts';

const declared: TableDeclarationInput[] = [
  {
    source: 'public.astronauts',
    description: 'People in space now, one row per person (the ingestAstronauts workflow upserts it; a departure is a delete).',
    columns: {
      person_key: { description: 'Primary key: the normalised name (accents removed, lower case, single spaces).' },
      name: { description: 'Display name (for a delete, the name before it).' },
      craft: { description: 'Spacecraft (for a delete, the craft before it).' },
      created_at: { description: 'When the row was first inserted in Postgres.' },
      updated_at: { description: 'When the row last changed in Postgres.' },
      updated_by_run: { description: 'Ingest run that last wrote the row in Postgres (ingest_runs.run_key).' },
    },
  },
];

export const repositoryTables = parseDeclarations(declared, 'catalog/tables.ts');
