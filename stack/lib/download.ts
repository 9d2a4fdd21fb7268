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

/**
 * Build `finalDir` via `build(tmpDir)` unless it is already complete.
 * The marker file is written last, so a crash mid-install leaves no marker.
 */
export async function installOnce(
  finalDir: string,
  label: string,
  progress: (m: string) => void,
  build: (dir: string) => Promise<void>,
  opts: { inPlace?: boolean } = {},
): Promise<void> {
  const marker = path.join(finalDir, '.installed');
  if (fs.existsSync(marker)) return;
  const started = Date.now();
  progress(`[install] ${label}: installing into ${finalDir}`);
  if (opts.inPlace) {
    // For trees that record their own absolute path (Python virtualenvs): build where they will live.
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.mkdirSync(finalDir, { recursive: true });
    try {
      await build(finalDir);
    } catch (err) {
      fs.rmSync(finalDir, { recursive: true, force: true });
      throw err;
    }
    fs.writeFileSync(marker, new Date().toISOString());
    progress(`[install] ${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  const tmp = `${finalDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    fs.writeFileSync(path.join(tmp, '.installed'), new Date().toISOString());
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(finalDir), { recursive: true });
    fs.renameSync(tmp, finalDir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  progress(`[install] ${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
