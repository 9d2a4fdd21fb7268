/**
 * The monitor's Prometheus metrics (prom-client), set from each Snapshot.
 * Names follow Prometheus' conventions: `astros_` prefix, base units in the
 * name (`_bytes`, `_seconds`, `_messages`), `_total` for counters, and the
 * table, slot, topic or component as labels.
 *
 * Counters mirror absolute counts the pipeline keeps itself (rows in a
 * change log, in astros.kafka_errors, in ingest_runs), so they are right
 * from the first sample after a restart. A count that drops (rows expired by
 * the change log's or kafka_errors' TTL, a table emptied) is not a reset:
 * the counter keeps its value and counts growth from the new level, so
 * rate() and increase() (the dead-letters alert) never read the remaining
 * rows as new ones.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { pipelineNames } from '../shared/names.ts';
import { INGEST_TABLE } from '../shared/workflows.ts';
import type { Series } from './alerts.ts';
import { latencyBuckets, notRegistered, stoppedStates, type Snapshot } from './collect.ts';

const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);

export class MonitorMetrics {
  readonly registry = new Registry();
  private readonly counted = new Map<string, number>();

  private gauge(name: string, help: string, labelNames: string[] = []) {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  readonly componentUp = this.gauge('astros_component_up', 'Whether the component answered the last sample (1) or not (0).', ['component']);
  readonly slotLag = this.gauge('astros_replication_slot_lag_bytes', "WAL written that the slot's consumer (Debezium) has not confirmed: current LSN − confirmed_flush_lsn.", ['slot']);
  readonly slotRetained = this.gauge('astros_replication_slot_retained_wal_bytes', 'WAL Postgres keeps on disk for the slot: current LSN − restart_lsn.', ['slot']);
  readonly slotLimit = this.gauge('astros_replication_slot_wal_limit_bytes', 'max_slot_wal_keep_size (absent when unlimited).', ['slot']);
  readonly slotRatio = this.gauge('astros_replication_slot_retained_wal_ratio', 'Retained WAL as a fraction of max_slot_wal_keep_size (absent when unlimited).', ['slot']);
  readonly slotActive = this.gauge('astros_replication_slot_active', 'Whether a consumer is connected to the slot.', ['slot']);
  readonly slotLost = this.gauge(
    'astros_replication_slot_lost',
    "1 when the slot cannot be read: lost (wal_status lost) or, for a table group's slot, missing; 0 for every other logical slot of the database.",
    ['slot'],
  );
  readonly replicaUp = this.gauge('astros_clickhouse_replica_up', 'With a ClickHouse replica set: whether each replica (ch1, ch2, ...) answered the last sample (1) or not (0).', ['replica']);
  readonly replicaReads = this.gauge('astros_clickhouse_replica_reads', 'With a ClickHouse replica set: 1 for the replica reads went to in the last sample (the primary, or the next that answers).', ['replica']);
  readonly replicaLag = this.gauge('astros_clickhouse_replica_lag_messages', "With a ClickHouse replica set: messages of every captured topic that the replica's own consumer groups have not committed.", ['replica']);
  readonly consumerLag = this.gauge('astros_kafka_consumer_lag_messages', "Messages in the table's topic that ClickHouse's consumer group has not committed.", ['table', 'topic', 'group']);
  readonly partitionLag = this.gauge(
    'astros_kafka_consumer_partition_lag_messages',
    "The same per partition of the topic: one partition stuck behind (its leader cut off) shows here while the table's sum stays small.",
    ['table', 'topic', 'group', 'partition'],
  );
  readonly changes = new Counter({ name: 'astros_changes_applied_total', help: "Changes ClickHouse applied: rows in the table's change log.", labelNames: ['table'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'astros_commit_to_visible_seconds',
    help: 'Commit in Postgres (commit_ts) to visible in the ClickHouse change log (ingested_at), per change; snapshot reads excluded.',
    labelNames: ['table'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly newestLatency = this.gauge('astros_newest_change_latency_seconds', 'Commit to visible in ClickHouse of the newest change in the change log.', ['table']);
  readonly debeziumLag = this.gauge(
    'astros_debezium_lag_seconds',
    "Debezium's lag behind the source, from the change log: when Debezium processed the newest change (captured_ts) − its commit time (commit_ts).",
    ['table'],
  );
  readonly newestCommit = this.gauge('astros_clickhouse_newest_commit_timestamp_seconds', 'Commit time of the newest change applied to the current-state table (max version).', ['table']);
  readonly deadLetters = new Counter({
    name: 'astros_dead_letters_total',
    help: 'Dead letters: Kafka messages ClickHouse could not parse (stage="clickhouse", astros.kafka_errors) and feed records ingest rejected (stage="ingest", ingest_rejects).',
    labelNames: ['table', 'stage'],
    registers: [this.registry],
  });
  readonly ingestRuns = new Counter({ name: 'astros_ingest_runs_total', help: 'Ingest runs recorded in ingest_runs, by status (applied, stale).', labelNames: ['status'], registers: [this.registry] });
  readonly ingestLast = this.gauge('astros_ingest_last_applied_timestamp_seconds', 'When the newest applied ingest run was written.');
  readonly ingestFailures = this.gauge('astros_ingest_consecutive_failures', 'How many of the newest closed ingestAstronauts workflows failed in a row (Temporal visibility).');
  readonly validationOutcome = this.gauge('astros_validation_last_outcome', 'Outcome of the latest validatePipeline report per table: 1 for its outcome (agree, mismatch, lag), 0 for the others.', ['table', 'outcome']);
  readonly validationDiff = this.gauge('astros_validation_last_differences', 'Rows missing, extra or different in the latest validatePipeline report.', ['table']);
  readonly validationTime = this.gauge('astros_validation_last_timestamp_seconds', 'When the latest validatePipeline report finished.', ['table']);
  readonly connectorTasks = this.gauge('astros_connector_tasks', 'Debezium connector tasks by state (RUNNING, FAILED, PAUSED, ...).', ['connector', 'state']);
  readonly connectorNotRunning = this.gauge(
    'astros_connector_tasks_not_running',
    'Tasks of the connector neither RUNNING nor FAILED (UNASSIGNED, PAUSED, RESTARTING; FAILED has its own alert), or 1 for a registered connector with no task.',
    ['connector'],
  );
  readonly connectorTaskWorker = this.gauge('astros_connector_task_worker', 'Which Connect worker (host:port) runs each task of the connector (1 for the worker that runs it).', ['connector', 'task', 'worker']);
  readonly brokerUp = this.gauge('astros_kafka_broker_up', "Whether each broker of KAFKA_BROKERS is in the cluster's metadata (1) or not: dead, cut off or fenced (0).", ['broker']);
  readonly brokersDown = this.gauge('astros_kafka_brokers_down', "Brokers of KAFKA_BROKERS missing from the cluster's metadata.");
  readonly underReplicated = this.gauge('astros_kafka_under_replicated_partitions', 'Partitions with fewer in-sync replicas than replicas, per topic (absent: none).', ['topic']);
  readonly offlinePartitions = this.gauge('astros_kafka_offline_partitions', 'Partitions without a leader (nothing is written to or read from them).');
  readonly tableStopped = this.gauge(
    'astros_table_stopped',
    'Whether a table of the live catalog stopped reaching ClickHouse (1: state blocked or dropped, with the one-line reason) or not (0), by its catalog state.',
    ['table', 'state', 'reason'],
  );
  readonly backupTime = this.gauge('astros_backup_last_success_timestamp_seconds', 'When the newest complete backup in BACKUP_TARGET was made (absent: none yet).');
  readonly backupAge = this.gauge('astros_backup_last_success_age_seconds', 'Age of the newest complete backup in BACKUP_TARGET (absent: none yet, or the target did not answer).');
  readonly sampleSeconds = this.gauge('astros_monitor_sample_duration_seconds', 'How long the last sample took.');
  readonly restarts = new Counter({
    name: 'astros_component_restarts_total',
    help: "Processes the native stack's supervisor started again after a component exited unexpectedly (its restarts.json).",
    labelNames: ['component'],
    registers: [this.registry],
  });

  /** Advance a counter to an absolute count (a smaller count means the source was emptied: start again). */
  private syncCounter(c: Counter, labels: Record<string, string>, absolute: number): void {
    const key = `${(c as unknown as { name: string }).name}${JSON.stringify(labels)}`;
    const last = this.counted.get(key);
    c.inc(labels, last === undefined ? absolute : Math.max(0, absolute - last));
    this.counted.set(key, absolute);
  }

  apply(s: Snapshot, sampleSeconds: number): void {
    for (const g of [this.backupTime, this.backupAge, this.slotLag, this.slotRetained, this.slotLimit, this.slotRatio, this.slotActive, this.slotLost, this.consumerLag, this.partitionLag, this.newestLatency, this.debeziumLag, this.newestCommit, this.validationOutcome, this.validationDiff, this.validationTime, this.connectorTasks, this.connectorNotRunning, this.connectorTaskWorker, this.brokerUp, this.brokersDown, this.underReplicated, this.offlinePartitions, this.replicaUp, this.replicaReads, this.replicaLag]) g.reset();
    for (const [component, up] of Object.entries(s.components)) this.componentUp.set({ component }, up ? 1 : 0);
    for (const r of s.replicas ?? []) {
      this.replicaUp.set({ replica: r.replica }, r.up ? 1 : 0);
      this.replicaReads.set({ replica: r.replica }, r.reads ? 1 : 0);
      this.replicaLag.set({ replica: r.replica }, r.kafka.reduce((n, k) => n + k.lag, 0));
      // Every replica's groups by table, beside the reader's (the group label tells them apart).
      for (const k of r.kafka) if (!r.reads) this.consumerLag.set({ table: s.tables.find((t) => t.topic === k.topic)?.source ?? k.topic, topic: k.topic, group: k.group }, k.lag);
    }
    this.sampleSeconds.set(sampleSeconds);

    // One series per table group's slot (each group has its own: shared/names.ts groupNames).
    const groupSlots = s.lag?.groups ?? (s.lag ? [s.lag.postgres] : []);
    for (const p of groupSlots) {
      if (!p.slotFound) continue;
      const slot = { slot: p.slot };
      if (p.flushLagBytes !== null) this.slotLag.set(slot, p.flushLagBytes);
      if (p.retainedWalBytes !== null) this.slotRetained.set(slot, p.retainedWalBytes);
      this.slotActive.set(slot, p.active ? 1 : 0);
      if (s.slotLimitBytes !== null) {
        this.slotLimit.set(slot, s.slotLimitBytes);
        if (p.retainedWalBytes !== null) this.slotRatio.set(slot, p.retainedWalBytes / s.slotLimitBytes);
      }
    }
    if (s.components.postgres) {
      for (const x of s.slots) this.slotLost.set({ slot: x.slot }, x.walStatus === 'lost' ? 1 : 0);
      // A group's slot that does not exist is lost too (the default group's even when the lag report failed).
      for (const slot of new Set([pipelineNames.slot, ...groupSlots.map((p) => p.slot)])) if (!s.slots.some((x) => x.slot === slot)) this.slotLost.set({ slot }, 1);
    }
    for (const t of s.tables) {
      const table = { table: t.source };
      this.syncCounter(this.changes, table, t.changes);
      this.syncCounter(this.deadLetters, { ...table, stage: 'clickhouse' }, t.deadLetters);
      // Zeroed once, so the first changes show as growth from 0 (rate() and the page's chart see them).
      if (!this.counted.has(`latency${t.source}`)) this.latency.zero(table);
      this.counted.set(`latency${t.source}`, 0);
      for (const g of t.latency) for (let i = 0; i < g.count; i++) this.latency.observe(table, g.avg);
      if (t.newestLatencySeconds !== null) this.newestLatency.set(table, t.newestLatencySeconds);
      if (t.debeziumLagSeconds !== null) this.debeziumLag.set(table, t.debeziumLagSeconds);
      const k = s.lag?.kafka.find((x) => x.topic === t.topic);
      if (k) this.consumerLag.set({ ...table, topic: k.topic, group: k.group }, k.lag);
      for (const p of k?.byPartition ?? []) this.partitionLag.set({ ...table, topic: k!.topic, group: k!.group, partition: String(p.partition) }, p.lag);
      const c = s.lag?.clickhouse.find((x) => x.table === t.current);
      const commit = seconds(c?.newestCommit);
      if (commit !== undefined) this.newestCommit.set(table, commit);
    }
    if (s.components.postgres) {
      this.syncCounter(this.deadLetters, { table: INGEST_TABLE, stage: 'ingest' }, s.ingest.rejects);
      for (const status of ['applied', 'stale']) this.syncCounter(this.ingestRuns, { status }, s.ingest.runs[status] ?? 0);
    }
    const last = seconds(s.ingest.lastAppliedAt);
    if (last !== undefined) this.ingestLast.set(last);
    if (s.ingest.consecutiveFailures !== null) this.ingestFailures.set(s.ingest.consecutiveFailures);
    for (const v of s.validations) {
      for (const outcome of ['agree', 'mismatch', 'lag']) this.validationOutcome.set({ table: v.source, outcome }, v.outcome === outcome ? 1 : 0);
      this.validationDiff.set({ table: v.source }, v.differences);
      this.validationTime.set({ table: v.source }, Date.parse(v.finishedAt) / 1000);
    }
    // Kept as they were while Postgres does not answer: a stopped table's alert must not end because the catalog could not be read.
    if (s.components.postgres) {
      this.tableStopped.reset();
      for (const t of s.tableStates) {
        const stopped = stoppedStates.includes(t.state);
        // The reason travels as a label so the alert (here and in Prometheus) says why; cut to keep the series readable.
        this.tableStopped.set({ table: t.source, state: t.state, reason: stopped ? (t.reason ?? '').slice(0, 600) : '' }, stopped ? 1 : 0);
      }
    }
    if (s.lastBackup) {
      this.backupTime.set(Date.parse(s.lastBackup.createdAt) / 1000);
      this.backupAge.set(Math.max(0, (s.at - Date.parse(s.lastBackup.createdAt)) / 1000));
    }
    for (const c of s.connectors ?? (s.connector ? [s.connector] : [])) {
      const byState = new Map<string, number>([['RUNNING', 0], ['FAILED', 0]]);
      for (const t of c.tasks) byState.set(t.state, (byState.get(t.state) ?? 0) + 1);
      for (const [state, n] of byState) this.connectorTasks.set({ connector: c.name, state }, n);
      // A connector Connect does not know has no series: nothing is registered to run (setup registers it).
      if (c.state !== notRegistered) this.connectorNotRunning.set({ connector: c.name }, c.tasks.length === 0 ? 1 : c.tasks.filter((t) => t.state !== 'RUNNING' && t.state !== 'FAILED').length);
      for (const t of c.tasks) if (t.worker) this.connectorTaskWorker.set({ connector: c.name, task: String(t.id), worker: t.worker }, 1);
    }
    const k = s.kafkaCluster;
    if (k) {
      for (const b of k.brokers) this.brokerUp.set({ broker: b.address }, b.up ? 1 : 0);
      this.brokersDown.set(k.brokers.filter((b) => !b.up).length);
      const byTopic = new Map<string, number>();
      for (const p of k.underReplicated) byTopic.set(p.topic, (byTopic.get(p.topic) ?? 0) + 1);
      for (const [topic, n] of byTopic) this.underReplicated.set({ topic }, n);
      this.offlinePartitions.set(k.offline.length);
    }
  }

  /** Restarts per component, as the native stack's supervisor counts them. */
  applyRestarts(counts: Record<string, number>): void {
    for (const [component, n] of Object.entries(counts)) this.syncCounter(this.restarts, { component }, n);
  }

  /** Every series' current value; histograms as their _sum and _count (buckets left out). */
  async series(): Promise<Series[]> {
    const out: Series[] = [];
    for (const m of await this.registry.getMetricsAsJSON()) {
      for (const v of m.values) {
        const metric = (v as { metricName?: string }).metricName ?? m.name;
        if (metric.endsWith('_bucket')) continue;
        out.push({ metric, labels: Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])), value: v.value });
      }
    }
    return out;
  }

  /** Every metric name this monitor exports (histograms with their _bucket, _sum, _count series). */
  names(): string[] {
    return this.registry.getMetricsAsArray().flatMap((m) => {
      const name = (m as unknown as { name: string }).name;
      return m instanceof Histogram ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
    });
  }
}
