/**
 * Shared helpers for the JVM components of the native stack (Kafka, Kafka
 * Connect, Apicurio Registry): find a Java 17+ runtime, resolve artifacts from
 * Maven Central with the helper poms in stack/maven/, install into the cache
 * atomically, and write the small config files every JVM needs.
 */
import { execFile, spawn } from 'node:child_process';
import { config } from '../../config/load.ts';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { versions } from '../versions.ts';
import type { StackContext } from './types.ts';

const execFileAsync = promisify(execFile);

/** Folder of the helper poms and Maven settings. */
export const mavenDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'maven');

/**
 * Apicurio versions that exist on Maven Central and run on Java 17.
 * stack/versions.ts says 3.2.5, which Central does not have. The newest server
 * assemblies there (3.3.x) are compiled for Java 21; 3.0.9 is the newest that
 * runs on Java 17. No 3.x converter has its whole dependency tree on Central;
 * 2.6.13.Final does, and the 3.0 server still serves the v2 API it uses.
 * TODO(lead): move these two into stack/versions.ts and import them from there.
 */
export const apicurioVersions = { server: versions.apicurioServer, converter: versions.apicurioConverter } as const;

const MIN_JAVA = 17;
const JAVA_FIX =
  "Install it with: apt-get install -y openjdk-17-jdk-headless (or point JAVA_HOME at a JDK 17+; a JRE runs the components but cannot build the project's Connect converter)";

export interface JavaRuntime {
  /** Absolute path, or the bare name when found on PATH. */
  java: string;
  major: number;
  version: string;
}

let javaCache: Promise<JavaRuntime> | undefined;

/** Locate `java` (JAVA_HOME first, then PATH) and require version 17 or newer. */
export function findJava(): Promise<JavaRuntime> {
  javaCache ??= findJavaUncached();
  return javaCache;
}

/** The probe behind findJava, without its cache (tests change PATH). */
export async function findJavaUncached(): Promise<JavaRuntime> {
  const javaHome = config().stack.javaHome;
  const java = javaHome && existsSync(path.join(javaHome, 'bin', 'java')) ? path.join(javaHome, 'bin', 'java') : 'java';
  let output: string;
  try {
    const { stdout, stderr } = await execFileAsync(java, ['-version'], { timeout: 30_000 });
    output = `${stderr}\n${stdout}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`Java ${MIN_JAVA}+ is required but no \`java\` was found. ${JAVA_FIX}`, { cause: err });
    throw new Error(`\`${java} -version\` failed: ${(err as Error).message}. ${JAVA_FIX}`, { cause: err });
  }
  const match = /version "([^"]+)"/.exec(output);
  const version = match?.[1];
  if (version === undefined) throw new Error(`could not read the Java version from \`${java} -version\`: ${output.trim()}. ${JAVA_FIX}`);
  // "1.8.0_392" -> 8, "17.0.15" -> 17, "21" -> 21
  const parts = version.split(/[._-]/);
  const major = Number(parts[0] === '1' ? parts[1] : parts[0]);
  if (!Number.isInteger(major) || major < MIN_JAVA) {
    throw new Error(`Java ${MIN_JAVA}+ is required, found ${version} (${java}). ${JAVA_FIX}`);
  }
  return { java, major, version };
}

/**
 * JVM flags for a small, quiet service on a 2-core machine: fixed small heap,
 * serial GC (no GC threads competing with three JVMs), stop on OOM so the
 * manager sees a dead process instead of a wedged one.
 */
export function jvmFlags(opts: { heap: string; log4j2Config?: string }): string[] {
  const flags = [
    `-Xms64m`,
    `-Xmx${opts.heap}`,
    '-XX:+UseSerialGC',
    '-XX:MaxMetaspaceSize=256m',
    '-XX:ReservedCodeCacheSize=96m',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    '-Dfile.encoding=UTF-8',
  ];
  if (opts.log4j2Config !== undefined) flags.push(`-Dlog4j2.configurationFile=${opts.log4j2Config}`);
  return flags;
}

/** Class path for `java -cp`: every jar of the given folders (java expands `dir/*`). */
export async function classpath(...libDirs: string[]): Promise<string> {
  for (const dir of libDirs) {
    const jars = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.jar'));
    if (jars.length === 0) throw new Error(`no jars in ${dir}: run the install step again`);
  }
  return libDirs.map((d) => path.join(d, '*')).join(path.delimiter);
}

export interface MavenRun {
  /** Helper pom file name in stack/maven/, or an absolute path to a project pom. */
  pom: string;
  /** Goals, e.g. `dependency:copy-dependencies` or `dependency:unpack@debezium`. */
  goals: string[];
  /** -D properties (versions, output folders). */
  props: Record<string, string>;
  /** Shown in progress lines. */
  label: string;
}

