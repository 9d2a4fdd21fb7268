/**
 * SVG plots of one benchmark run, rendered headlessly with vega-lite -> vega
 * (`View.toSVG()` with renderer 'none' needs no browser or canvas). Chosen
 * over hand-written SVG because both are maintained by the UW IDL / Vega
 * project, pure JavaScript (nothing native to build), and give axes, legends,
 * log scales and faceting for free; the only cost is text width, which vega
 * estimates without a canvas (labels may sit a pixel off).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { fmt } from './stats.ts';

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white' } as const;

/** committed vs visible changes/s over time (one sustained run) */
export function throughputPlot(title: string, rows: { t: number; series: string; perSec: number }[]): Promise<string> {
  return render({
    ...base,
    title,
    width: 640,
    height: 240,
    data: { values: rows },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds since the workload started' },
      y: { field: 'perSec', type: 'quantitative', title: 'changes/s (250 ms bins)' },
      color: { field: 'series', type: 'nominal', title: null },
    },
  } as TopLevelSpec);
}

/** per-stage lag over time, one panel per stage (units differ) */
export function lagPlot(title: string, rows: { t: number; stage: string; value: number }[]): Promise<string> {
  return render({
    ...base,
    title,
    data: { values: rows },
    facet: { row: { field: 'stage', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontSize: 11 } } },
    spec: {
      width: 560,
      height: 90,
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'seconds since the workload started' },
        y: { field: 'value', type: 'quantitative', title: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec);
}

/** latency distributions as CDFs (x log scale) */
export function latencyPlot(title: string, rows: { ms: number; pct: number; series: string }[]): Promise<string> {
  return render({
    ...base,
    title,
    width: 640,
    height: 280,
    data: { values: rows.filter((r) => r.ms > 0 && Number.isFinite(r.ms)) },
    mark: { type: 'line', point: false },
    encoding: {
      x: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'commit -> visible (ms, log scale)' },
      y: { field: 'pct', type: 'quantitative', title: 'percentile' },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2 } },
    },
  } as TopLevelSpec);
}

/** One bar per contender (its median, labelled) and a rule from min to max, in panels side by side with their own scales. */
export function barPlot(title: string, rows: { panel: string; contender: string; median: number; min: number; max: number }[]): Promise<string> {
  const x = { field: 'contender', type: 'nominal', title: null, sort: null, axis: { labelAngle: -20 } };
  return render({
    ...base,
    title,
    data: { values: rows.map((r) => ({ ...r, label: fmt(r.median) })) },
    facet: { column: { field: 'panel', type: 'nominal', title: null, sort: [...new Set(rows.map((r) => r.panel))] } },
    spec: {
      width: 240,
      height: 220,
      layer: [
        { mark: 'bar', encoding: { x, y: { field: 'median', type: 'quantitative', title: null }, color: { field: 'contender', type: 'nominal', legend: null } } },
        { mark: 'rule', encoding: { x, y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } } },
        { mark: { type: 'text', dy: -8 }, encoding: { x, y: { field: 'median', type: 'quantitative' }, text: { field: 'label' } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec);
}
