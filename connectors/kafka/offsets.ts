/**
 * Offsets: a topic's ends, a consumer group's committed positions, how far a
 * group is behind, rewinding a group, the offset at a time.
 */
import type { Admin, Kafka } from 'kafkajs';
import { withAdmin } from './client.ts';

export interface PartitionEnds {
  partition: number;
  /** First offset Kafka still holds. */
  low: bigint;
  /** High watermark: the next offset to be written. */
  high: bigint;
}

export async function topicEnds(admin: Admin, topic: string): Promise<PartitionEnds[]> {
  return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) }));
}

/** The group's committed offset per partition; -1 where it has committed nothing. */
export async function committedOffsets(admin: Admin, group: string, topic: string): Promise<Map<number, bigint>> {
  const [g] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return new Map((g?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
}

/** One partition of `behind`: its end, where the group is, and what it still has to read there. */
export interface PartitionBehind {
  partition: number;
  end: bigint;
  done: bigint;
  pending: bigint;
}

/**
 * How far the group is from `ends` (a partition it never committed on counts from its low watermark):
 * `lag` is the sums' difference (the lag report's figure); `pending` counts, per partition, only what
 * lies below its end, so a group that has read past ends read earlier (the topic kept growing) has
 * nothing pending there instead of making up for another partition's shortfall. `partitions`: the
 * same per partition, in partition order (one stuck partition hides in a sum the others keep small).
 */
export function behind(ends: PartitionEnds[], committed: Map<number, bigint>): { end: bigint; done: bigint; lag: bigint; pending: bigint; partitions: PartitionBehind[] } {
  let end = 0n;
  let done = 0n;
  let pending = 0n;
  const partitions: PartitionBehind[] = [];
  for (const e of [...ends].sort((a, b) => a.partition - b.partition)) {
    const c = committed.get(e.partition) ?? -1n;
    const at = c >= 0n ? c : e.low;
    const short = at < e.high ? e.high - at : 0n;
    end += e.high;
    done += at;
    pending += short;
    partitions.push({ partition: e.partition, end: e.high, done: at, pending: short });
  }
  return { end, done, lag: end - done, pending, partitions };
}

/** The first offset of each partition whose message is at or after `ms` (epoch milliseconds). */
export async function offsetsAtTime(admin: Admin, topic: string, ms: number): Promise<Map<number, bigint>> {
  return new Map((await admin.fetchTopicOffsetsByTimestamp(topic, ms)).map((p) => [p.partition, BigInt(p.offset)]));
}

/**
 * The partitions a rewind to `to` moves, each on its own: one the group never committed on, or has
 * committed past its target, goes back; one still at or before its target stays (never forward).
 */
export function rewindMoves(committed: Map<number, bigint>, to: { partition: number; offset: string }[]): { partition: number; offset: string }[] {
  return to.filter((p) => {
    const at = committed.get(p.partition);
    return !(at !== undefined && at >= 0n && at <= BigInt(p.offset));
  });
}

/**
 * Set the group's offsets back to these (never forward: a consumer recreated earlier may not have
 * read that far again yet). The group must be empty: a dropped consumer leaves it only once the
 * broker has seen it go, so this retries for up to a minute, calling `waiting` between tries.
 * Returns the partitions moved.
 */
export async function rewindGroup(
  kafka: Kafka,
  group: string,
  topic: string,
  to: { partition: number; offset: string }[],
  waiting: () => void = () => undefined,
): Promise<{ partition: number; offset: string }[]> {
  return withAdmin(kafka, async (admin) => {
    const moves = rewindMoves(await committedOffsets(admin, group, topic), to);
    if (moves.length === 0) return [];
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.setOffsets({ groupId: group, topic, partitions: moves });
        return moves;
      } catch (err) {
        if (attempt >= 60) throw new Error(`could not rewind consumer group ${group}: ${(err as Error).message}`, { cause: err });
        waiting();
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  });
}
