/**
 * Install helpers shared by components: run a command with visible progress,
 * and publish an install directory atomically behind a completion marker so
 * an interrupted install is redone, never half-used.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export class InstallError extends Error {
  constructor(
    readonly component: string,
    message: string,
  ) {
    super(`${component}: ${message}`);
  }
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Lines of output matching this are echoed as progress. */
  echo?: RegExp;
  progress?: (line: string) => void;
}

/** Run a command; resolve with its output, reject with the output's tail. */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let pending = '';
    const onData = (buf: Buffer) => {
      const text = buf.toString();
      out += text;
      if (out.length > 2_000_000) out = out.slice(-1_000_000);
      if (!opts.echo || !opts.progress) return;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (opts.echo.test(line)) opts.progress(line.trim());
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'ENOENT' ? `'${command}' is not installed or not on PATH` : `${command}: ${err.message}`));
    });
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`'${command} ${args.join(' ')}' exited with ${code}:\n${out.split('\n').slice(-25).join('\n')}`));
    });
  });
}

const installs = new Map<string, Promise<void>>();

/**
 * Build `dir` via `build(workDir)` unless it is already complete. The work
 * happens in a sibling temp folder that is renamed into place, and the marker
 * file is written last, so an interrupted install is redone, never half-used.
 * Concurrent calls for the same folder in this process share one install
 * (kafka and connect share Kafka's libs). `inPlace` builds where the tree will
 * live, for trees that record their own absolute path (Python virtualenvs).
 */
export function installOnce(dir: string, label: string, progress: (m: string) => void, build: (workDir: string) => Promise<void>, opts: { inPlace?: boolean } = {}): Promise<void> {
  let running = installs.get(dir);
  if (running === undefined) {
    running = installNow(dir, label, progress, build, opts.inPlace ?? false).finally(() => installs.delete(dir));
    installs.set(dir, running);
  }
  return running;
}

async function installNow(dir: string, label: string, progress: (m: string) => void, build: (workDir: string) => Promise<void>, inPlace: boolean): Promise<void> {
  const marker = path.join(dir, '.installed');
  if (fs.existsSync(marker)) return;
  const started = Date.now();
  progress(`[install] ${label}: installing into ${dir}`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const work = inPlace ? dir : `${dir}.tmp-${process.pid}-${Date.now()}`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  try {
    await build(work);
    fs.writeFileSync(path.join(work, '.installed'), `${new Date().toISOString()}\n`);
    if (!inPlace) {
      // A folder without the marker is a leftover of an older layout or a crash.
      if (fs.existsSync(dir) && !fs.existsSync(marker)) fs.rmSync(dir, { recursive: true, force: true });
      try {
        fs.renameSync(work, dir);
      } catch (err) {
        // Another process finished the same install first: keep theirs.
        if (!fs.existsSync(marker)) throw err;
      }
    }
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  } finally {
    if (!inPlace) fs.rmSync(work, { recursive: true, force: true });
  }
  progress(`[install] ${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
