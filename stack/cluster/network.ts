/**
 * The cluster profile's hosts as network namespaces on one bridge (iproute2):
 * a bridge in the root namespace holding the subnet's first address, and per
 * host a namespace whose `eth0` (one end of a veth pair, the other end on the
 * bridge) has the host's address. No default route and no NAT: a host talks
 * to the other hosts and to this machine over the bridge, and cannot answer
 * anything beyond it.
 *
 * Every name made is recorded in `<state>/network.json` before anything else
 * happens, and `remove` deletes exactly the recorded names; a name that
 * exists but is not in the record belongs to someone else and is refused.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ClusterPlan } from '../../config/cluster.ts';

const execFileAsync = promisify(execFile);

export class NetworkError extends Error {}

/** What this stack made, by name. */
export interface NetworkRecord {
  bridge?: string;
  namespaces: string[];
  veths: string[];
}

export const networkRecordFile = (stateDir: string): string => path.join(stateDir, 'network.json');

export function readNetworkRecord(stateDir: string): NetworkRecord {
  try {
    return JSON.parse(fs.readFileSync(networkRecordFile(stateDir), 'utf8')) as NetworkRecord;
  } catch {
    return { namespaces: [], veths: [] };
  }
}

function writeRecord(stateDir: string, rec: NetworkRecord): void {
  fs.mkdirSync(stateDir, { recursive: true });
  const file = networkRecordFile(stateDir);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(rec, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await execFileAsync('ip', args, { timeout: 30_000 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new NetworkError('the cluster profile needs iproute2\'s `ip` (apt-get install iproute2)');
    throw new NetworkError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

const linkExists = (name: string): Promise<boolean> => ip(['link', 'show', 'dev', name]).then(() => true, () => false);

async function namespaces(): Promise<Set<string>> {
  const out = await ip(['netns', 'list']);
  return new Set(out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean));
}

/** One line when this process cannot make namespaces: not root, or no `ip`. */
export async function assertCanMakeHosts(): Promise<void> {
  if (process.getuid?.() !== 0) throw new NetworkError('the cluster profile makes network namespaces and must run as root (it is run as uid ' + String(process.getuid?.()) + ')');
  await ip(['-V']);
}

/** Make (or find, when this stack made them before) the bridge and every host. Idempotent. */
export async function ensureNetwork(plan: ClusterPlan, stateDir: string, log: (m: string) => void): Promise<void> {
  await assertCanMakeHosts();
  const rec = readNetworkRecord(stateDir);
  const ours = (list: string[], name: string) => list.includes(name);
  const notOurs = (what: string, name: string) =>
    new NetworkError(`${what} ${name} exists but this stack did not make it (another cluster stack?): set ASTROS_CLUSTER_PREFIX and ASTROS_CLUSTER_SUBNET to values of your own`);

  if (await linkExists(plan.bridge)) {
    if (rec.bridge !== plan.bridge) throw notOurs('bridge', plan.bridge);
  } else {
    // The subnet must be free: its first address on another interface means another stack (or network) has it.
    const used = (await ip(['-4', '-o', 'addr', 'show'])).split('\n').find((l) => l.includes(` ${plan.bridgeAddress}/`));
    if (used) throw new NetworkError(`${plan.bridgeAddress} is already on ${used.split(/\s+/)[1]}: set ASTROS_CLUSTER_SUBNET to another /24`);
    writeRecord(stateDir, { ...rec, bridge: plan.bridge });
    rec.bridge = plan.bridge;
    await ip(['link', 'add', plan.bridge, 'type', 'bridge']);
    log(`[network] bridge ${plan.bridge} made`);
  }
  await ip(['addr', 'replace', `${plan.bridgeAddress}/${plan.prefixLength}`, 'dev', plan.bridge]);
  await ip(['link', 'set', plan.bridge, 'up']);

  const existing = await namespaces();
  for (const h of plan.hosts) {
    if (existing.has(h.namespace)) {
      if (!ours(rec.namespaces, h.namespace)) throw notOurs('network namespace', h.namespace);
    } else {
      rec.namespaces.push(h.namespace);
      writeRecord(stateDir, rec);
      await ip(['netns', 'add', h.namespace]);
    }
    await ip(['-n', h.namespace, 'link', 'set', 'lo', 'up']);
    if (await linkExists(h.veth)) {
      if (!ours(rec.veths, h.veth)) throw notOurs('interface', h.veth);
    } else {
      rec.veths.push(h.veth);
      writeRecord(stateDir, rec);
      await ip(['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.namespace]);
    }
    await ip(['link', 'set', h.veth, 'master', plan.bridge, 'up']);
    await ip(['-n', h.namespace, 'addr', 'replace', `${h.address}/${plan.prefixLength}`, 'dev', 'eth0']);
    await ip(['-n', h.namespace, 'link', 'set', 'eth0', 'up']);
  }
  log(`[network] ${plan.hosts.length} hosts on ${plan.bridge} (${plan.bridgeAddress}/${plan.prefixLength})`);
}

/** Delete every namespace, veth and bridge the record names (and nothing else); then the record. */
export async function removeNetwork(stateDir: string, log: (m: string) => void): Promise<void> {
  const rec = readNetworkRecord(stateDir);
  if (!rec.bridge && rec.namespaces.length === 0 && rec.veths.length === 0) return;
  await assertCanMakeHosts();
  const existing = await namespaces();
  for (const ns of rec.namespaces) if (existing.has(ns)) await ip(['netns', 'delete', ns]);
  // Deleting a namespace deletes the veth pair with it; one made without its namespace may remain.
  for (const v of rec.veths) if (await linkExists(v)) await ip(['link', 'delete', v]);
  if (rec.bridge && (await linkExists(rec.bridge))) await ip(['link', 'delete', rec.bridge]);
  fs.rmSync(networkRecordFile(stateDir), { force: true });
  log(`[network] removed ${rec.namespaces.length} namespaces, their veths and ${rec.bridge ?? 'no bridge'}`);
}

/** The hosts of a profile's stack: the cluster's namespaces, or none (dev and test run on loopback). */
export function networkFor(ctx: { profile: string; stateDir: string; progress(m: string): void }, plan: ClusterPlan): { ensure(): Promise<void>; remove(): Promise<void> } | undefined {
  if (ctx.profile !== 'cluster') return undefined;
  return {
    ensure: () => ensureNetwork(plan, ctx.stateDir, (m) => ctx.progress(m)),
    remove: () => removeNetwork(ctx.stateDir, (m) => ctx.progress(m)),
  };
}
