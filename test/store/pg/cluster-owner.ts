/** A process that owns a throw-away cluster and waits to be killed (test/store/pg/cluster.test.ts). argv[2]: 'watchdog' | 'none', argv[3]: the directory to make it in. */
import { startPgCluster } from '../../../src/store/pg/cluster.ts';

const c = await startPgCluster({ watchdog: process.argv[2] !== 'none', root: process.argv[3] as string });
process.stdout.write(`${JSON.stringify({ dir: c.dir, port: c.port, watchdogPid: c.watchdogPid ?? null })}\n`);
setInterval(() => undefined, 60_000);
