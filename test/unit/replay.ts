/** What the replay tests share: the workflow bundle's entry, a recorded history from test/fixtures, the SDK's runtime installed once. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime } from '@temporalio/worker';

export const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export type History = proto.temporal.api.history.v1.History;

/** A history as test/integration/ingest.test.ts (RECORD_FIXTURES=1) writes one: plain JSON, int64 and bytes as strings. */
export async function loadHistory(name: string): Promise<History> {
  const json = JSON.parse(await readFile(fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url)), 'utf8')) as Record<string, unknown>;
  return proto.temporal.api.history.v1.History.fromObject(json);
}

/** For beforeAll: the runtime can be installed once per process; another test file may have done it. */
export function installRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed by another test file in this process
  }
}
