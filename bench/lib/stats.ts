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
