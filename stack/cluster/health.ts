/**
 * What `stack status --profile cluster` adds below the hosts: the cluster as
 * its engines see it, named by host. Kafka: which brokers the cluster's
 * metadata lists (a dead, cut-off or fenced broker is missing from it), how
 * many partitions are under-replicated or offline. Connect: which worker runs
 * the connector and each of its tasks (asked of any worker that answers).
 * A part that does not answer says so in its line.
 */
import { kafkaClient } from '../../connectors/kafka/client.ts';
import { kafkaClusterHealth } from '../../connectors/kafka/topics.ts';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { pipelineNames } from '../../shared/names.ts';

export interface HostAddress {
  host: string;
  address: string;
}

/** `10.0.0.13:9092` → `kafka1 (10.0.0.13)` when a host has the address. */
const named = (hosts: HostAddress[], hostPort: string): string => {
  const address = hostPort.replace(/:\d+$/, '');
  const h = hosts.find((x) => x.address === address);
  return h ? `${h.host} (${address})` : hostPort;
};

export async function clusterHealthLines(brokers: string[], connectUrls: string[], hosts: HostAddress[]): Promise<string[]> {
  const lines: string[] = [];
  try {
    const k = await kafkaClusterHealth(kafkaClient(brokers, 'astros-stack', { probe: true }), brokers);
    const down = k.brokers.filter((b) => !b.up);
    lines.push(
      `kafka      brokers up ${k.brokers.length - down.length}/${k.brokers.length}${down.length > 0 ? ` (DOWN: ${down.map((b) => named(hosts, b.address)).join(', ')})` : ''}; ` +
        `under-replicated partitions ${k.underReplicated.length}; offline partitions ${k.offline.length}`,
    );
  } catch (err) {
    lines.push(`kafka      not answering: ${(err as Error).message}`);
  }
  let status;
  for (const url of connectUrls) {
    status = await new KafkaConnect(url).status(pipelineNames.connector, 3000).catch(() => undefined);
    if (status) break;
  }
  if (!status) lines.push(`connector  ${pipelineNames.connector}: no Connect worker answers, or it is not registered`);
  else {
    const on = (w?: string) => (w ? ` on ${named(hosts, w)}` : '');
    const tasks = status.tasks.map((t) => `task ${t.id} ${t.state}${on(t.worker_id)}`);
    lines.push(`connector  ${pipelineNames.connector} ${status.connector.state}${on(status.connector.worker_id)}; ${tasks.join('; ') || 'no task'}`);
  }
  return lines;
}
