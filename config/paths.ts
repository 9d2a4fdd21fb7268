/** Where the checkout is: the files the code reads beside it (SQL, the connector JSON, dbt) are found from here. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
