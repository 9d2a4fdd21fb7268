/**
 * The groups scenario's figures: flat metrics per run, and the table and the
 * note that names the component limiting the second group, from the CPU
 * figures (printed, never asserted).
 */
import { cpuGroups, groupLabels, type CpuGroup } from './cpu.ts';
import type { GroupsConfig, GroupsResult } from './groups.ts';
import { cell, ratio, type Summary } from './stats.ts';

/** "groups.<oneGroup|twoGroups>.<metric>": changes/s, CPU per change net (per component, total), gross total, cores used (gross, per component). */
export function groupsMetrics(m: Record<string, number>, key: GroupsConfig['key'], r: GroupsResult): void {
  const k = `groups.${key}`;
  m[`${k}.changesPerSec`] = r.changesPerSec;
  m[`${k}.drainAfterCommitMs`] = r.drainAfterCommitMs;
  for (const g of [...cpuGroups, 'total'] as const) m[`${k}.cpuNet.${g}`] = r.cpu.net[g];
  m[`${k}.cpuGross.total`] = r.cpu.gross.total;
  // Cores each component kept busy over the window (gross: what the box had to give).
  for (const g of [...cpuGroups, 'total'] as const) m[`${k}.cores.${g}`] = (r.cpu.gross[g] * r.cpu.changes) / r.cpu.seconds / 1e6;
}

const configs: { key: GroupsConfig['key']; label: string }[] = [
  { key: 'oneGroup', label: 'one group (1 slot, 1 connector)' },
  { key: 'twoGroups', label: 'two groups (2 slots, 2 connectors)' },
];

/** The table (one row per configuration, then the ratio) and the note on what limits the second group. */
export function groupsReport(summary: Summary, cores: number, loadavg: number): string[] {
  if (!summary['groups.oneGroup.changesPerSec'] && !summary['groups.twoGroups.changesPerSec']) return [];
  const k = (key: string, metric: string) => `groups.${key}.${metric}`;
  const lines = [
    `| groups: batched workload over two tables | changes/s | drain after last commit, ms | **µs CPU per change, net of idle** | ${cpuGroups.map((g) => groupLabels[g]).join(' | ')} | total, gross | cores busy (gross) |`,
    `|---|---|---|---|${cpuGroups.map(() => '---|').join('')}---|---|`,
    ...configs.map(
      ({ key, label }) =>
        `| ${label} | ${cell(summary, k(key, 'changesPerSec'))} | ${cell(summary, k(key, 'drainAfterCommitMs'))} | ${cell(summary, k(key, 'cpuNet.total'))} | ${cpuGroups.map((g) => cell(summary, k(key, `cpuNet.${g}`))).join(' | ')} | ${cell(summary, k(key, 'cpuGross.total'))} | ${cell(summary, k(key, 'cores.total'))} |`,
    ),
    `| two groups / one group | ${ratio(summary, k('twoGroups', 'changesPerSec'), k('oneGroup', 'changesPerSec'))} | | ${ratio(summary, k('twoGroups', 'cpuNet.total'), k('oneGroup', 'cpuNet.total'))} | ${cpuGroups.map((g) => ratio(summary, k('twoGroups', `cpuNet.${g}`), k('oneGroup', `cpuNet.${g}`))).join(' | ')} | ${ratio(summary, k('twoGroups', 'cpuGross.total'), k('oneGroup', 'cpuGross.total'))} | |`,
  ];
  const note = limitNote(summary, cores, loadavg);
  return note ? [...lines, '', note] : lines;
}

/**
 * What the CPU figures say limits the second group: the cores the stack kept
 * busy during the two-group run against the box's (and the load average: on
 * a shared box other work takes cores too), and which component used the most
 * of them (a saturated box is shared by every component: the biggest user is
 * the one a second group would need more of).
 */
export function limitNote(summary: Summary, cores: number, loadavg: number): string | undefined {
  const med = (key: string) => summary[`groups.twoGroups.${key}`]?.median ?? NaN;
  const total = med('cores.total');
  if (!Number.isFinite(total)) return undefined;
  const share = cpuGroups
    .map((g) => ({ g, c: med(`cores.${g}`) }))
    .filter((x) => Number.isFinite(x.c))
    .sort((a, b) => b.c - a.c);
  const top = share[0]!;
  const saturated = total >= 0.8 * cores || loadavg >= cores;
  const gain = (summary['groups.twoGroups.changesPerSec']?.median ?? NaN) / (summary['groups.oneGroup.changesPerSec']?.median ?? NaN);
  const perChange = (g: CpuGroup) => (summary[`groups.twoGroups.cpuNet.${g}`]?.median ?? NaN) / (summary[`groups.oneGroup.cpuNet.${g}`]?.median ?? NaN);
  const shares = share.map((x) => `${groupLabels[x.g]} ${x.c.toFixed(2)}`).join(', ');
  return (
    `What limits the second group (from the CPU figures): with two groups the stack kept ${total.toFixed(2)} of ${cores} cores busy (${shares}), 1-min load average ${loadavg.toFixed(1)}; ` +
    (saturated
      ? `the box is saturated${total < 0.8 * cores ? ' (by other work beside the stack)' : ''}, so a second slot and connector only share the same cores: ${groupLabels[top.g]} uses the most of them (${((top.c / total) * 100).toFixed(0)} %) and is the limit`
      : `the box is not saturated; the busiest component is ${groupLabels[top.g]} (${top.c.toFixed(2)} cores${top.c >= 0.8 ? ', about one core: a single-threaded stage there is the limit' : ''})`) +
    `. Throughput ${Number.isFinite(gain) ? `${gain.toFixed(2)}×` : 'n/a'} of one group's; CPU per change ${cpuGroups.map((g) => `${groupLabels[g]} ${Number.isFinite(perChange(g)) ? perChange(g).toFixed(2) : 'n/a'}×`).join(', ')} of one group's.`
  );
}
