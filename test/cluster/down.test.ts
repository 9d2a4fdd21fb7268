/**
 * Runs last in the cluster layer (vitest.config.ts orders it): `down` stops
 * the cluster and removes every namespace, veth and bridge it recorded as
 * made by it, and nothing else, not even a namespace named with its prefix.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { networkRecordFile } from '../../stack/cluster/network.ts';
import { createContext } from '../../stack/lib/context.ts';
import { clusterManager, clusterNetworkRecord, clusterPlanOfTests, linkNames, netnsList } from './cluster-stack.ts';

it('down stops every component and removes the namespaces, veths and bridge it made, and nothing else', async () => {
  const plan = clusterPlanOfTests();
  const rec = clusterNetworkRecord();
  expect(rec.bridge).toBe(plan.bridge);
  expect(rec.namespaces.sort()).toEqual(plan.hosts.map((h) => h.namespace).sort());
  expect(rec.veths.sort()).toEqual(plan.hosts.map((h) => h.veth).sort());
  // Someone else's namespace with a name like ours: not in the record, so down must leave it.
  const decoy = `${plan.prefix}-decoy`;
  execFileSync('ip', ['netns', 'add', decoy]);
  try {
    const manager = clusterManager();
    await manager.down();
    const namespaces = netnsList();
    const links = linkNames();
    for (const ns of rec.namespaces) expect(namespaces).not.toContain(ns);
    for (const link of [...rec.veths, rec.bridge!]) expect(links).not.toContain(link);
    expect(namespaces).toContain(decoy);
    expect(fs.existsSync(networkRecordFile(createContext('cluster').stateDir))).toBe(false);
    const rows = await manager.status();
    expect(rows.filter((r) => r.host && r.state !== 'stopped').map((r) => r.name)).toEqual([]);
  } finally {
    execFileSync('ip', ['netns', 'delete', decoy]);
  }
});
