/**
 * The offline feature cache (OnlineTrainerConfig.featureCache): a trainer started after another one, from the same
 * checkpoint, prior database and seed, reads the offline features from disk instead of running every prior observation
 * through the encoders again; anything they depend on changes the file, and a damaged file is recomputed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ONLINE, OnlineTrainer, type OnlineTrainerConfig } from '../../src/online/trainer.ts';
import { Store } from '../../src/store/index.ts';
import { tinyOffline } from './fixtures.ts';

const fx = await tinyOffline('trainer-feature-cache-test');
after(() => fx.cleanup());

interface Inside {
  offFeat: { pi: Float32Array; q: Float32Array; v: Float32Array; rows: number };
  agent: { featureDims: { pi: number; q: number; v: number } };
}

const cacheDir = join(fx.dir, 'feature-cache');
let runs = 0;
async function offlineFeatures(over: Partial<OnlineTrainerConfig> = {}): Promise<Float32Array[]> {
  const n = runs++;
  const db = join(fx.dir, `daemon-${n}.db`);
  Store.open(db).close(); // the trainer reads a daemon's log; an empty one will do
  const tr = new OnlineTrainer({
    ...DEFAULT_ONLINE,
    db,
    offlineDb: fx.db,
    offlineDomains: fx.domains,
    onlineFraction: 0.5, // a prior-data share: at the default (1) the prior data is not loaded
    startCheckpoint: fx.checkpoint,
    workDir: join(fx.dir, `online-${n}`),
    featureCache: cacheDir,
    seed: 1,
    ...over,
  });
  try {
    await tr.init();
    const { offFeat: f, agent } = tr as unknown as Inside;
    // The table grows by doubling: compare the filled rows only.
    return (['pi', 'q', 'v'] as const).map((k) => f[k].slice(0, f.rows * agent.featureDims[k]));
  } finally {
    tr.close();
  }
}

const files = (): string[] => readdirSync(cacheDir).filter((f) => f.endsWith('.f32'));

test('a second trainer reads the offline features from the cache; seed, prior data and damage each recompute', async () => {
  const first = await offlineFeatures();
  assert.equal(files().length, 1, 'the first start writes one cache file');
  const file = join(cacheDir, files()[0]!);

  // Read, not recomputed: a cache file overwritten with other values of the right length is what the next trainer uses.
  const size = statSync(file).size;
  const marked = new Float32Array(size / 4).map((_, i) => i % 7);
  writeFileSync(file, Buffer.from(marked.buffer));
  const read = await offlineFeatures();
  assert.deepEqual(read[0]!.subarray(0, 14), marked.subarray(0, 14), 'the features come from the cache file');

  // A damaged (truncated) file is ignored and rewritten with the computed features.
  writeFileSync(file, Buffer.from(marked.buffer, 0, 64));
  const again = await offlineFeatures();
  assert.deepEqual(again, first, 'recomputed features equal the first computation');
  assert.equal(statSync(file).size, size);
  assert.deepEqual(await offlineFeatures(), first, 'and the rewritten file reads back the same');

  // Another seed draws other augmentations: another file.
  await offlineFeatures({ seed: 2 });
  assert.equal(files().length, 2);
  // Prior data rewritten (its modification time changes): another file.
  const t = new Date(statSync(fx.db).mtimeMs + 5000);
  utimesSync(fx.db, t, t);
  await offlineFeatures();
  assert.equal(files().length, 3);
});
