/** A resync's progress as one line (astros resync, and the load inside astros tables add). */
import { type ResyncProgress } from '../shared/workflows.ts';

/** Pure: `[#####-----] 45% 90,000 of ~200,000 rows, 4/8 ranges, 30,000 rows/s, ETA 4 s`. */
export function progressBar(p: ResyncProgress, elapsedMs: number, width = 20): string {
  if (p.phase !== 'loading') return `resync: ${p.phase}${p.ranges ? ` (${p.rangesDone}/${p.ranges} ranges, ${p.rowsLoaded.toLocaleString('en-US')} rows loaded)` : ''}`;
  const total = Math.max(p.estimatedRows, p.rowsLoaded, 1);
  const frac = Math.min(1, p.ranges > 0 ? Math.max(p.rowsLoaded / total, p.rangesDone / p.ranges) : 0);
  const filled = Math.round(frac * width);
  const rate = elapsedMs > 0 ? (p.rowsLoaded / elapsedMs) * 1000 : 0;
  const eta = rate > 0 ? Math.max(0, (total - p.rowsLoaded) / rate) : undefined;
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(frac * 100)}% ${p.rowsLoaded.toLocaleString('en-US')} of ~${total.toLocaleString('en-US')} rows, ` +
    `${p.rangesDone}/${p.ranges} ranges, ${Math.round(rate).toLocaleString('en-US')} rows/s${eta !== undefined ? `, ETA ${Math.ceil(eta)} s` : ''}`
  );
}
