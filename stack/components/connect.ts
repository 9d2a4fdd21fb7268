/**
 * Kafka Connect in distributed mode (one worker; in the cluster profile two,
 * connect1 and connect2, in one group), REST on its host's address, with the
 * Debezium Postgres connector and Apicurio's Avro converter on plugin.path.
 * The worker runs from Kafka's libs; plugins stay off the worker class path,
 * each in its own folder so Connect isolates their class loaders.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pgCredentials, pgRoles } from './postgres.ts';
import { installOnce } from '../lib/download.ts';
import { apicurioVersions, classpath, findJava, jvmFlags, log4j2Config, propertiesFile, runMaven } from '../lib/jvm.ts';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import type { Component, ProcessSpec, StackContext } from '../lib/types.ts';
import { repoRoot } from '../lib/context.ts';
import { treeHash } from '../lib/tree-hash.ts';
import { versions } from '../versions.ts';
import { clusterConnectRebalanceDelayMs } from '../../config/cluster.ts';
import { bootstrapServers, installKafkaLibs, kafkaLibs } from './kafka.ts';

export const POSTGRES_CONNECTOR_CLASS = 'io.debezium.connector.postgresql.PostgresConnector';
export function connectorEnv(ctx: StackContext): Record<string, string> {
  return {
    ASTROS_PG_HOST: ctx.hosts.postgres,
    ASTROS_PG_PORT: String(ctx.ports.postgres),
    ASTROS_PG_DATABASE: pgRoles.app.database,
    ASTROS_CDC_USER: pgRoles.cdc.user,
    ASTROS_CDC_PASSWORD: pgCredentials(ctx).cdc,
    ASTROS_REGISTRY_URL: `http://${ctx.hosts.registry}:${ctx.ports.registry}/apis/registry/v2`,
  };
}

/** The project's converter (Apicurio's, minus its per-record schema lookup): a Maven module built at install. */
const converterModule = path.join(repoRoot, 'debezium', 'converter');

/**
 * Each entry is a plugin.path root holding one plugin folder:
 *   <cacheDir>/connect-plugins/debezium-postgres-<v>/debezium-connector-postgres/*.jar
 *   <cacheDir>/connect-plugins/apicurio-converter-<v>-astros-<hash>/apicurio-converter/*.jar
 * The converter's folder also holds astros-converter.jar, which extends Apicurio's class and so
 * must share its class loader; the hash of the module's sources names a rebuilt one.
 * Version-named roots let a version bump install beside the old one.
 */
export function pluginRoots(ctx: StackContext): { debezium: string; converter: string } {
  const base = path.join(ctx.cacheDir, 'connect-plugins');
  return {
    debezium: path.join(base, `debezium-postgres-${versions.debezium}`),
    converter: path.join(base, `apicurio-converter-${apicurioVersions.converter}-astros-${treeHash(converterModule, ['pom.xml', 'src'])}`),
  };
}

/** This worker's REST API (any worker of the group takes a connector's config and forwards it to the leader). */
export function connectUrl(ctx: StackContext): string {
  return `http://${ctx.bind}:${ctx.ports.connect}`;
}

function dirs(ctx: StackContext): { root: string; config: string; log4j2: string } {
  const root = path.join(ctx.stateDir, ctx.instance ?? 'connect');
  return { root, config: path.join(root, 'worker.properties'), log4j2: path.join(root, 'log4j2.properties') };
}

function workerProperties(ctx: StackContext): string {
  const roots = pluginRoots(ctx);
  // The internal topics on as many brokers as every other topic (the brokers' default: 1, or 3 in the cluster).
  const rf = -1;
  return propertiesFile('Written by the native stack (stack/components/connect.ts) on every start; edits are overwritten.', {
    'bootstrap.servers': bootstrapServers(ctx),
    'group.id': 'astros-connect',
    'config.storage.topic': 'astros-connect-configs',
    'config.storage.replication.factor': rf,
    'offset.storage.topic': 'astros-connect-offsets',
    'offset.storage.replication.factor': rf,
    'offset.storage.partitions': 5,
    'status.storage.topic': 'astros-connect-status',
    'status.storage.replication.factor': rf,
    'status.storage.partitions': 1,
    'offset.flush.interval.ms': 1000,
    // How long the group holds a departed worker's connectors and tasks for it before giving them to
    // the others (Connect's default, 300 s, stalls the pipeline five minutes when a worker dies).
    // In the cluster a lost worker's task moves after the group notices it gone (session.timeout.ms,
    // 10 s) plus this; the price is that a worker restarting slower than this (a JVM takes 20-30 s
    // here) finds its task moved, and the task restarts once more (its changes since the last offset
    // flush delivered again, absorbed downstream). One worker (dev, test) has nowhere to move it.
    ...(ctx.profile === 'cluster' ? { 'scheduled.rebalance.max.delay.ms': clusterConnectRebalanceDelayMs } : {}),
    // The source connectors' producer: a change is written once (idempotence) and acknowledged by
    // every in-sync replica (with min.insync.replicas 2 on the cluster, by two brokers at least).
    'producer.acks': 'all',
    'producer.enable.idempotence': true,
    // Worker defaults only; each connector sets the Avro converter itself.
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': false,
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': false,
    listeners: `http://${ctx.bind}:${ctx.ports.connect}`,
    // What the other workers of the group call to forward a request to this one.
    'rest.advertised.host.name': ctx.bind,
    'rest.advertised.port': ctx.ports.connect,
    'plugin.path': [roots.debezium, roots.converter].join(','),
    // Connector configs reference secrets as ${file:/path:key} or ${env:NAME}.
    'config.providers': 'file,env',
    'config.providers.file.class': 'org.apache.kafka.common.config.provider.FileConfigProvider',
    'config.providers.env.class': 'org.apache.kafka.common.config.provider.EnvVarConfigProvider',
  });
}

