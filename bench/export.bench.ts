/**
 * Export rate: transitions per second from the SQLite log to MCAP (PNG-encoding every frame through sharp) and to
 * .npz, on prior data collected in the simulated cell (64x64 frames with nuisance noise, 20 steps per episode).
 * Also the import rate of that MCAP back into a log. `npx tsx bench/export.bench.ts [--per-connector N] [--rounds N]`
 * (default 10 and 3: 420 rows; about half a minute on this machine).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectPrior } from '../src/data/collect.ts';
import { DEFAULT_PRIOR_SETTINGS } from '../src/data/episode.ts';
import { importBag } from '../src/export/import-bag.ts';
import { exportMcap } from '../src/export/mcap.ts';
import { exportNpz } from '../src/export/npz.ts';
import { Store } from '../src/store/index.ts';
import { benchArgs, EXPORT } from './commands.ts';
import { summarize, writeResults } from './lib.ts';

const { perConnector, rounds } = benchArgs(EXPORT);
const dir = mkdtempSync(join(tmpdir(), 'export-bench-'));
try {
  const db = join(dir, 'prior.db');
  const c = await collectPrior({
    db,
    connectors: ['square16', 'europlug'],
    controllers: ['expert'],
    scenarios: ['I', 'II'],
    episodesPerConnector: perConnector,
    seed: 3,
    settings: DEFAULT_PRIOR_SETTINGS,
    workers: 0,
  });
  const store = Store.openReadOnly(db);
  const sessionId = store.listSessions()[0]!.id;
  const rows = store.countTransitions({ sessionId });
  console.log(`collected ${c.written} episodes, ${rows} logged rows`);
  const rate = { mcap: [] as number[], npz: [] as number[], npzDeflate: [] as number[], importMcap: [] as number[] };
  let mcapBytes = 0;
  let npzBytes = 0;
  for (let r = 0; r < rounds; r++) {
    const m = await exportMcap({ store, sessionId, out: join(dir, 'x.mcap') });
    rate.mcap.push(m.transitions / m.seconds);
    mcapBytes = m.bytes;
    const n = await exportNpz({ store, sessionId, out: join(dir, 'x.npz') });
    rate.npz.push(n.rows / n.seconds);
    npzBytes = n.bytes;
    const z = await exportNpz({ store, sessionId, out: join(dir, 'xz.npz'), compress: true });
    rate.npzDeflate.push(z.rows / z.seconds);
    const i = await importBag({
      bag: join(dir, 'x.mcap'),
      db: join(dir, `back${r}.db`),
      domain: 'square16',
      topics: { image: '/camera/image/compressed', wrench: '/wrist/wrench', pose: '/ee/pose', goal: '/goal' },
      split: { kind: 'marker', topic: '/episode' },
      labels: { kind: 'topic', topic: '/reward/ground_truth' },
    });
    rate.importMcap.push(i.frames.used / i.seconds);
    console.log(
      `round ${r}: MCAP ${rate.mcap[r]!.toFixed(0)} transitions/s (${(m.bytes / rows / 1024).toFixed(1)} KiB/row), npz ${rate.npz[r]!.toFixed(0)} rows/s stored, ${rate.npzDeflate[r]!.toFixed(0)} deflated; import of the MCAP ${rate.importMcap[r]!.toFixed(0)} frames/s`,
    );
  }
  store.close();
  const figures = {
    rows,
    episodes: c.written,
    imageSize: DEFAULT_PRIOR_SETTINGS.imageSize,
    mcapTransitionsPerS: summarize(rate.mcap),
    npzRowsPerS: summarize(rate.npz),
    npzDeflatedRowsPerS: summarize(rate.npzDeflate),
    importFramesPerS: summarize(rate.importMcap),
    mcapBytesPerRow: mcapBytes / rows,
    npzBytesPerRow: npzBytes / rows,
  };
  console.log(
    `median: MCAP ${figures.mcapTransitionsPerS.median.toFixed(0)} transitions/s, npz ${figures.npzRowsPerS.median.toFixed(0)} rows/s, import ${figures.importFramesPerS.median.toFixed(0)} frames/s`,
  );
  console.log(`results: ${writeResults('export', figures)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
