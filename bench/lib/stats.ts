/** Small statistics helpers for the benchmark (no dependencies). */

export function quantile(xs: number[], q: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: number[]): Spread {
  const f = xs.filter((x) => Number.isFinite(x));
  return { median: quantile(f, 0.5), min: f.length ? Math.min(...f) : NaN, max: f.length ? Math.max(...f) : NaN, n: f.length };
}

/** 1st..99th percentiles (the shape the latency plot draws). */
export function cdf(xs: number[]): number[] {
  return Array.from({ length: 99 }, (_, i) => quantile(xs, (i + 1) / 100));
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 100_000) return `${Math.round(x / 1000)}k`;
  if (a >= 10_000) return `${(x / 1000).toFixed(1)}k`;
  if (a >= 100) return Math.round(x).toString();
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** Each metric's spread over the runs, by its flat key. */
export type Summary = Record<string, Spread>;

/** A table cell: the median in bold, (min–max) after it when there is more than one run; '—' when there is none. */
export function cell(summary: Summary, key: string): string {
  const s = summary[key];
  if (!s || s.n === 0) return '—';
  return s.n > 1 ? `**${fmt(s.median)}** (${fmt(s.min)}–${fmt(s.max)})` : `**${fmt(s.median)}**`;
}

/** The ratio of two medians, '1.23×'; '—' when either is missing. */
export function ratio(summary: Summary, a: string, b: string): string {
  const x = summary[a]?.median;
  const y = summary[b]?.median;
  return x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y) && y !== 0 ? `${(x / y).toFixed(2)}×` : '—';
}
