/** The committed files derived from the repository's declarations, with the content the generator wants. */
import path from 'node:path';
import { clusterConfigFiles } from './cluster-compose.ts';
import { connectorFileText, connectorFor, connectorFile, readConnectorFile } from './connector.ts';
import { consumerClientConfigXml } from './consumer-settings.ts';
import { dbtSourcesFile, dbtSourcesYaml } from './dbt-sources.ts';
import { repoRoot } from '../config/paths.ts';
import { repositoryTables } from './tables.ts';

export function generatedFiles(): { file: string; text: string }[] {
  return [
    { file: connectorFile, text: connectorFileText(connectorFor(readConnectorFile(), repositoryTables)) },
    { file: path.join(repoRoot, dbtSourcesFile), text: dbtSourcesYaml(repositoryTables) },
    { file: path.join(repoRoot, 'docker', 'clickhouse', 'config.d', 'kafka.xml'), text: consumerClientConfigXml() },
    ...clusterConfigFiles(),
  ];
}
