/**
 * The Debezium connector's configuration, derived from the catalog: the
 * committed debezium/astros-postgres.json (what users register with curl)
 * carries the repository's tables; a running pipeline registers the same
 * settings with its live catalog's tables. Per table: the include lists, the
 * left-out columns and the column transforms (hash, mask, truncate: Debezium's
 * own column settings); for the pipeline: Debezium's signal table (ad-hoc
 * snapshots on request; `astros tables add` loads a new table's rows with
 * resyncTable instead, straight from Postgres).
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../config/paths.ts';
import { DEFAULT_GROUP, groupNames, pipelineNames, splitSource } from '../shared/names.ts';
import { transformOf, type TableDeclaration } from './declaration.ts';

export interface ConnectorSpec {
  name: string;
  config: Record<string, string>;
}

/** The committed connector (what users register with curl): its settings are the base every derived config starts from. */
export const connectorFile = path.join(repoRoot, 'debezium', 'astros-postgres.json');

export function readConnectorFile(file = connectorFile): ConnectorSpec {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ConnectorSpec;
}

/** Debezium's include/exclude lists are regular expressions: match names literally. */
const literal = (name: string) => name.replaceAll('.', '\\.').replaceAll('$', '\\$');

/** Setting name -> the columns (`schema.table.column`) it applies to, one setting per transform and parameter. */
export function columnTransformSettings(tables: TableDeclaration[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of tables) {
    for (const [column, options] of Object.entries(t.columns)) {
      const tr = transformOf(options);
      if (!tr) continue;
      const key =
        'hash' in tr
          ? `column.mask.hash.v2.${tr.hash.algorithm}.with.salt.${tr.hash.salt}`
          : 'mask' in tr
            ? `column.mask.with.${tr.mask}.chars`
            : `column.truncate.to.${tr.truncate}.chars`;
      (out[key] ??= []).push(literal(`${t.source}.${column}`));
    }
  }
  return out;
}

/**
 * The connector of one table group (its tables only). The default group's is the committed file's
 * (identical to what the pipeline registered before groups existed: nothing restarts or re-reads);
 * another group's takes its own name, slot, publication, topic prefix and heartbeat row, no signal
 * table, and never snapshots (snapshot.mode=no_data: `tables add` loads a table's rows with
 * resyncTable, straight from Postgres, once the connector streams its changes). Its topics are routed
 * back to the pipeline's prefix (Connect's RegexRouter after the unwrap), so a table's topic is the
 * same in every group; the heartbeat topic (`__debezium-heartbeat.<its prefix>`) stays its own.
 */
/** A group reading another source database (config/load.ts groupSourceOf): the connector reads there, as the CDC role. */
export interface ConnectorSource {
  host: string;
  port: string;
  database: string;
  /** On the pipeline's server: the worker's address (the file's ${env:...}) stays, only the database changes. */
  sameServer: boolean;
}

export function connectorFor(base: ConnectorSpec, tables: TableDeclaration[], group: string = DEFAULT_GROUP, source?: ConnectorSource): ConnectorSpec {
  // Transforms are derived afresh: drop the base's.
  const config = Object.fromEntries(Object.entries(base.config).filter(([k]) => !/^column\.(mask|truncate)\./.test(k)));
  if (tables.length === 0) throw new Error('the catalog declares no table: the connector would capture nothing');
  config['schema.include.list'] = [...new Set(tables.map((t) => splitSource(t.source).schema))].sort().join(',');
  config['table.include.list'] = tables.map((t) => t.source).join(',');
  const excluded = tables.flatMap((t) => t.exclude.map((c) => literal(`${t.source}.${c}`)));
  if (excluded.length > 0) config['column.exclude.list'] = excluded.join(',');
  else delete config['column.exclude.list'];
  for (const [k, columns] of Object.entries(columnTransformSettings(tables))) config[k] = columns.join(',');
  const g = groupNames(group);
  if (g.signalTable) config['signal.data.collection'] = g.signalTable;
  else delete config['signal.data.collection'];
  if (g.heartbeatRow !== undefined) {
    config['heartbeat.action.query'] =
      `insert into ${g.heartbeatTable} (group_name, beat_at) values ('${g.heartbeatRow}', now()) on conflict (group_name) do update set beat_at = excluded.beat_at`;
    config['snapshot.mode'] = 'no_data';
    config.transforms = [...(config.transforms ?? '').split(',').filter((x) => x && x !== 'route'), 'route'].join(',');
    config['transforms.route.type'] = 'org.apache.kafka.connect.transforms.RegexRouter';
    config['transforms.route.regex'] = `${literal(g.topicPrefix)}\\.(.*)`;
    config['transforms.route.replacement'] = `${pipelineNames.topicPrefix}.$1`;
  }
  if (source) {
    config['database.dbname'] = source.database;
    if (!source.sameServer) {
      config['database.hostname'] = source.host;
      config['database.port'] = source.port;
    }
  }
  // The identity is the names module's (the file is generated with it).
  config['slot.name'] = g.slot;
  config['publication.name'] = g.publication;
  config['topic.prefix'] = g.topicPrefix;
  // Keep the file's key order, new keys after table.include.list.
  const ordered: Record<string, string> = {};
  for (const k of Object.keys(base.config)) if (k in config) ordered[k] = config[k]!;
  for (const k of Object.keys(config)) ordered[k] ??= config[k]!;
  return { name: g.connector, config: ordered };
}

/** The file's text as the generator writes it (one setting per line, blank lines between groups kept out). */
export function connectorFileText(spec: ConnectorSpec): string {
  return `${JSON.stringify(spec, null, 2)}\n`;
}
