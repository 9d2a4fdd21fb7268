/**
 * Alert evaluation over the monitor's own series, from the threshold table
 * (config/alert-rules.ts), the way Prometheus evaluates the generated rules:
 * one alert per rule and series (its labels), firing once the condition has
 * held for the rule's `for` (or, for `increase` rules, when the counter grew
 * over the window), then nothing more while it lasts, then one recovery.
 *
 * Pure apart from the clock the caller passes in.
 */
import { crosses, selector, type AlertKind, type ResolvedRule } from '../config/alert-rules.ts';

export interface Series {
  metric: string;
  labels: Record<string, string>;
  value: number;
}

export interface AlertEvent {
  state: 'firing' | 'resolved';
  kind: AlertKind;
  key: string;
  labels: Record<string, string>;
  value: number;
  at: number;
  rule: ResolvedRule;
  /** When the alert started firing (resolved events: how long it lasted). */
  since: number;
}

interface Track {
  pendingSince?: number;
  firingSince?: number;
  /** Counter samples inside the window (increase rules), oldest first. */
  points: { t: number; v: number }[];
  lastValue: number;
  labels: Record<string, string>;
}

export const alertKey = (kind: string, labels: Record<string, string>) =>
  `${kind}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(',')}}`;

const matches = (rule: ResolvedRule, s: Series) => s.metric === rule.metric && Object.entries(rule.match ?? {}).every(([k, v]) => s.labels[k] === v);

/** Counter growth over the points (a drop is a reset: the new value counts from zero, as in Prometheus). */
function increase(points: { v: number }[]): number {
  let sum = 0;
  for (let i = 1; i < points.length; i++) {
    const d = points[i]!.v - points[i - 1]!.v;
    sum += d >= 0 ? d : points[i]!.v;
  }
  return sum;
}

export class AlertEngine {
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly rules: readonly ResolvedRule[]) {}

  /** Alerts already firing (restored after a restart): no second notification. */
  restore(open: { key: string; labels: Record<string, string>; since: number }[]): void {
    for (const o of open) this.tracks.set(o.key, { firingSince: o.since, pendingSince: o.since, points: [], lastValue: Number.NaN, labels: o.labels });
  }

  firing(): { key: string; kind: AlertKind; labels: Record<string, string>; since: number; value: number }[] {
    return [...this.tracks.entries()].flatMap(([key, t]) => (t.firingSince === undefined ? [] : [{ key, kind: key.split('{')[0] as AlertKind, labels: t.labels, since: t.firingSince, value: t.lastValue }]));
  }

  evaluate(now: number, series: Series[]): AlertEvent[] {
    const events: AlertEvent[] = [];
    const seen = new Set<string>();
    for (const rule of this.rules) {
      for (const s of series.filter((x) => matches(rule, x))) {
        const key = alertKey(rule.kind, s.labels);
        seen.add(key);
        const t = this.tracks.get(key) ?? { points: [], lastValue: s.value, labels: s.labels };
        this.tracks.set(key, t);
        let value = s.value;
        if (rule.fn === 'increase') {
          t.points.push({ t: now, v: s.value });
          // Keep one point at or before the window's start as the baseline.
          while (t.points.length > 1 && t.points[1]!.t <= now - rule.forMs) t.points.shift();
          value = increase(t.points);
        }
        t.lastValue = value;
        const bad = crosses(rule, value);
        if (!bad) {
          if (t.firingSince !== undefined) events.push({ state: 'resolved', kind: rule.kind, key, labels: s.labels, value, at: now, rule, since: t.firingSince });
          t.pendingSince = undefined;
          t.firingSince = undefined;
          continue;
        }
        t.pendingSince ??= now;
        if (t.firingSince === undefined && (rule.fn === 'increase' || now - t.pendingSince >= rule.forMs)) {
          t.firingSince = now;
          events.push({ state: 'firing', kind: rule.kind, key, labels: s.labels, value, at: now, rule, since: now });
        }
      }
    }
    // A series that vanished (table no longer captured, slot dropped) ends its alert.
    for (const [key, t] of this.tracks) {
      if (seen.has(key) || t.firingSince === undefined || Number.isNaN(t.lastValue)) continue;
      const rule = this.rules.find((r) => key.startsWith(`${r.kind}{`));
      if (rule) events.push({ state: 'resolved', kind: rule.kind, key, labels: t.labels, value: Number.NaN, at: now, rule, since: t.firingSince });
      this.tracks.delete(key);
    }
    return events;
  }
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The text of an alert or recovery. */
export function alertText(e: AlertEvent): string {
  const r = e.rule;
  const what = Object.entries(e.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const measured = r.fn === 'increase' ? `${selector(r)} grew by ${e.value} in ${r.forText}` : `${selector(r)} = ${e.value}`;
  if (e.state === 'firing') {
    return `[FIRING] ${r.kind} (${what}): ${r.summary}. ${measured} (threshold ${r.op} ${r.value} ${r.threshold.unit}, ${r.threshold.env}).`;
  }
  return `[RESOLVED] ${r.kind} (${what}): back within threshold after ${minutes(e.at - e.since)}${Number.isNaN(e.value) ? ' (series gone)' : `; now ${e.value}`}.`;
}

/** Slack-compatible incoming-webhook JSON: `text` (what every receiver shows) and one mrkdwn block. */
export function slackPayload(e: AlertEvent, pageUrl?: string): { text: string; blocks: unknown[] } {
  const text = alertText(e);
  const icon = e.state === 'firing' ? (e.rule.severity === 'critical' ? ':red_circle:' : ':large_orange_circle:') : ':large_green_circle:';
  const link = pageUrl ? ` <${pageUrl}|pipeline page>` : '';
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `${icon} ${text}${link}` } }] };
}
