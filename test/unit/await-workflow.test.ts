/**
 * cli/await-workflow.ts without a server: the deadline and progress timing
 * (with millisecond intervals), the messages, the --timeout option, and the
 * help of the commands that wait.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  EXIT_TIMEOUT,
  parseDuration,
  progressLine,
  timeoutMessage,
  timeoutOption,
  waitWithProgress,
  WaitTimeoutError,
  workflowUrl,
  type WaitDescription,
} from '../../cli/await-workflow.ts';
import { buildProgram } from '../../cli/astros.ts';
import { EXIT_NOT_READY } from '../../cli/worker-check.ts';

const w: WaitDescription = {
  workflowType: 'ingestAstronauts',
  workflowId: 'ingest-astronauts',
  runId: 'run-1',
  taskQueue: 'astros-ingest',
  address: '127.0.0.1:7233',
  link: 'http://127.0.0.1:8233/namespaces/default/workflows/ingest-astronauts/run-1/history',
};

const never = <T>(signal: AbortSignal) =>
  new Promise<T>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));

describe('waitWithProgress', () => {
  it('returns the result when it comes first, without progress lines', async () => {
    const lines: string[] = [];
    const value = await waitWithProgress({
      result: async () => 42,
      timeoutMs: 1_000,
      everyMs: 500,
      progress: async () => 'tick',
      onTimeout: async () => 'timeout',
      log: (l) => lines.push(l),
    });
    expect(value).toBe(42);
    expect(lines).toEqual([]);
  });

  it('logs progress while waiting, then gives up at the deadline with WaitTimeoutError and aborts the wait', async () => {
    const lines: string[] = [];
    let signal: AbortSignal | undefined;
    const started = Date.now();
    const err = await waitWithProgress({
      result: (s) => {
        signal = s;
        return never(s);
      },
      timeoutMs: 400,
      everyMs: 50,
      progress: async (elapsed) => `waited ${elapsed >= 40 ? 'a while' : 'too little'}`,
      onTimeout: async () => 'gave up',
      log: (l) => lines.push(l),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).message).toBe('gave up');
    expect((err as WaitTimeoutError).exitCode).toBe(EXIT_TIMEOUT);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(8);
    expect(new Set(lines)).toEqual(new Set(['waited a while']));
    expect(signal?.aborted).toBe(true);
    // Nothing is logged after giving up.
    const count = lines.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(lines.length).toBe(count);
  });

  it('keeps waiting when a progress check fails, and says so', async () => {
    const lines: string[] = [];
    await waitWithProgress({
      result: () => new Promise((r) => setTimeout(() => r('done'), 120)),
      timeoutMs: 5_000,
      everyMs: 40,
      progress: async () => {
        throw new Error('Temporal did not answer');
      },
      onTimeout: async () => 'timeout',
      log: (l) => lines.push(l),
    });
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines[0]).toMatch(/^still waiting \(0 s\); progress check failed: Temporal did not answer$/);
  });

  it("passes the run's own failure through", async () => {
    const err = await waitWithProgress({
      result: async () => {
        throw new Error('run failed');
      },
      timeoutMs: 1_000,
      everyMs: 500,
      progress: async () => 'tick',
      onTimeout: async () => 'timeout',
      log: () => undefined,
    }).catch((e: unknown) => e);
    expect(err).toEqual(new Error('run failed'));
  });
});

describe('messages', () => {
  it('progress: what it waits for, how long of how long, pending activities, the link', () => {
    const line = progressLine(w, 20_000, 600_000, {
      status: 'RUNNING',
      pendingActivities: [{ name: 'fetchAstronauts', attempt: 3, lastFailure: 'HTTP 503' }],
      workerPolling: true,
    });
    expect(line).toBe(
      'waiting for ingestAstronauts ingest-astronauts: 20 s of at most 10 min; status RUNNING; ' +
        `activity fetchAstronauts attempt 3 (last failure: HTTP 503); ${w.link}`,
    );
  });

  it('progress: says when the worker went away, and when Temporal did not answer', () => {
    expect(progressLine(w, 30_000, 600_000, { status: 'RUNNING', pendingActivities: [], workerPolling: false })).toContain(
      "no worker is polling task queue 'astros-ingest' any more (start one: npm run worker)",
    );
    expect(progressLine(w, 30_000, 600_000, undefined)).toContain('state unknown (Temporal did not answer)');
  });

  it('timeout: the option, the run, that it goes on, where to follow it, what to do next', () => {
    const text = timeoutMessage(w, 600_000, { status: 'RUNNING', pendingActivities: [], workerPolling: false }, 'Run the same command again to attach to it.');
    expect(text.split('\n')[0]).toBe(
      "gave up waiting after 10 min (--timeout): ingestAstronauts ingest-astronauts (run run-1) is still RUNNING on task queue 'astros-ingest'; it was not cancelled.",
    );
    expect(text).toContain(`Follow it in the Temporal Web UI: ${w.link}`);
    expect(text).toContain('npm run worker');
    expect(text.split('\n').at(-1)).toBe('Run the same command again to attach to it.');
  });

  it('links to the run in the Web UI, escaping the ids', () => {
    expect(workflowUrl('http://127.0.0.1:28233/', 'default', 'ingest astros/1', 'r-1')).toBe(
      'http://127.0.0.1:28233/namespaces/default/workflows/ingest%20astros%2F1/r-1/history',
    );
  });
});

describe('--timeout', () => {
  const parse = (...args: string[]) => new Command().exitOverride().configureOutput({ writeErr: () => undefined }).addOption(timeoutOption()).parse(args, { from: 'user' }).opts<{ timeout: number }>();

  it('takes a duration, 10 minutes by default', () => {
    expect(parse().timeout).toBe(600_000);
    expect(parse('--timeout', '90s').timeout).toBe(90_000);
    expect(parse('--timeout', '2h').timeout).toBe(7_200_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('0s')).toBeUndefined();
    expect(parseDuration('10')).toBeUndefined();
  });

  it('refuses anything else', () => {
    expect(() => parse('--timeout', 'soon')).toThrow(/expected a duration such as 30s, 10m, 1h/);
  });
});

describe('--help of the commands that wait on Temporal', () => {
  const help = (name: string) => {
    const cmd = buildProgram().commands.find((c) => c.name() === name);
    if (!cmd) throw new Error(`no command ${name}`);
    return cmd.helpInformation().replace(/\s+/g, ' ');
  };

  it.each(['ingest', 'validate'])('%s says it needs a running worker, and documents exit statuses and --timeout', (name) => {
    const text = help(name);
    expect(text).toMatch(/Needs a running worker polling TASK_QUEUE \(npm run worker/);
    expect(text).toContain(`${EXIT_NOT_READY}`);
    expect(text).toMatch(new RegExp(`--timeout <duration>.*exit ${EXIT_TIMEOUT}`));
  });

  it('schedule says scheduled runs need a worker', () => {
    expect(help('schedule')).toMatch(/Scheduled runs need a running worker polling TASK_QUEUE/);
  });
});
