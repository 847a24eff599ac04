/**
 * Prior-data collection and loading: per-episode simulation and write cost, collection throughput with 0 (in this
 * thread), 1 and 2 worker threads, and the loaders' speed. `npx tsx bench/collect.bench.ts [--per-connector N] [--rounds N]`.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectPrior, episodeRows } from '../src/data/collect.ts';
import { loadLabelledImages, loadTransitions, TransitionSampler } from '../src/data/dataset.ts';
import { CellCache, DEFAULT_PRIOR_SETTINGS, planTasks, runPriorEpisode } from '../src/data/episode.ts';
import { Store } from '../src/store/index.ts';
import { benchArgs, COLLECT } from './commands.ts';
import { summarize, writeResults } from './lib.ts';

const { perConnector, rounds } = benchArgs(COLLECT);
const connectors = ['square16', 'dt04'];
const settings = DEFAULT_PRIOR_SETTINGS;
const dir = mkdtempSync(join(tmpdir(), 'collect-bench-'));
const figures: Record<string, unknown> = { settings, connectors, perConnector };
try {
  // 1. One episode in this thread: simulation vs compress+write.
  const cells = new CellCache(settings, null);
  const tasks = planTasks({ connectors, controllers: ['expert'], scenarios: ['I', 'II'], episodesPerConnector: 12, seed: 99 });
  const store = Store.open(join(dir, 'one.db'));
  const sid = store.openSession({ robot: 'sim', backend: 'sim', config: {}, calibration: {} });
  const sim: number[] = [];
  const write: number[] = [];
  for (const [i, t] of tasks.entries()) {
    const t0 = performance.now();
    const ep = await runPriorEpisode(await cells.get(t.connector), t, settings);
    const t1 = performance.now();
    const id = store.beginEpisode({ sessionId: sid, kind: 'prior', domain: t.connector, seed: t.resetSeed });
    store.appendTransitions(episodeRows(id, ep));
    store.endEpisode(id, { outcome: ep.success ? 'success' : 'failure' });
    const t2 = performance.now();
    if (i >= 4) {
      sim.push(t1 - t0);
      write.push(t2 - t1);
    } // warm-up: first episodes tier the wasm up
  }
  cells.dispose();
  store.close();
  const s1 = summarize(sim),
    w1 = summarize(write);
  console.log(
    `episode (${settings.episodeLength} steps, ${settings.imageSize}px): simulate median ${s1.median.toFixed(1)} ms p99 ${s1.p99.toFixed(1)} ms; compress+write median ${w1.median.toFixed(1)} ms p99 ${w1.p99.toFixed(1)} ms`,
  );
  figures.episodeSimulateMs = s1;
  figures.episodeWriteMs = w1;

  // 2. Throughput of whole collections, interleaved rounds (the machine is shared: one run per setting is noise).
  const throughput: Record<string, { episodesPerS: number[]; elapsedS: number[]; bytesPerRow: number }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const workers of round % 2 ? [2, 1, 0] : [0, 1, 2]) {
      const db = join(dir, `w${workers}-${round}.db`);
      const r = await collectPrior({
        db,
        connectors,
        controllers: ['expert'],
        scenarios: ['I', 'II'],
        episodesPerConnector: perConnector,
        seed: 1,
        settings,
        workers,
      });
      const bytes =
        statSync(db).size +
        (() => {
          try {
            return statSync(`${db}-wal`).size;
          } catch {
            return 0;
          }
        })();
      console.log(
        `round ${round} workers ${workers}: ${r.written} episodes in ${r.elapsedS.toFixed(1)} s = ${r.episodesPerS.toFixed(2)} episodes/s (${((r.written * (settings.episodeLength + 1)) / r.elapsedS).toFixed(0)} rows/s); ${(bytes / r.rowsWritten / 1024).toFixed(1)} KiB/row on disk`,
      );
      const t = (throughput[`workers${workers}`] ??= { episodesPerS: [], elapsedS: [], bytesPerRow: bytes / r.rowsWritten });
      t.episodesPerS.push(r.episodesPerS);
      t.elapsedS.push(r.elapsedS);
    }
  }
  for (const [k, v] of Object.entries(throughput))
    console.log(`${k}: best ${Math.max(...v.episodesPerS).toFixed(2)} episodes/s, median ${summarize(v.episodesPerS).median.toFixed(2)}`);
  figures.throughput = throughput;

  // 3. Loaders on what was collected.
  const ro = Store.openReadOnly(join(dir, 'w0-0.db'));
  let t0 = performance.now();
  const li = loadLabelledImages(ro, { domains: connectors, imageSize: 64 });
  const liMs = performance.now() - t0;
  t0 = performance.now();
  const td = loadTransitions(ro, { domains: connectors, imageSize: 64 });
  const tdMs = performance.now() - t0;
  const sampler = new TransitionSampler(td, { seed: 0, batchSize: 256 });
  const batch: number[] = [];
  for (let i = 0; i < 30; i++) {
    const b0 = performance.now();
    sampler.sample();
    if (i >= 5) batch.push(performance.now() - b0);
  }
  ro.close();
  const sb = summarize(batch);
  console.log(
    `loadLabelledImages: ${li.count} images in ${liMs.toFixed(0)} ms (${((li.count / liMs) * 1000).toFixed(0)}/s); loadTransitions: ${td.count} transitions in ${tdMs.toFixed(0)} ms (${((td.obsCount / tdMs) * 1000).toFixed(0)} obs/s); IqlBatch of 256 at 64px: median ${sb.median.toFixed(2)} ms p99 ${sb.p99.toFixed(2)} ms`,
  );
  figures.loaders = { labelledImages: { count: li.count, ms: liMs }, transitions: { count: td.count, observations: td.obsCount, ms: tdMs }, batch256Ms: sb };
  console.log(`results: ${writeResults('collect', figures)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
