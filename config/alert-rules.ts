/**
 * The one threshold table. Every alert the monitor sends and every Prometheus
 * alert rule it generates comes from a row here: the metric it reads, how
 * (its value, or its increase over a window), the threshold and how long the
 * condition must hold. Each threshold and duration is an environment variable
 * (read in config/load.ts, listed in .env.example with the default below).
 *
 * Pure: no I/O. The monitor (monitor/alerts.ts) and Prometheus evaluate the
 * same condition on the same series, so both fire on the same labels.
 */

export type AlertKind =
  | 'validation_mismatch'
  | 'consumer_lag'
  | 'slot_lag'
  | 'dead_letters'
  | 'wal_retained'
  | 'connector_failed'
  | 'connector_not_running'
  | 'ingest_failing'
  | 'table_stopped'
  | 'slot_lost'
  | 'backup_stale'
  | 'kafka_broker_down'
  | 'under_replicated';

export interface AlertRule {
  kind: AlertKind;
  /** Prometheus alert name. */
  alert: string;
  /** The exported metric the condition reads, with an optional label matcher. */
  metric: string;
  match?: Record<string, string>;
  /** `value`: the series' value; `increase`: how much a counter grew over the `for` window. */
  fn: 'value' | 'increase';
  op: '>' | '>=';
  threshold: { env: string; default: number; unit: string };
  /**
   * `value`: how long the condition must hold before it fires (Prometheus' `for`);
   * `increase`: the window the counter's growth is measured over.
   */
  for: { env: string; default: string };
  severity: 'critical' | 'warning';
  summary: string;
}

export const alertRules: readonly AlertRule[] = [
  {
    kind: 'validation_mismatch',
    alert: 'AstrosValidationMismatch',
    metric: 'astros_validation_last_differences',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_VALIDATION_MISMATCH_THRESHOLD', default: 0, unit: 'rows' },
    for: { env: 'ALERT_VALIDATION_MISMATCH_FOR', default: '0s' },
    severity: 'critical',
    summary: 'the latest validatePipeline run found rows that differ between Postgres and ClickHouse',
  },
  {
    kind: 'consumer_lag',
    alert: 'AstrosConsumerLag',
    metric: 'astros_kafka_consumer_lag_messages',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_CONSUMER_LAG_THRESHOLD', default: 1000, unit: 'messages' },
    for: { env: 'ALERT_CONSUMER_LAG_FOR', default: '2m' },
    severity: 'warning',
    summary: "ClickHouse's Kafka consumer is behind the topic",
  },
  {
    kind: 'slot_lag',
    alert: 'AstrosReplicationSlotLag',
    metric: 'astros_replication_slot_lag_bytes',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_SLOT_LAG_THRESHOLD', default: 64 * 1024 * 1024, unit: 'bytes' },
    for: { env: 'ALERT_SLOT_LAG_FOR', default: '5m' },
    severity: 'warning',
    summary: 'Debezium has not confirmed WAL that Postgres wrote (slot confirmed_flush_lsn behind)',
  },
  {
    kind: 'dead_letters',
    alert: 'AstrosNewDeadLetters',
    metric: 'astros_dead_letters_total',
    fn: 'increase',
    op: '>',
    threshold: { env: 'ALERT_DEAD_LETTERS_THRESHOLD', default: 0, unit: 'messages' },
    for: { env: 'ALERT_DEAD_LETTERS_FOR', default: '15m' },
    severity: 'warning',
    summary: 'new dead letters: Kafka messages ClickHouse could not parse, or feed records ingest rejected',
  },
  {
    kind: 'wal_retained',
    alert: 'AstrosRetainedWalNearLimit',
    metric: 'astros_replication_slot_retained_wal_ratio',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_WAL_RETAINED_THRESHOLD', default: 0.8, unit: 'ratio of max_slot_wal_keep_size' },
    for: { env: 'ALERT_WAL_RETAINED_FOR', default: '1m' },
    severity: 'critical',
    summary: "the WAL the slot retains is close to max_slot_wal_keep_size (past it, Postgres invalidates the slot)",
  },
  {
    kind: 'connector_failed',
    alert: 'AstrosConnectorTaskFailed',
    metric: 'astros_connector_tasks',
    match: { state: 'FAILED' },
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_CONNECTOR_FAILED_THRESHOLD', default: 0, unit: 'tasks' },
    for: { env: 'ALERT_CONNECTOR_FAILED_FOR', default: '0s' },
    severity: 'critical',
    summary: 'a Debezium connector task is FAILED (debezium/status.sh shows its trace; --restart restarts it)',
  },
  {
    kind: 'connector_not_running',
    alert: 'AstrosConnectorTaskNotRunning',
    metric: 'astros_connector_tasks_not_running',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_CONNECTOR_NOT_RUNNING_THRESHOLD', default: 0, unit: 'tasks' },
    // Longer than a task moving to another worker (session 10 s + rebalance delay 10 s in the cluster) or restarting.
    for: { env: 'ALERT_CONNECTOR_NOT_RUNNING_FOR', default: '2m' },
    severity: 'critical',
    summary: 'a Debezium connector task is neither RUNNING nor FAILED (UNASSIGNED, PAUSED, RESTARTING) or the connector has no task: nothing is captured for its tables (debezium/status.sh shows where it stands)',
  },
  {
    kind: 'ingest_failing',
    alert: 'AstrosIngestFailing',
    metric: 'astros_ingest_consecutive_failures',
    fn: 'value',
    op: '>=',
    threshold: { env: 'ALERT_INGEST_FAILING_THRESHOLD', default: 3, unit: 'runs' },
    for: { env: 'ALERT_INGEST_FAILING_FOR', default: '0s' },
    severity: 'warning',
    summary: 'the latest ingestAstronauts runs failed one after the other',
  },
  {
    kind: 'table_stopped',
    alert: 'AstrosTableStopped',
    metric: 'astros_table_stopped',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_TABLE_STOPPED_THRESHOLD', default: 0, unit: 'tables' },
    for: { env: 'ALERT_TABLE_STOPPED_FOR', default: '0s' },
    severity: 'critical',
    summary: "a captured table stopped reaching ClickHouse: blocked (a schema change it cannot take, a failed add) or dropped (dropped or renamed in Postgres); the reason label says why and what to do",
  },
  {
    kind: 'slot_lost',
    alert: 'AstrosReplicationSlotLost',
    metric: 'astros_replication_slot_lost',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_SLOT_LOST_THRESHOLD', default: 0, unit: 'slots' },
    for: { env: 'ALERT_SLOT_LOST_FOR', default: '0s' },
    severity: 'critical',
    summary: 'the replication slot is lost (WAL it needed is gone) or missing (dropped, or the source failed over): no change is captured until npm run recover',
  },
  {
    kind: 'backup_stale',
    alert: 'AstrosBackupStale',
    metric: 'astros_backup_last_success_age_seconds',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_BACKUP_STALE_THRESHOLD', default: 26 * 3600, unit: 'seconds' },
    for: { env: 'ALERT_BACKUP_STALE_FOR', default: '0s' },
    severity: 'warning',
    summary: 'the newest complete backup is older than the threshold (a daily schedule missed a run, or backups fail)',
  },
  {
    kind: 'kafka_broker_down',
    alert: 'AstrosKafkaBrokerDown',
    metric: 'astros_kafka_brokers_down',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_KAFKA_BROKER_DOWN_THRESHOLD', default: 0, unit: 'brokers' },
    for: { env: 'ALERT_KAFKA_BROKER_DOWN_FOR', default: '0s' },
    severity: 'critical',
    summary: "a broker of KAFKA_BROKERS is missing from the cluster's metadata (dead, cut off or fenced): its partitions' leaders moved and their replicas are one short (astros_kafka_broker_up says which)",
  },
  {
    kind: 'under_replicated',
    alert: 'AstrosKafkaUnderReplicated',
    metric: 'astros_kafka_under_replicated_partitions',
    fn: 'value',
    op: '>',
    threshold: { env: 'ALERT_UNDER_REPLICATED_THRESHOLD', default: 0, unit: 'partitions' },
    for: { env: 'ALERT_UNDER_REPLICATED_FOR', default: '1m' },
    severity: 'warning',
    summary: 'partitions have fewer in-sync replicas than replicas: one more broker lost and writes to them stop (min.insync.replicas)',
  },
];

