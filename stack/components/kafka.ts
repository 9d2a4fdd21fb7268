/**
 * Kafka broker in KRaft mode: one JVM that is both broker and controller.
 * In the cluster profile there are three (kafka1..3, one per host), each a
 * broker and a voter of a static three-controller quorum; they share one
 * cluster id, made once. Jars come from Maven Central (stack/maven/kafka.xml) into
 * `<cacheDir>/kafka-<version>/libs`; Kafka Connect runs from the same libs.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { kafkaAnswers } from '../../connectors/kafka/client.ts';
import { installOnce } from '../lib/download.ts';
import { classpath, findJava, jvmFlags, log4j2Config, propertiesFile, runMaven } from '../lib/jvm.ts';
import { clusterKafka } from '../../config/cluster.ts';
import type { Component, ProcessSpec, StackContext } from '../lib/types.ts';
import { versions } from '../versions.ts';

const execFileAsync = promisify(execFile);

/** `<cacheDir>/kafka-<version>`: holds `libs/` (broker, Connect runtime, tools, log4j2). */
export function kafkaHome(ctx: StackContext): string {
  return path.join(ctx.cacheDir, `kafka-${versions.kafka}`);
}

export function kafkaLibs(ctx: StackContext): string {
  return path.join(kafkaHome(ctx), 'libs');
}

/** Every broker's host:port, the bootstrap list clients (Connect, ClickHouse, tests) use. */
export function bootstrapServers(ctx: StackContext): string {
  return ctx.hosts.kafka.map((h) => `${h}:${ctx.ports.kafka}`).join(',');
}

/** This broker's node id: its place among the brokers (1 on a loopback stack). */
const nodeId = (ctx: StackContext): number => ctx.hosts.kafka.indexOf(ctx.bind) + 1 || 1;

/** Download the Kafka jars once; shared by the kafka and connect components. */
export async function installKafkaLibs(ctx: StackContext): Promise<void> {
  await installOnce(kafkaHome(ctx), `kafka ${versions.kafka}`, ctx.progress, async (tmp) => {
    await runMaven(ctx, {
      pom: 'kafka.xml',
      goals: ['dependency:copy-dependencies'],
      props: {
        'kafka.version': versions.kafka,
        'scala.binary.version': versions.scala,
        'log4j.version': versions.log4j,
        'slf4j.version': versions.slf4j,
        outputDirectory: path.join(tmp, 'libs'),
      },
      label: `kafka ${versions.kafka}`,
    });
  });
}

function dirs(ctx: StackContext): { root: string; data: string; config: string; log4j2: string } {
  const root = path.join(ctx.stateDir, ctx.instance ?? 'kafka');
  return {
    root,
    data: path.join(root, 'data'),
    config: path.join(root, 'server.properties'),
    log4j2: path.join(root, 'log4j2.properties'),
  };
}

function serverProperties(ctx: StackContext, dataDir: string): string {
  const k = ctx.ports.kafka;
  const c = ctx.ports.kafkaController;
  const self = ctx.bind;
  // One broker: replication factor 1. Three (the cluster): every partition on all three, a write acknowledged by two.
  const cluster = ctx.hosts.kafka.length >= clusterKafka.replicationFactor;
  const rf = cluster ? clusterKafka.replicationFactor : 1;
  const minIsr = cluster ? clusterKafka.minInsyncReplicas : 1;
  return propertiesFile('Written by the native stack (stack/components/kafka.ts) on every start; edits are overwritten.', {
    'process.roles': 'broker,controller',
    'node.id': nodeId(ctx),
    // Static quorum of every broker: the controller addresses live in this file
    // only, so a changed port takes effect on the next start.
    'controller.quorum.voters': ctx.hosts.kafka.map((h, i) => `${i + 1}@${h}:${c}`).join(','),
    listeners: `PLAINTEXT://${self}:${k},CONTROLLER://${self}:${c}`,
    'advertised.listeners': `PLAINTEXT://${self}:${k}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': dataDir,
    'num.partitions': 1,
    'default.replication.factor': rf,
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': rf,
    'offsets.topic.num.partitions': 5,
    'transaction.state.log.replication.factor': rf,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': 5,
    'share.coordinator.state.topic.replication.factor': rf,
    'share.coordinator.state.topic.min.isr': minIsr,
    'auto.create.topics.enable': true,
    'group.initial.rebalance.delay.ms': 0,
    'num.network.threads': 2,
    'num.io.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    'background.threads': 2,
    'log.retention.hours': 168,
    'log.segment.bytes': 134217728,
  });
}

/** Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // a leading '-' reads as a CLI flag
  }
}

/**
 * The cluster id every broker of this stack formats with: made by the first
 * to format, kept in the state folder (the brokers of one stack share it).
 */
async function sharedClusterId(ctx: StackContext): Promise<string> {
  if (ctx.hosts.kafka.length === 1) return newClusterId();
  const file = path.join(ctx.stateDir, 'kafka-cluster-id');
  try {
    await fs.writeFile(file, newClusterId(), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return (await fs.readFile(file, 'utf8')).trim();
}

export const kafka: Component = {
  name: 'kafka',
  dependsOn: [],
  startTimeoutSeconds: 120,

  url: (ctx) => `kafka://${bootstrapServers(ctx)}`,

  install: installKafkaLibs,

  async prepare(ctx) {
    const d = dirs(ctx);
    await fs.mkdir(d.data, { recursive: true });
    await fs.writeFile(d.config, serverProperties(ctx, d.data));
    await fs.writeFile(d.log4j2, log4j2Config('INFO', { 'org.apache.kafka.common.config.AbstractConfig': 'WARN', 'kafka.request.logger': 'WARN', 'state.change.logger': 'WARN', 'org.apache.kafka.controller': 'WARN', 'kafka.log.LogCleaner': 'WARN' }));
    // Format the KRaft storage once; meta.properties is Kafka's own marker.
    if (existsSync(path.join(d.data, 'meta.properties'))) return;
    const { java } = await findJava();
    const clusterId = await sharedClusterId(ctx);
    ctx.progress(`kafka: formatting KRaft storage in ${d.data} (cluster id ${clusterId})`);
    try {
      await execFileAsync(
        java,
        [...jvmFlags({ heap: '256m', log4j2Config: d.log4j2 }), '-cp', await classpath(kafkaLibs(ctx)), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', d.config],
        { timeout: 120_000 },
      );
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`kafka: storage format failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
    }
  },

  async process(ctx): Promise<ProcessSpec> {
    const d = dirs(ctx);
    const { java } = await findJava();
    return {
      command: java,
      args: [...jvmFlags({ heap: '384m', log4j2Config: d.log4j2 }), '-cp', await classpath(kafkaLibs(ctx)), 'kafka.Kafka', d.config],
      cwd: d.root,
    };
  },

  async healthy(ctx) {
    // This broker, not the list: each of the cluster's brokers is its own component.
    return kafkaAnswers([`${ctx.bind}:${ctx.ports.kafka}`]);
  },
};
