/**
 * Debian packages the stack needs (Postgres, Prometheus, the tests' Chromium):
 * installed with apt-get when the file they provide is missing, which needs
 * root; otherwise the error says which command to run.
 */
import fs from 'node:fs';
import { InstallError, run } from './download.ts';

export interface DebianPackage {
  /** Who needs it (named in progress and errors). */
  component: string;
  /** apt package names. */
  packages: string[];
  /** A file the packages install: present means installed. */
  provides: string;
  /** Also install the packages' Recommends (apt's default); false keeps a desktop's worth of extras out. */
  recommends?: boolean;
}

/** apt-get holds the dpkg lock: one install at a time in this process. */
let queue: Promise<unknown> = Promise.resolve();
let updated = false;

/** Install `pkg` unless `pkg.provides` exists (apt-get update once per process). */
export async function aptInstall(pkg: DebianPackage, progress: (m: string) => void): Promise<void> {
  if (fs.existsSync(pkg.provides)) return;
  const names = pkg.packages.join(' ');
  if (process.getuid?.() !== 0) {
    throw new InstallError(pkg.component, `${names} (Debian) is not installed (${pkg.provides} is missing). Install it with: sudo apt-get install -y ${names}`);
  }
  const mine = queue.then(async () => {
    if (fs.existsSync(pkg.provides)) return;
    progress(`[install] ${pkg.component}: apt-get install ${names} (Debian package)`);
    if (!updated) await run('apt-get', ['update', '-q'], { echo: /^(Get|Hit):/, progress });
    updated = true;
    await run('apt-get', ['install', '-y', '-q', ...(pkg.recommends === false ? ['--no-install-recommends'] : []), ...pkg.packages], {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      echo: new RegExp(`^(Get:|Setting up (${pkg.packages.join('|')}))`),
      progress,
    });
  });
  queue = mine.catch(() => undefined);
  await mine;
  if (!fs.existsSync(pkg.provides)) throw new InstallError(pkg.component, `apt-get installed ${names} but ${pkg.provides} is still missing`);
}
