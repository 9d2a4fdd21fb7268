/**
 * Kafka (kafkajs): the one place a client is made. Admin work opens an admin
 * connection for the call and closes it after.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';

export type { Admin, Kafka };

export interface KafkaOptions {
  /** Fail fast instead of kafkajs' retries (health probes). */
  probe?: boolean;
}

export function kafkaClient(brokers: string[], clientId: string, opts: KafkaOptions = {}): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    ...(opts.probe ? { connectionTimeout: 1000, requestTimeout: 2000, retry: { retries: 0 } } : {}),
  });
}

/** An admin connection for `fn`, closed after it. */
export async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Does the cluster answer? A metadata round trip, not just an open port: the
 * socket accepts connections before the broker has joined the quorum.
 */
export async function kafkaAnswers(brokers: string[]): Promise<boolean> {
  try {
    return await withAdmin(kafkaClient(brokers, 'astros-health', { probe: true }), async (admin) => {
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 && cluster.controller !== null;
    });
  } catch {
    return false;
  }
}
