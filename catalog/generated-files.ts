/** The committed files derived from the repository's declarations, with the content the generator wants. */
import path from 'node:path';
import { clusterConfigFiles } from './cluster-compose.ts';
import { connectorFileText, connectorFor, connectorFile, readConnectorFile } from './connector.ts';
import { consumerClientConfigXml } from './consumer-settings.ts';
import { dbtSourcesFile, dbtSourcesYaml } from './dbt-sources.ts';
import { repoRoot } from '../config/paths.ts';
import { repositoryTables } from './tables.ts';
import { groupOf } from './declaration.ts';
import { DEFAULT_GROUP } from '../shared/names.ts';

export function generatedFiles(): { file: string; text: string }[] {
  return [
    // The committed connector is the default group's: its tables only (another group's connector is derived when applied).
    { file: connectorFile, text: connectorFileText(connectorFor(readConnectorFile(), repositoryTables.filter((d) => groupOf(d) === DEFAULT_GROUP))) },
    { file: path.join(repoRoot, dbtSourcesFile), text: dbtSourcesYaml(repositoryTables) },
    { file: path.join(repoRoot, 'docker', 'clickhouse', 'config.d', 'kafka.xml'), text: consumerClientConfigXml() },
    ...clusterConfigFiles(),
  ];
}