export const connect: Component = {
  name: 'connect',
  dependsOn: ['kafka', 'registry'],
  startTimeoutSeconds: 180,

  url: connectUrl,

  async install(ctx) {
    await installKafkaLibs(ctx);
    const roots = pluginRoots(ctx);
    await installOnce(roots.debezium, `debezium ${versions.debezium}`, ctx.progress, async (tmp) => {
      await runMaven(ctx, {
        pom: 'connect-plugins.xml',
        goals: ['dependency:unpack@debezium'],
        props: { 'debezium.version': versions.debezium, 'plugins.dir': tmp },
        label: `debezium ${versions.debezium}`,
      });
    });
    await installOnce(roots.converter, `apicurio converter ${apicurioVersions.converter}`, ctx.progress, async (tmp) => {
      await runMaven(ctx, {
        pom: 'connect-plugins.xml',
        goals: ['dependency:copy-dependencies@apicurio-converter'],
        props: { 'apicurio.converter.version': apicurioVersions.converter, 'plugins.dir': tmp },
        label: `apicurio converter ${apicurioVersions.converter}`,
      });
      await runMaven(ctx, {
        pom: path.join(converterModule, 'pom.xml'),
        goals: ['package'],
        props: {
          'apicurio.converter.version': apicurioVersions.converter,
          'kafka.version': versions.kafka,
          'slf4j.version': versions.slf4j,
          'converter.build': path.join(tmp, 'build'),
          'converter.out': path.join(tmp, 'apicurio-converter'),
        },
        label: 'astros converter',
      });
      await fs.rm(path.join(tmp, 'build'), { recursive: true, force: true });
    });
  },

  async prepare(ctx) {
    const d = dirs(ctx);
    await fs.mkdir(d.root, { recursive: true });
    await fs.writeFile(d.config, workerProperties(ctx));
    await fs.writeFile(
      d.log4j2,
      log4j2Config('INFO', {
        // Plugin scanning and client config dumps are thousands of lines.
        'org.apache.kafka.connect.runtime.isolation': 'WARN',
        'org.apache.kafka.clients': 'WARN',
        'org.apache.kafka.common.config.AbstractConfig': 'WARN',
        'org.apache.kafka.connect.runtime.ConnectorConfig': 'WARN',
        'org.apache.kafka.connect.runtime.SinkConnectorConfig': 'WARN',
        'org.apache.kafka.connect.runtime.SourceConnectorConfig': 'WARN',
        'org.apache.kafka.connect.runtime.TaskConfig': 'WARN',
        'org.apache.kafka.connect.runtime.WorkerConfig': 'WARN',
        'org.apache.kafka.connect.runtime.WorkerInfo': 'WARN',
        'org.apache.kafka.connect.runtime.distributed.DistributedConfig': 'WARN',
        'org.reflections': 'ERROR',
        'org.eclipse.jetty': 'WARN',
      }),
    );
  },

  async process(ctx): Promise<ProcessSpec> {
    const d = dirs(ctx);
    const { java } = await findJava();
    return {
      command: java,
      args: [...jvmFlags({ heap: '512m', log4j2Config: d.log4j2 }), '-cp', await classpath(kafkaLibs(ctx)), 'org.apache.kafka.connect.cli.ConnectDistributed', d.config],
      cwd: d.root,
      // What debezium/*.json reads through the env config provider (${env:NAME}): the same
      // connector file serves docker-compose, where these come from the compose environment.
      env: connectorEnv(ctx),
    };
  },

  async healthy(ctx) {
    const connect = new KafkaConnect(connectUrl(ctx));
    if ((await connect.version()) === undefined) return false;
    return (await connect.pluginClasses()).includes(POSTGRES_CONNECTOR_CLASS);
  },
};
