/**
 * Apicurio Registry server (Quarkus application from Maven Central) with the
 * Confluent-compatible API at /apis/ccompat/v7, which ClickHouse's
 * AvroConfluent format reads schemas from. Storage is an H2 database file
 * under the state dir, so schema ids survive restarts.
 */
import { SchemaRegistry } from '../../connectors/registry/client.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { installOnce } from '../lib/download.ts';
import { apicurioVersions, findJava, jvmFlags, propertiesFile, runMaven } from '../lib/jvm.ts';
import type { Component, ProcessSpec, StackContext } from '../lib/types.ts';

/** `<cacheDir>/apicurio-registry-<version>`: the runnable jar and its lib/. */
export function registryHome(ctx: StackContext): string {
  return path.join(ctx.cacheDir, `apicurio-registry-${apicurioVersions.server}`);
}

export function registryUrl(ctx: StackContext): string {
  return `http://${ctx.hosts.registry}:${ctx.ports.registry}`;
}

/** Base URL of the Confluent-compatible API (what ClickHouse's format_avro_schema_registry_url needs). */
export function ccompatUrl(ctx: StackContext): string {
  return `${registryUrl(ctx)}/apis/ccompat/v7`;
}

function dirs(ctx: StackContext): { root: string; data: string; config: string } {
  const root = path.join(ctx.stateDir, 'registry');
  // Quarkus reads ./config/application.properties relative to its working directory.
  return { root, data: path.join(root, 'data'), config: path.join(root, 'config', 'application.properties') };
}

function applicationProperties(ctx: StackContext, dataDir: string): string {
  return propertiesFile('Written by the native stack (stack/components/registry.ts) on every start; edits are overwritten.', {
    'quarkus.http.host': ctx.bind,
    'quarkus.http.port': ctx.ports.registry,
    'apicurio.storage.kind': 'sql',
    'apicurio.storage.sql.kind': 'h2',
    // A file database instead of the default in-memory one: ids survive restarts.
    'apicurio.datasource.url': `jdbc:h2:file:${path.join(dataDir, 'registry')}`,
    'apicurio.datasource.username': 'sa',
    'apicurio.datasource.password': 'sa',
    'apicurio.datasource.jdbc.initial-size': 2,
    'apicurio.datasource.jdbc.min-size': 2,
    'apicurio.datasource.jdbc.max-size': 20,
    // Ids in the Confluent API are content ids (what the converter writes).
    'apicurio.ccompat.legacy-id-mode.enabled': false,
    // Let tests and users clean up subjects.
    'apicurio.rest.deletion.group.enabled': true,
    'apicurio.rest.deletion.artifact.enabled': true,
    'apicurio.rest.deletion.artifact-version.enabled': true,
    // Health polls would otherwise fill the log.
    'quarkus.http.access-log.enabled': false,
    'quarkus.log.console.format': '%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{3.}] (%t) %s%e%n',
    'quarkus.log.level': 'INFO',
    'quarkus.log.category."io.apicurio".level': 'INFO',
  });
}

/**
 * The jar to `java -jar`: `quarkus-run.jar` (fast-jar layout of newer
 * releases) or `apicurio-registry-app-<v>-runner.jar` (legacy layout of 3.0.x).
 */
async function runnableJar(home: string): Promise<string> {
  const files = await fs.readdir(home).catch(() => [] as string[]);
  const jar = files.find((f) => f === 'quarkus-run.jar') ?? files.find((f) => f.endsWith('-runner.jar'));
  if (jar === undefined) throw new Error(`apicurio registry: no quarkus-run.jar or *-runner.jar in ${home}; delete the folder and run the install again`);
  return path.join(home, jar);
}

export const registry: Component = {
  name: 'registry',
  dependsOn: [],
  startTimeoutSeconds: 120,

  url: ccompatUrl,

  async install(ctx) {
    const home = registryHome(ctx);
    await installOnce(home, `apicurio registry ${apicurioVersions.server}`, ctx.progress, async (tmp) => {
      await runMaven(ctx, {
        pom: 'registry.xml',
        goals: ['dependency:unpack@registry'],
        props: { 'apicurio.version': apicurioVersions.server, 'registry.dir': tmp },
        label: `apicurio registry ${apicurioVersions.server}`,
      });
      await runnableJar(tmp); // fails the install when the assembly has an unexpected layout
    });
  },

  async prepare(ctx) {
    const d = dirs(ctx);
    await fs.mkdir(d.data, { recursive: true });
    await fs.mkdir(path.dirname(d.config), { recursive: true });
    await fs.writeFile(d.config, applicationProperties(ctx, d.data));
  },

  async process(ctx): Promise<ProcessSpec> {
    const d = dirs(ctx);
    const { java } = await findJava();
    return {
      command: java,
      args: [...jvmFlags({ heap: '384m' }), '-jar', await runnableJar(registryHome(ctx))],
      cwd: d.root,
    };
  },

  async healthy(ctx) {
    return new SchemaRegistry(ccompatUrl(ctx)).answers();
  },
};
