/**
 * Small inline-SVG line charts for the pipeline page (no script, no library):
 * one line per series over a fixed time range, the y axis from zero to the
 * largest value, and a legend.
 */

export interface ChartSeries {
  name: string;
  points: [t: number, v: number][];
}

export interface ChartSpec {
  id: string;
  title: string;
  /** Formats a y value (axis label and legend's latest value). */
  format: (v: number) => string;
  series: ChartSeries[];
  from: number;
  to: number;
}

const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function lineChart(spec: ChartSpec, width = 460, height = 170): string {
  const pad = { l: 58, r: 10, t: 24, b: 22 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const max = Math.max(0, ...spec.series.flatMap((s) => s.points.map((p) => p[1])));
  const top = max > 0 ? max * 1.1 : 1;
  const x = (t: number) => pad.l + ((t - spec.from) / (spec.to - spec.from)) * w;
  const y = (v: number) => pad.t + h - (v / top) * h;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(spec.title)}" data-chart="${spec.id}">`,
    `<text x="${pad.l}" y="15" font-size="13" font-weight="600">${escapeHtml(spec.title)}</text>`,
    `<rect x="${pad.l}" y="${pad.t}" width="${w}" height="${h}" fill="#f8fafc" stroke="#cbd5e1"/>`,
  ];
  for (const f of [0, 0.5, 1]) {
    const v = top * f;
    parts.push(`<line x1="${pad.l}" x2="${pad.l + w}" y1="${y(v)}" y2="${y(v)}" stroke="#e2e8f0"/>`);
    parts.push(`<text x="${pad.l - 4}" y="${y(v) + 4}" font-size="10" text-anchor="end" fill="#475569">${escapeHtml(spec.format(v))}</text>`);
  }
  const span = (spec.to - spec.from) / 1000;
  const ago = (sec: number) => (span < 300 ? `-${Math.round(sec)} s` : `-${Math.round(sec / 60)} min`);
  for (const [f, label] of [[0, ago(span)], [0.5, ago(span / 2)], [1, 'now']] as const) {
    parts.push(`<text x="${pad.l + f * w}" y="${height - 6}" font-size="10" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}" fill="#475569">${label}</text>`);
  }
  spec.series.forEach((s, i) => {
    const color = palette[i % palette.length]!;
    const pts = s.points.filter((p) => p[0] >= spec.from);
    if (pts.length === 1) parts.push(`<circle cx="${x(pts[0]![0]).toFixed(1)}" cy="${y(pts[0]![1]).toFixed(1)}" r="2.5" fill="${color}"/>`);
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`);
  });
  if (spec.series.every((s) => s.points.length === 0)) {
    parts.push(`<text x="${pad.l + w / 2}" y="${pad.t + h / 2}" font-size="12" text-anchor="middle" fill="#64748b">no samples yet</text>`);
  }
  parts.push('</svg>');
  const legend = spec.series
    .map((s, i) => `<span class="key"><i style="background:${palette[i % palette.length]}"></i>${escapeHtml(s.name)} ${escapeHtml(s.points.length > 0 ? spec.format(s.points.at(-1)![1]) : '–')}</span>`)
    .join(' ');
  return `<figure class="chart">${parts.join('')}<figcaption>${legend}</figcaption></figure>`;
}

/** Per-second rate between consecutive samples of a counter (a drop is a reset). */
export function rate(points: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < points.length; i++) {
    const [t0, v0] = points[i - 1]!;
    const [t1, v1] = points[i]!;
    if (t1 > t0) out.push([t1, (v1 >= v0 ? v1 - v0 : v1) / ((t1 - t0) / 1000)]);
  }
  return out;
}

/** Average per interval of a histogram from its _sum and _count samples. */
export function intervalAverage(sum: [number, number][], count: [number, number][]): [number, number][] {
  const byT = new Map(count.map(([t, v]) => [t, v]));
  const out: [number, number][] = [];
  for (let i = 1; i < sum.length; i++) {
    const [t0, s0] = sum[i - 1]!;
    const [t1, s1] = sum[i]!;
    const dc = (byT.get(t1) ?? 0) - (byT.get(t0) ?? 0);
    if (dc > 0 && s1 >= s0) out.push([t1, (s1 - s0) / dc]);
  }
  return out;
}
