/**
 * `npm run ch -- "SELECT ..."`: a small ClickHouse client for the embedded
 * engine (the clickhouse-client binary is not installable here). Without a
 * query it reads statements interactively (end each with `;`). Speaks the
 * ClickHouse HTTP interface, so it works against a real server too. With a
 * replica set (CLICKHOUSE_REPLICA_URLS) it reads from CLICKHOUSE_PRIMARY, or
 * the next replica that answers when that one does not (--replica: that one).
 */
import './closed-pipe.ts';
import { createClickHouse, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { Command } from 'commander';
import { pipelineNames } from '../shared/names.ts';
import { loadConfigOrExit } from '../config/load.ts';
import { chooseReplica, failoverLine } from '../connectors/clickhouse/replicas.ts';
import readline from 'node:readline';

const hasFormat = (q: string) => /\bFORMAT\s+\w+\s*;?\s*$/i.test(q);
const isReadQuery = (q: string) => /^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b/i.test(q);

async function runOne(client: ClickHouseClient, query: string, format: string): Promise<void> {
  const q = query.trim().replace(/;\s*$/, '');
  if (q === '') return;
  const started = Date.now();
  if (isReadQuery(q)) {
    // Ask the server for the text it would print; an explicit FORMAT in the query wins.
    const rs = await client.exec({ query: hasFormat(q) ? q : `${q} FORMAT ${format}` });
    for await (const chunk of rs.stream) process.stdout.write(chunk as Buffer);
  } else {
    await client.command({ query: q });
    console.log('Ok.');
  }
  if (process.stdout.isTTY) console.error(`(${((Date.now() - started) / 1000).toFixed(3)} s)`);
}

function friendly(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function main(): Promise<void> {
  const program = new Command('ch')
    .description('run ClickHouse queries against the embedded engine (or any ClickHouse HTTP endpoint)')
    .argument('[query...]', 'the query; omit for an interactive prompt')
    .option('--url <url>', 'ClickHouse HTTP URL (default: CLICKHOUSE_PRIMARY of the replica set, else the next that answers; CLICKHOUSE_URL with one host)')
    .option('--replica <name>', 'one replica of the set: ch1 (CLICKHOUSE_URL), ch2 (the first of CLICKHOUSE_REPLICA_URLS), ...')
    .option('-f, --format <format>', 'output format for reads', process.stdout.isTTY ? 'PrettyCompactMonoBlock' : 'TabSeparatedWithNames')
    .option('-d, --database <db>', 'default database', pipelineNames.clickhouseDatabase)
    .option('--print-url', 'print the URL reads would go to (the replica that answers) and exit: what `npm run dbt` targets')
    .parse();
  const o = program.opts<{ url?: string; replica?: string; format: string; database: string; printUrl?: boolean }>();
  let url = o.url;
  if (url === undefined) {
    const choice = await chooseReplica(loadConfigOrExit('dev'), o.replica);
    const said = failoverLine(choice);
    if (said) console.error(`ch: ${said}`);
    url = choice.replica.url;
  }
  if (o.printUrl) {
    console.log(url);
    return;
  }
  const opts = { ...o, url };
  const client = createClickHouse(opts.url, { database: opts.database, requestTimeoutMs: 300_000 });
  try {
    await client.ping().then((r) => {
      if (!r.success) throw new Error(`no ClickHouse at ${opts.url} (is the stack up? npm run stack -- status)`);
    });
    const query = program.args.join(' ');
    if (query.trim() !== '') {
      await runOne(client, query, opts.format);
      return;
    }
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: 'ch :) ' });
    let buffer = '';
    rl.prompt();
    for await (const line of rl) {
      buffer += `${line}\n`;
      if (/;\s*$/.test(line) || /^\s*(exit|quit)\s*$/i.test(buffer)) {
        if (/^\s*(exit|quit)\s*;?\s*$/i.test(buffer)) break;
        try {
          await runOne(client, buffer, opts.format);
        } catch (err) {
          console.error(friendly(err));
        }
        buffer = '';
      }
      rl.setPrompt(buffer === '' ? 'ch :) ' : 'ch :-] ');
      rl.prompt();
    }
    rl.close();
  } finally {
    await client.close();
  }
}

main().catch((err: unknown) => {
  console.error(`error: ${friendly(err)}`);
  process.exit(1);
});
