/**
 * dbt-core + dbt-clickhouse in a Python virtualenv. Not a process: a tool the
 * stack installs. The venv lives in the per-user cache, keyed by the hash of
 * the pinned lock file, so every clone reuses it and a lock change builds a
 * new one beside it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InstallError, installOnce, run } from '../lib/download.ts';
import type { StackContext } from '../lib/types.ts';

const lockFile = (ctx: StackContext) => path.join(ctx.repoRoot, 'stack', 'python', 'requirements.lock');

export function dbtVenv(ctx: StackContext): string {
  const hash = crypto.createHash('sha256').update(fs.readFileSync(lockFile(ctx))).digest('hex').slice(0, 12);
  return path.join(ctx.cacheDir, `venv-dbt-${hash}`);
}

export const dbtPython = (ctx: StackContext) => path.join(dbtVenv(ctx), 'bin', 'python');
export const dbtExecutable = (ctx: StackContext) => path.join(dbtVenv(ctx), 'bin', 'dbt');

export async function installDbt(ctx: StackContext): Promise<void> {
  await installOnce(dbtVenv(ctx), 'dbt-core + dbt-clickhouse (PyPI)', ctx.progress, async (tmp) => {
    try {
      await run(ctx.python, ['--version']);
    } catch {
      throw new InstallError('dbt', `Python 3 is required for dbt. Install it with: apt-get install -y python3 python3-venv (or set PYTHON=/path/to/python3)`);
    }
    try {
      await run(ctx.python, ['-m', 'venv', tmp]);
    } catch (err) {
      throw new InstallError('dbt', `cannot create a virtualenv (${(err as Error).message.split('\n')[0]}). Install the venv module: apt-get install -y python3-venv`);
    }
    await run(path.join(tmp, 'bin', 'python'), ['-m', 'pip', 'install', '--progress-bar', 'off', '-r', lockFile(ctx)], {
      echo: /^(Collecting|Successfully installed)/,
      progress: (l) => ctx.progress(`[install] dbt: ${l}`),
    });
  }, { inPlace: true });
}

export async function dbtVersion(ctx: StackContext): Promise<string | undefined> {
  if (!fs.existsSync(dbtExecutable(ctx))) return undefined;
  try {
    const out = await run(dbtPython(ctx), ['-c', 'import importlib.metadata as m; print(m.version("dbt-core"), m.version("dbt-clickhouse"))']);
    const [core, ch] = out.trim().split(' ');
    return `dbt-core ${core}, dbt-clickhouse ${ch}`;
  } catch {
    return undefined;
  }
}
