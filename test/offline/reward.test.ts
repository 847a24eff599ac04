// The reward-training command end to end on a tiny real collected database: table JSON, ONNX + card, loader, and
// ONNX == tfjs on real logged observations; a short run learns (training loss falls, training accuracy beats chance).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/learn/backend.ts';
import { main as trainRewardMain } from '../../src/cli/train-reward.ts';
import { cardPathFor, readCard, sha256File } from '../../src/policy/card.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { errorsByHeight, exportReward, loadRewardData, trainRewardMethod } from '../../src/offline/reward.ts';
import type { LoadedImages } from '../../src/data/dataset.ts';
import { Store } from '../../src/store/index.ts';
import { HELD_OUT, TRAIN, tinyDb, tinyRewardOptions } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('train-reward-test', 4);
after(() => fx.cleanup());

const small = tinyRewardOptions(fx, { steps: 200 });

test('train-reward CLI: table JSON, reward.onnx + valid card that loads through RewardModel', async () => {
  const out = join(fx.dir, 'models');
  const code = await trainRewardMain([
    '--db',
    fx.db,
    '--heldout-db',
    fx.db,
    '--split',
    fx.splitFile,
    '--method',
    'daib,erm',
    '--steps',
    '6',
    '--image-size',
    '16',
    '--batch-size',
    '16',
    '--filters',
    '4,4',
    '--out',
    out,
    '--log-every',
    '3',
  ]);
  assert.equal(code, 0);
  type Row = {
    method: string;
    evaluation: { domains: number; samples: number; accuracy: number; perDomain: Array<{ name: string; samples: number; positives: number }> };
    errorsByHeight: Array<{ name: string; bins: Array<{ label: string; samples: number; errorRate: number }> }>;
  };
  const table = JSON.parse(readFileSync(join(out, 'reward-table8.json'), 'utf8')) as { rows: Row[] };
  assert.deepEqual(
    table.rows.map((r) => r.method),
    ['daib', 'erm'],
  );
  for (const r of table.rows) {
    assert.equal(r.evaluation.domains, HELD_OUT.length);
    assert.ok(r.evaluation.samples > 0 && r.evaluation.accuracy >= 0 && r.evaluation.accuracy <= 1);
    // Simulated prior data knows the socket: every held-out sample lands in a height bin, the seated ones in 'seated'.
    assert.deepEqual(
      r.errorsByHeight.map((e) => e.name),
      r.evaluation.perDomain.map((d) => d.name),
    );
    r.errorsByHeight.forEach((e, d) => {
      const dom = r.evaluation.perDomain[d]!;
      assert.equal(
        e.bins.reduce((a, b) => a + b.samples, 0),
        dom.samples,
        e.name,
      );
      assert.equal(e.bins.find((b) => b.label === 'seated')?.samples ?? 0, dom.positives, e.name);
      for (const b of e.bins) assert.ok(b.errorRate >= 0 && b.errorRate <= 1, `${e.name} ${b.label}`);
    });
  }
  const path = join(out, 'reward.onnx');
  const card = readCard(cardPathFor(path));
  assert.equal(card.kind, 'reward');
  assert.deepEqual([...card.training.connectors].sort(), [...TRAIN].sort());
  assert.deepEqual([...card.training.heldOut].sort(), [...HELD_OUT].sort());
  const s = Store.openReadOnly(fx.db);
  try {
    assert.equal(card.training.database?.sha256, s.datasetDigest({ domain: card.training.connectors, kind: 'prior' }).sha256);
  } finally {
    s.close();
  }
  assert.equal(card.onnx.sha256, sha256File(path));
  assert.ok(card.backend.startsWith('wasm') || card.backend.startsWith('tensorflow'), card.backend);
  assert.ok(Number.isFinite(card.metrics.heldOutAccuracy));
  for (const d of HELD_OUT) assert.ok(Number.isFinite(card.metrics[`heldOutAccuracy_${d}`]), d);
  const m = await RewardModel.load(path);
  await m.dispose();
  // Bad arguments: exit 2, never a crash.
  assert.equal(await trainRewardMain(['--db', fx.db, '--method', 'nope']), 2);
  assert.equal(await trainRewardMain(['--db', join(fx.dir, 'missing.db')]), 2);
  assert.equal(await trainRewardMain(['--db', fx.db, '--color-jitter', '1.5']), 2);
});

test('errorsByHeight: error rates of seated samples and of unseated ones by height above seated, per connector', () => {
  // connector a: seated x2 (one wrong), 2 mm (wrong), 4 mm (right), 20 mm (right); connector b: 8 mm (wrong), unknown height.
  const data = {
    domainNames: ['a', 'b'],
    count: 7,
    success: Uint8Array.from([1, 1, 0, 0, 0, 0, 0]),
    domain: Int32Array.from([0, 0, 0, 0, 0, 1, 1]),
    aboveSeated: Float32Array.from([0, 0.0004, 0.002, 0.004, 0.02, 0.008, NaN]),
  } as unknown as LoadedImages;
  const prob = Float32Array.from([0.9, 0.2, 0.7, 0.1, 0.3, 0.6, 0.9]);
  assert.deepEqual(errorsByHeight(prob, data), [
    {
      name: 'a',
      bins: [
        { label: 'seated', samples: 2, errorRate: 0.5 },
        { label: '0-3 mm', samples: 1, errorRate: 1 },
        { label: '3-6 mm', samples: 1, errorRate: 0 },
        { label: '>=10 mm', samples: 1, errorRate: 0 },
      ],
    },
    { name: 'b', bins: [{ label: '6-10 mm', samples: 1, errorRate: 1 }] },
  ]);
});

test('a short run learns, and the exported ONNX matches tfjs within 1e-4 on real logged observations', async () => {
  const data = loadRewardData(small);
  const { clf, row } = trainRewardMethod(small, data, 'erm');
  try {
    // Learning happened: the training loss fell from ln 2 and the training set is classified well above chance.
    assert.ok(row.finalLoss < 0.6, `final BCE ${row.finalLoss}`);
    assert.ok(row.trainAccuracy > 0.7, `training accuracy ${row.trainAccuracy}`);
    const path = join(fx.dir, 'erm', 'reward.onnx');
    exportReward(clf, row, small, data, path);
    assert.ok(existsSync(cardPathFor(path)));
    const model = await RewardModel.load(path);
    try {
      const n = Math.min(64, data.heldOut.count);
      const px = 16 * 16 * 3;
      const ref = clf.predict(data.heldOut.images, n);
      const images = Float32Array.from(data.heldOut.images.subarray(0, n * px), (v) => v / 255);
      const onnx = await model.probabilities(n, images);
      let maxDiff = 0;
      for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs((onnx[i] as number) - (ref[i] as number)));
      assert.ok(maxDiff <= 1e-4, `max |onnx - tfjs| = ${maxDiff}`);
      assert.ok(Math.max(...ref) - Math.min(...ref) > 0.05, 'probabilities barely vary: comparison too weak');
    } finally {
      await model.dispose();
    }
  } finally {
    clf.dispose();
  }
});
