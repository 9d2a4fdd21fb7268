/**
 * Hand check of the JVM components (kafka, registry, connect) through the
 * stack manager: install, start, report start times and idle RSS.
 *   ASTROS_STATE_DIR=/tmp/jvmtest KAFKA_PORT=39092 KAFKA_CONTROLLER_PORT=39093 \
 *   CONNECT_PORT=38083 REGISTRY_PORT=38081 npx tsx cli/stack-jvm-smoke.ts [install|up|down|status] [component...]
 */
import { connect } from '../stack/components/connect.ts';
import { kafka } from '../stack/components/kafka.ts';
import { registry } from '../stack/components/registry.ts';
import { createContext } from '../stack/lib/context.ts';
import { StackManager } from '../stack/lib/manager.ts';

const ctx = createContext('dev', (m) => console.log(`${new Date().toISOString().slice(11, 19)} ${m}`));
const manager = new StackManager(ctx, [kafka, registry, connect]);
const cmd = process.argv[2] ?? 'up';
const names = process.argv.slice(3);
const all = ['kafka', 'registry', 'connect'];
const t0 = Date.now();
if (cmd === 'up') {
  await manager.up(names.length > 0 ? names : all);
  console.log(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} else if (cmd === 'install') {
  await Promise.all([kafka, registry, connect].map((c) => c.install(ctx)));
  console.log(`installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} else if (cmd === 'down') {
  await manager.down(names.length > 0 ? names : all);
}
if (cmd !== 'down' && cmd !== 'install') {
  for (const row of (await manager.status()).filter((r) => all.includes(r.name))) console.log(row);
}
