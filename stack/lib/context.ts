import path from 'node:path';
import { config } from '../../config/load.ts';
import { repoRoot } from '../../config/paths.ts';
import type { Profile, StackContext } from './types.ts';

export { repoRoot };

/** The per-user download cache every clone shares (config/profiles.ts: where it is). */
export const cacheDir = (): string => config().stack.cacheDir;

/** A profile's stack: ports, state and cache from the one configuration (config/profiles.ts). */
export function createContext(profile: Profile, progress: (m: string) => void = (m) => console.error(m)): StackContext {
  const { ports, hosts, stateDir, cacheDir, python } = config(profile).stack;
  return {
    profile,
    ports: { ...ports },
    hosts,
    bind: '127.0.0.1',
    repoRoot,
    stateDir,
    cacheDir,
    logDir: path.join(stateDir, 'logs'),
    pidDir: path.join(stateDir, 'pids'),
    python,
    progress,
  };
}