/** A rule with the thresholds of this environment. */
export interface ResolvedRule extends AlertRule {
  value: number;
  forMs: number;
  /** `for` as written (Prometheus duration). */
  forText: string;
}

export function ruleByKind(kind: AlertKind): AlertRule {
  return alertRules.find((r) => r.kind === kind)!;
}

/** `metric{a="b"}` */
export function selector(rule: Pick<AlertRule, 'metric' | 'match'>): string {
  const m = Object.entries(rule.match ?? {}).map(([k, v]) => `${k}="${v}"`);
  return m.length > 0 ? `${rule.metric}{${m.join(',')}}` : rule.metric;
}

/** The PromQL condition of a rule. */
export function promExpr(rule: ResolvedRule): string {
  const series = rule.fn === 'increase' ? `increase(${selector(rule)}[${rule.forText}])` : selector(rule);
  return `${series} ${rule.op} ${rule.value}`;
}

/** Does a value cross the rule's threshold? */
export function crosses(rule: Pick<ResolvedRule, 'op' | 'value'>, v: number): boolean {
  return rule.op === '>' ? v > rule.value : v >= rule.value;
}

const yamlString = (s: string) => JSON.stringify(s);

/** Prometheus alerting rules (YAML) for `promtool check rules` and Prometheus' rule_files. */
export function prometheusRules(rules: readonly ResolvedRule[]): string {
  const lines = [
    '# Generated from config/alert-rules.ts (the threshold table) with this environment\'s thresholds:',
    '#   npm run monitor -- rules > rules.yml',
    'groups:',
    '  - name: astros-cdc',
    '    rules:',
  ];
  for (const r of rules) {
    lines.push(
      `      - alert: ${r.alert}`,
      `        expr: ${yamlString(promExpr(r))}`,
      ...(r.fn === 'value' && r.forMs > 0 ? [`        for: ${r.forText}`] : []),
      '        labels:',
      `          severity: ${r.severity}`,
      `          kind: ${r.kind}`,
      '        annotations:',
      `          summary: ${yamlString(r.summary)}`,
      `          description: ${yamlString(`${selector(r)}${r.fn === 'increase' ? ` grew by {{ $value }} in ${r.forText}` : ` is {{ $value }}`} (threshold ${r.op} ${r.value} ${r.threshold.unit}; ${r.threshold.env})`)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
