/**
 * The Debezium connector's configuration, derived from the catalog: the
 * committed debezium/astros-postgres.json (what users register with curl)
 * carries the repository's tables; a running pipeline registers the same
 * settings with its live catalog's tables.
 */
import type { TableDeclaration } from './declaration.ts';
import { splitSource, type ConnectorSpec } from './names.ts';

/** Debezium's include/exclude lists are regular expressions: match names literally. */
const literal = (name: string) => name.replaceAll('.', '\\.').replaceAll('$', '\\$');

export function connectorFor(base: ConnectorSpec, tables: TableDeclaration[]): ConnectorSpec {
  const config = { ...base.config };
  if (tables.length === 0) throw new Error('the catalog declares no table: the connector would capture nothing');
  config['schema.include.list'] = [...new Set(tables.map((t) => splitSource(t.source).schema))].sort().join(',');
  config['table.include.list'] = tables.map((t) => t.source).join(',');
  const excluded = tables.flatMap((t) => t.exclude.map((c) => literal(`${t.source}.${c}`)));
  if (excluded.length > 0) config['column.exclude.list'] = excluded.join(',');
  else delete config['column.exclude.list'];
  // Keep the file's key order, new keys after table.include.list.
  const ordered: Record<string, string> = {};
  for (const k of Object.keys(base.config)) if (k in config) ordered[k] = config[k]!;
  for (const k of Object.keys(config)) ordered[k] ??= config[k]!;
  return { name: base.name, config: ordered };
}

/** The file's text as the generator writes it (one setting per line, blank lines between groups kept out). */
export function connectorFileText(spec: ConnectorSpec): string {
  return `${JSON.stringify(spec, null, 2)}\n`;
}
