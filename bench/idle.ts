/**
 * The idle stack's CPU, per component (not a test): what the dev stack's
 * processes use while nothing is written, as % of one core over a window
 * (default 60 s), from /proc like every CPU figure of the bench
 * (bench/lib/cpu.ts). Run it with the pipeline idle and nothing of the bench
 * left (bench/README.md, "Cleaning up after benchmarking") to measure the
 * production pipeline alone; windows are printed one per line so two
 * configurations can be compared in one sitting. Each window also says how
 * much of it the JVMs' JIT compiler threads took: a JVM started minutes ago
 * (or just out of a burst) is still compiling, and the settled stack's idle
 * is the figure once that share is near 0.
 *
 *   npx tsx bench/idle.ts [--seconds 60] [--windows 1] [--json]
 */
import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { cpuDelta, cpuGroups, cpuSnapshot, type CpuDelta } from './lib/cpu.ts';
import { benchEnv } from './lib/env.ts';
import { jitPercent, jitSnapshot } from './lib/jit.ts';

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const program = new Command('bench/idle.ts')
  .description("The idle dev stack's CPU per component, % of one core over each window")
  .option('--seconds <n>', 'length of one window', positiveInt, 60)
  .option('--windows <n>', 'windows measured one after another', positiveInt, 1)
  .option('--json', 'print one JSON object per window')
  .parse();
const opts = program.opts<{ seconds: number; windows: number; json?: boolean }>();

/** % of one core per group and in total over one window. */
function percent(d: CpuDelta): Record<string, number> {
  const pct = (us: number) => Math.round((us / (d.ms * 1000)) * 1000) / 10;
  const out: Record<string, number> = { total: pct(cpuGroups.reduce((s, g) => s + d.us[g], 0)) };
  for (const g of cpuGroups) out[g] = pct(d.us[g]);
  return out;
}

async function main(): Promise<void> {
  const { pidDir } = benchEnv();
  for (let w = 0; w < opts.windows; w++) {
    const load = os.loadavg()[0]!.toFixed(2);
    const a = cpuSnapshot(pidDir);
    const jitA = jitSnapshot(pidDir);
    await new Promise((res) => setTimeout(res, opts.seconds * 1000));
    const d = cpuDelta(a, cpuSnapshot(pidDir));
    const jit = jitPercent(jitA, jitSnapshot(pidDir), d.ms);
    const p = percent(d);
    const jitTotal = Math.round(jit.reduce((s, [, v]) => s + v, 0) * 10) / 10;
    if (opts.json) console.log(JSON.stringify({ seconds: opts.seconds, loadAverage: Number(load), percentOfCore: p, jitPercentOfCore: Object.fromEntries(jit) }));
    else
      console.log(
        `idle ${opts.seconds} s (load average ${load} -> ${os.loadavg()[0]!.toFixed(2)}): ${p.total} % of a core ` +
          `(${cpuGroups.map((g) => `${g} ${p[g]}`).join(', ')}); of which JIT compilation ${jitTotal} ` +
          `(${jit.map(([c, v]) => `${c} ${v}`).join(', ')})`,
      );
  }
}

try {
  await main();
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
