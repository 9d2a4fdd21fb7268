/**
 * Durations as people write them in settings and read them in messages:
 * `500ms`, `30s`, `5m`, `1h`, `1d` (the format Temporal's client accepts),
 * retentions (`30d`, or `0` / `forever`), and ages in words. Pure.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `500ms`, `30s`, `10m`, `1h`, `1d` (and `0s` when allowed) -> milliseconds; undefined when the text is not such a duration. */
export function durationMs(text: string, opts: { allowZero?: boolean } = {}): number | undefined {
  const m = (opts.allowZero ? /^(0|[1-9][0-9]*)(ms|s|m|h|d)$/ : /^([1-9][0-9]*)(ms|s|m|h|d)$/).exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** A retention of 0 keeps forever. */
export const FOREVER = 0;

/** `30d`, `12h`, `90m`, `3600s` -> ms; `0` or `forever` -> 0 (keep forever); undefined when it is neither. */
export function parseRetention(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === '0' || t === 'forever') return FOREVER;
  const m = /^([1-9][0-9]{0,9})(s|m|h|d)$/.exec(t);
  return m ? Number(m[1]) * UNIT_MS[m[2] as 's' | 'm' | 'h' | 'd'] : undefined;
}

export const retentionHint = 'expected a duration in whole s, m, h or d (30d, 12h), or 0 / forever to keep everything';

/** ms -> the largest whole unit (`30d`, `36h`), or `forever`. */
export function formatRetention(ms: number): string {
  if (ms === FOREVER) return 'forever';
  for (const [unit, size] of [['d', UNIT_MS.d], ['h', UNIT_MS.h], ['m', UNIT_MS.m]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}

/** An age or a wait in words: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  if (m < 24 * 60) return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
  const h = Math.round(m / 60);
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}
