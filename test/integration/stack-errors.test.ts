/**
 * Bad situations give a message that names the component and the fix:
 * a port already in use, Java or Python missing, a registry download failing,
 * a component that dies during start (with its log tail). Each case runs in
 * its own state folder, so the shared test stack is not touched.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installDbt } from '../../stack/components/dbt.ts';
import { simulator } from '../../stack/components/simulator.ts';
import { createContext } from '../../stack/lib/context.ts';
import { runMaven } from '../../stack/lib/jvm.ts';
import { StackManager } from '../../stack/lib/manager.ts';
import type { Component, StackContext } from '../../stack/lib/types.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-errors-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function scratchContext(overrides: Partial<StackContext> = {}): StackContext {
  const base = createContext('test', () => undefined);
  const stateDir = fs.mkdtempSync(path.join(scratch, 'state-'));
  return { ...base, stateDir, logDir: path.join(stateDir, 'logs'), pidDir: path.join(stateDir, 'pids'), ...overrides };
}

async function listenOnFreePort(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('stack error messages', () => {
  it('names the component, the port and the variable to change when a port is taken', async () => {
    const squatter = await listenOnFreePort();
    const port = (squatter.address() as net.AddressInfo).port;
    const ctx = scratchContext();
    ctx.ports = { ...ctx.ports, simulator: port };
    try {
      await expect(new StackManager(ctx, [simulator]).up(['simulator'], { withDbt: false })).rejects.toThrow(
        new RegExp(`simulator: port ${port} on 127\\.0\\.0\\.1 is already in use.*TEST_SIMULATOR_PORT`, 's'),
      );
      expect(fs.existsSync(path.join(ctx.pidDir, 'simulator.pid'))).toBe(false);
    } finally {
      squatter.close();
    }
  });

  it('shows the log tail of a component that dies during start and removes its pidfile', async () => {
    const ctx = scratchContext();
    const doomed: Component = {
      name: 'doomed',
      dependsOn: [],
      startTimeoutSeconds: 20,
      url: () => 'nowhere',
      install: async () => undefined,
      process: async () => ({ command: 'bash', args: ['-c', 'echo "FATAL: could not open the data directory" >&2; exit 3'] }),
      healthy: async () => false,
    };
    await expect(new StackManager(ctx, [doomed]).up(['doomed'], { withDbt: false })).rejects.toThrow(
      /doomed exited during start\. Last lines of .*doomed\.log:\n[\s\S]*FATAL: could not open the data directory/,
    );
    expect(fs.existsSync(path.join(ctx.pidDir, 'doomed.pid'))).toBe(false);
  });

  it('says how to install Java when there is none', async () => {
    const { findJavaUncached } = await import('../../stack/lib/jvm.ts');
    const saved = { PATH: process.env.PATH, JAVA_HOME: process.env.JAVA_HOME };
    process.env.PATH = scratch;
    delete process.env.JAVA_HOME;
    try {
      await expect(findJavaUncached()).rejects.toThrow(/Java 17\+ is required but no `java` was found.*apt-get install -y openjdk-17-jdk-headless/s);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.JAVA_HOME !== undefined) process.env.JAVA_HOME = saved.JAVA_HOME;
    }
  });

  it('says how to install Python when it is missing, naming dbt', async () => {
    // PYTHON names it; the configuration is read once, so the context carries the one this test names.
    const ctx = scratchContext({ cacheDir: fs.mkdtempSync(path.join(scratch, 'cache-')), python: path.join(scratch, 'no-such-python3') });
    await expect(installDbt(ctx)).rejects.toThrow(/dbt: Python 3 is required for dbt\. Install it with: apt-get install -y python3 python3-venv/);
  });

  it('names the artifact and the fix when a registry download fails', async () => {
    const ctx = scratchContext({ cacheDir: fs.mkdtempSync(path.join(scratch, 'cache-')) });
    // Reuse the project's Maven repository so only the missing artifact is looked up.
    fs.symlinkSync(path.join(createContext('test').cacheDir, 'm2'), path.join(ctx.cacheDir, 'm2'));
    await expect(
      runMaven(ctx, {
        pom: 'connect-plugins.xml',
        goals: ['dependency:unpack@debezium'],
        props: { 'debezium.version': '0.0.1.DoesNotExist', 'plugins.dir': path.join(ctx.cacheDir, 'plugins') },
        label: 'debezium 0.0.1.DoesNotExist',
      }),
    ).rejects.toThrow(/debezium 0\.0\.1\.DoesNotExist: download failed \(Maven exit \d+\); .*(Maven Central)[\s\S]*debezium-connector-postgres/);
  });
});
