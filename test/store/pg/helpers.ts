/** One throw-away PostgreSQL per test file (src/store/pg/cluster.ts); files skip with the reason when it cannot run. */
import { after, before } from 'node:test';
import { pgUnavailable, startPgCluster, type PgCluster } from '../../../src/store/pg/cluster.ts';
import { pgTarget, type PgTarget } from '../../../src/store/pg/credentials.ts';

/** Skip reason for `test(name, { skip }, ...)`, or false. */
export const pgSkip: string | false = pgUnavailable() ?? false;

/** Starts the cluster before the file's tests and removes it after them. */
export function usePgCluster(): { cluster: () => PgCluster; target: () => PgTarget } {
  let c: PgCluster | null = null;
  before(async () => {
    if (!pgSkip) c = await startPgCluster();
  });
  after(() => c?.destroy());
  return {
    cluster: () => {
      if (!c) throw new Error('no cluster');
      return c;
    },
    target: () => pgTarget({}, { ...c!.env }),
  };
}
