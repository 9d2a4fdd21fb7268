/**
 * How long the pipeline keeps what passed through it, and the trade-off.
 *
 *   the per-message record   <t>_changelog   ClickHouse TTL on ingested_at
 *   the error stream         kafka_errors    ClickHouse TTL on received_at
 *   the topics               <prefix>.<schema>.<table>   Kafka retention.ms
 *
 * Never expired: the current state `<t>` (it must hold every live row) and
 * the deduplicated change log `<t>_changes`, which the SCD2 history is built
 * from: a key whose only change (its insert) expired would vanish from the
 * history while it is still live, and a key's first remaining version would
 * look like its first. Bounding history needs a compaction that keeps each
 * key's version open at the cut, not a TTL.
 *
 * Rewinds read the topic again (a replay, the schema-change rewind of a
 * consumer group), so they only reach back as far as the topic retention;
 * the change log TTL only bounds what `<t>_changelog` keeps for accounting.
 *
 * Pure: the settings come from config/ (defaults there), a table may
 * override them in its declaration.
 */
import { FOREVER, parseRetention } from '../shared/duration.ts';

/** Milliseconds to keep; 0 keeps forever. */
export interface Retention {
  /** `<t>_changelog` rows, by ingested_at. */
  changelogMs: number;
  /** `kafka_errors` rows, by received_at. */
  errorsMs: number;
  /** The captured tables' topics (retention.ms). */
  topicMs: number;
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const INTERVAL = [
  ['DAY', UNIT_MS.d],
  ['HOUR', UNIT_MS.h],
  ['MINUTE', UNIT_MS.m],
  ['SECOND', UNIT_MS.s],
] as const;

/** A ClickHouse TTL expression deleting rows older than `ms` by `column`, or undefined to keep them forever. */
export function ttlExpression(column: string, ms: number): string | undefined {
  if (ms === FOREVER) return undefined;
  const [unit, size] = INTERVAL.find(([, s]) => ms % s === 0) ?? INTERVAL[3];
  return `${column} + INTERVAL ${Math.max(1, Math.round(ms / size))} ${unit}`;
}

/** The TTL clause of a MergeTree's engine_full (`MergeTree ORDER BY k TTL x + toIntervalDay(30) SETTINGS ...`), if any. */
export function ttlOf(engineFull: string): string | undefined {
  return / TTL (.+?)(?: SETTINGS |$)/.exec(engineFull)?.[1];
}

/** Kafka's retention.ms for a retention (-1: never delete by time). */
export function topicRetentionMs(ms: number): string {
  return ms === FOREVER ? '-1' : String(ms);
}

/** A table's own retention: the declaration's overrides, else the pipeline's settings. */
export function tableRetention(declared: { changelog?: string; topic?: string } | undefined, defaults: Retention): Retention {
  const pick = (text: string | undefined, fallback: number) => (text === undefined ? fallback : (parseRetention(text) ?? fallback));
  return { changelogMs: pick(declared?.changelog, defaults.changelogMs), errorsMs: defaults.errorsMs, topicMs: pick(declared?.topic, defaults.topicMs) };
}

/** A topic config entry as Kafka describes it (DescribeConfigs); source 1 is an override set on the topic itself. */
export interface TopicConfigEntry {
  configName: string;
  configValue: string | null;
  configSource: number;
}

const TOPIC_CONFIG = 1;

/**
 * What to send so that a topic's own retention.ms is `ms`, or undefined when it
 * already is. AlterConfigs replaces the whole set of a topic's overrides, so
 * the others are sent again as they are; a value inherited from the broker
 * is replaced by an explicit one (a later broker default must not move it).
 */
export function topicRetentionUpdate(entries: TopicConfigEntry[], ms: number): { from: string; to: string; entries: { name: string; value: string }[] } | undefined {
  const want = topicRetentionMs(ms);
  const have = entries.find((e) => e.configName === 'retention.ms');
  const own = have?.configSource === TOPIC_CONFIG;
  if (own && have.configValue === want) return undefined;
  const keep = entries
    .filter((e) => e.configSource === TOPIC_CONFIG && e.configName !== 'retention.ms' && e.configValue !== null)
    .map((e) => ({ name: e.configName, value: e.configValue! }));
  const from = have?.configValue == null ? '(unset)' : `${have.configValue}${own ? '' : ' (broker default)'}`;
  return { from, to: want, entries: [...keep, { name: 'retention.ms', value: want }] };
}

/** How long both the change log and kafka_errors keep a row (0: forever): the window an offset can be accounted for in. */
export function rowsKeptMs(r: Retention): number {
  const kept = [r.changelogMs, r.errorsMs].filter((ms) => ms !== FOREVER);
  return kept.length === 0 ? FOREVER : Math.min(...kept);
}
