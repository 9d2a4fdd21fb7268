/**
 * The Compose project as the compose tests read it: docker-compose.yml loaded
 * by compose-go (test/compose-validate, built once from the Go module proxy
 * and cached in the per-user cache), with its normalized services.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../../stack/lib/context.ts';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const composeFile = path.join(root, 'docker-compose.yml');
export const envExample = path.join(root, '.env.docker.example');
export const validatorSrc = path.join(root, 'test', 'compose-validate');

// ---------------------------------------------------------------------------
// The validator: test/compose-validate built once per source hash.

/** Build (or reuse) the compose-go validator; a missing Go toolchain is a clear error. */
export function validatorBinary(): string {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(f).update(fs.readFileSync(path.join(validatorSrc, f)));
  const dir = path.join(cacheDir(), `compose-validate-${hash.digest('hex').slice(0, 16)}`);
  const bin = path.join(dir, 'compose-validate');
  if (fs.existsSync(bin)) return bin;

  const go = process.env.GO ?? 'go';
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.build-${process.pid}`);
  const res = spawnSync(go, ['build', '-trimpath', '-o', tmp, '.'], {
    cwd: validatorSrc,
    encoding: 'utf8',
    timeout: 280_000,
    // Modules come from the Go module proxy into the per-user module cache (GOMODCACHE).
    env: { ...process.env, GOFLAGS: [process.env.GOFLAGS, '-mod=mod', '-buildvcs=false'].filter(Boolean).join(' ') },
  });
  if (res.error && (res.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(
      `The Compose validator (test/compose-validate: github.com/compose-spec/compose-go/v2 from the Go module proxy) ` +
        `must be built once, and the Go toolchain ('${go}') was not found. Install Go 1.24 or newer ` +
        `(apt-get install golang-go, or https://go.dev/dl/) or point GO at the go binary; it is cached afterwards in ${dir}.`,
    );
  }
  if (res.error) throw new Error(`building the Compose validator failed: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`building the Compose validator failed (go build exit ${res.status}):\n${res.stderr}`);
  fs.renameSync(tmp, bin); // atomic: a concurrent run sees a whole binary or none
  return bin;
}

export interface Validation {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function validate(bin: string, file: string, envFiles: string[] = []): Validation {
  const args = ['-f', file, ...envFiles.flatMap((e) => ['-env-file', e])];
  const res = spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '' } });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

// ---------------------------------------------------------------------------
// The normalized project compose-go prints (only the fields the tests read).

export interface DependsOn {
  condition: string;
  required?: boolean;
}
export interface Port {
  host_ip?: string;
  target: number;
  published?: string;
}
export interface Volume {
  type: string;
  source?: string;
  target: string;
  read_only?: boolean;
}
export interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string | null> };
  command?: string[] | null;
  entrypoint?: string[] | null;
  hostname?: string;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, DependsOn>;
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: Port[];
  volumes?: Volume[];
  restart?: string;
  profiles?: string[];
}
export interface Project {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

