// The log-to-learner bridge end to end: prior data collected in the real cell, loaded from the real SQLite file, fed
// to the real DAIB classifier and IQL agent (tiny networks; this checks the contract, not learning quality).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectPrior } from '../../src/data/collect.ts';
import { DEFAULT_PROPRIO_SPEC } from '../../src/policy/inputs.ts';
import { TransitionSampler, loadLabelledImages, loadTransitions } from '../../src/data/dataset.ts';
import { DEFAULT_PRIOR_SETTINGS } from '../../src/data/episode.ts';
import { initBackend } from '../../src/learn/backend.ts';
import { DaibClassifier, defaultDaibConfig, validateLabelledImages } from '../../src/learn/daib.ts';
import { DEFAULT_IQL, IqlAgent } from '../../src/learn/iql.ts';
import { Store } from '../../src/store/index.ts';

await initBackend();
const DOMAINS = ['hex14', 'round22'];
const encoder = { inputShape: [32, 32, 3] as [number, number, number], filters: [4, 4], kernelSize: 3, strides: [2, 2], padding: 'same' as const, zIDim: 8, zSDim: 4 };

test('prior data -> loaders -> DaibClassifier.fit and IqlAgent.update', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-test-'));
  try {
    const db = join(dir, 'prior.db');
    await collectPrior({
      db, connectors: DOMAINS, controllers: ['expert'], scenarios: ['I', 'II'], episodesPerConnector: 2, seed: 4, workers: 0,
      settings: { ...DEFAULT_PRIOR_SETTINGS, imageSize: 64, episodeLength: 12 },
    });
    const store = Store.openReadOnly(db);
    try {
      // Logged at 64 px, models at 32 px: the loaders resize.
      const images = loadLabelledImages(store, { domains: DOMAINS, imageSize: 32, balance: true });
      validateLabelledImages(images, 'bridge');
      const clf = new DaibClassifier(defaultDaibConfig({ numDomains: DOMAINS.length, encoder, headHidden: [16], domainHidden: [8], batchSize: 16 }));
      const stats = clf.fit(images, 3)!;
      for (const k of ['loss', 'bce', 'domainCe', 'kl'] as const) assert.ok(Number.isFinite(stats[k]), `${k} = ${stats[k]}`);
      const p = clf.predict(images.images, images.count);
      assert.equal(p.length, images.count);
      for (const v of p) assert.ok(v >= 0 && v <= 1);
      const ev = clf.evaluate(images);
      assert.deepEqual(ev.perDomain.map((d) => d.name), DOMAINS);

      const replay = loadTransitions(store, { domains: DOMAINS, imageSize: 32 });
      const agent = new IqlAgent({
        ...DEFAULT_IQL, mode: 'image', proprioDim: replay.proprioDim, proprioScale: [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1], hidden: [16, 16], shiftPad: 2, seed: 1,
        daib: defaultDaibConfig({ numDomains: DOMAINS.length, encoder, domainHidden: [8] }),
      });
      assert.deepEqual(replay.proprio.layout, DEFAULT_PROPRIO_SPEC.layout);
      const sampler = new TransitionSampler(replay, { seed: 0, batchSize: 16 });
      for (let i = 0; i < 3; i++) {
        const s = agent.update(sampler.sample());
        for (const k of ['vLoss', 'qLoss', 'piLoss', 'domainCe', 'kl'] as const) assert.ok(Number.isFinite(s[k]), `${k} = ${s[k]}`);
      }
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