/**
 * Run Maven in batch mode against a helper pom, with the local repository in
 * the shared cache (`<cacheDir>/m2`) so every clone reuses the downloads.
 * Each artifact Maven downloads is reported through ctx.progress.
 */
export function runMaven(ctx: StackContext, run: MavenRun): Promise<void> {
  // One Maven at a time: the manager installs components in parallel, and
  // Maven 3.8 does not lock its local repository against concurrent writers.
  const next = mavenQueue.then(() => runMavenNow(ctx, run));
  mavenQueue = next.catch(() => undefined);
  return next;
}

let mavenQueue: Promise<unknown> = Promise.resolve();

async function runMavenNow(ctx: StackContext, run: MavenRun): Promise<void> {
  await findJava();
  // dependency:unpack keeps "already unpacked" markers; keep them out of the repo and the cache.
  await fs.mkdir(ctx.cacheDir, { recursive: true });
  const markersDir = await fs.mkdtemp(path.join(os.tmpdir(), 'astros-mvn-markers-'));
  const args = [
    '-B',
    '-s', path.join(mavenDir, 'settings.xml'),
    '-f', path.resolve(mavenDir, run.pom),
    `-Dmaven.repo.local=${path.join(ctx.cacheDir, 'm2')}`,
    `-Dmarkers.dir=${markersDir}`,
    ...Object.entries(run.props).map(([k, v]) => `-D${k}=${v}`),
    ...run.goals,
  ];
  const tail: string[] = [];
  let downloaded = 0;
  const onLine = (line: string): void => {
    // eslint-disable-next-line no-control-regex
    const clean = line.replace(/\u001b\[[0-9;]*m/g, '');
    tail.push(clean);
    if (tail.length > 200) tail.shift();
    const m = /Downloaded from [^:]+: (\S+) \(([^)]+)\)/.exec(clean);
    if (m?.[1] !== undefined && /\.(jar|tar\.gz|zip)$/.test(m[1])) {
      downloaded++;
      ctx.progress(`${run.label}: downloaded ${path.basename(m[1])} (${m[2]})`);
    }
  };
  ctx.progress(`${run.label}: resolving with Maven (${run.goals.join(' ')})`);
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('mvn', args, { cwd: ctx.cacheDir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error('Maven (`mvn`) is required to install the JVM components: apt-get install maven') : err);
    });
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
      stream.on('end', () => {
        if (buf !== '') onLine(buf);
      });
    }
    child.on('close', (c) => resolve(c ?? 1));
  }).finally(() => fs.rm(markersDir, { recursive: true, force: true }));
  if (code !== 0) {
    const errors = tail.filter((l) => l.startsWith('[ERROR]')).slice(0, 5);
    const unreachable = tail.some((l) => /Could not transfer|Unknown host|Connection refused|timed out|Network is unreachable/i.test(l));
    const hint = unreachable
      ? 'Maven Central could not be reached: check the network (or a proxy in ~/.m2/settings.xml) and run `up` again'
      : 'an artifact could not be resolved from Maven Central: check the versions in stack/versions.ts';
    throw new Error(`${run.label}: download failed (Maven exit ${code}); ${hint}:\n${(errors.length > 0 ? errors : tail.slice(-20)).join('\n')}`);
  }
  ctx.progress(`${run.label}: resolved (${downloaded} new downloads)`);
}


/** Java .properties text from a record (values written as is; keys in order). */
export function propertiesFile(header: string, entries: Record<string, string | number | boolean>): string {
  const lines = header.split('\n').map((l) => `# ${l}`.trimEnd());
  for (const [k, v] of Object.entries(entries)) lines.push(`${k}=${String(v)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * log4j2 configuration sending everything to stdout (the manager redirects
 * stdout to the component's log file). `loggers` sets per-package levels.
 */
export function log4j2Config(rootLevel: string, loggers: Record<string, string> = {}): string {
  const lines = [
    'status = warn',
    'name = astros-cdc',
    'appender.stdout.type = Console',
    'appender.stdout.name = STDOUT',
    'appender.stdout.target = SYSTEM_OUT',
    'appender.stdout.layout.type = PatternLayout',
    'appender.stdout.layout.pattern = %d{ISO8601} %-5p [%t] %c{1.} - %m%n',
    `rootLogger.level = ${rootLevel}`,
    'rootLogger.appenderRef.stdout.ref = STDOUT',
  ];
  let i = 0;
  for (const [name, level] of Object.entries(loggers)) {
    i++;
    lines.push(`logger.l${i}.name = ${name}`, `logger.l${i}.level = ${level}`);
  }
  return `${lines.join('\n')}\n`;
}
