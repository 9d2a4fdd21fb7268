/**
 * `npm run simulator` (npx tsx cli/simulator.ts --help): the local stand-in
 * for the astronauts API (simulator/server.ts), listening until stopped.
 */
import { Command, InvalidArgumentError } from 'commander';
import { createSimulator, MAX_CREW } from '../simulator/server.ts';

function intOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

async function main(argv = process.argv): Promise<void> {
  const program = new Command()
    .name('simulator')
    .description('Local astronauts-in-space API (astros.json shape) with deterministic crew rotations and fault injection.')
    .option('--port <port>', 'port to listen on', intOption(0, 65535), 8090)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--seed <n>', 'seed of the generated crews', intOption(0, 2 ** 31 - 1), 1)
    .option('--size <n>', `crew size (up to ${MAX_CREW})`, intOption(0, MAX_CREW), 10)
    .option('--step-seconds <s>', 'advance the rotation step every s seconds (0: only via POST /control)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0');
      return n;
    }, 0)
    .addHelpText(
      'after',
      `
Routes (also under /s/<scenario>/ for independent scenarios):
  GET  /astros.json     the feed
  GET  /health          liveness
  GET  /control/state   step, crew size, pending faults, request counts
  POST /control         e.g. {"crew":[{"name":"A B","craft":"ISS"}]}, {"advance":1},
                        {"faults":{"http5xx":{"count":3},"slow":{"count":1,"ms":5000},
                         "malformed":{"count":1},"invalidRecords":{"count":1,"records":3},
                         "reset":{"count":1},"duplicates":{"count":1}}}, {"clearFaults":true},
                        {"serve":[{"bodyBase64":"…","contentType":"text/html","status":200}]}  (raw responses, in order)
  DELETE /s/<scenario>  forget a scenario`,
    )
    .action(async (opts: { port: number; host: string; seed: number; size: number; stepSeconds: number }) => {
      const server = createSimulator({ seed: opts.seed, size: opts.size, stepSeconds: opts.stepSeconds });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.host, resolve);
      });
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      console.log(`simulator listening on http://${opts.host}:${port}/astros.json (seed ${opts.seed}, size ${opts.size})`);
      const stop = () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  await program.parseAsync(argv);
}

main().catch((err: unknown) => {
  process.stderr.write(`simulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
