// Checkpoint selection inside train-offline (src/offline/select.ts): scores on the training connectors persist across a
// resume, the best checkpoint (not the last) is the one exported and kept shippable in <checkpoint-dir>/best, and
// ties go to the later step.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/learn/backend.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { main as trainOfflineCli } from '../../src/cli/train-offline.ts';
import { bestRecord, SELECTION_FILE, type SelectionState } from '../../src/offline/select.ts';
import { shipCheckpoint } from '../../src/offline/ship-checkpoint.ts';
import { TRAIN, tinyDb } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('select-test', 1, TRAIN.slice(0, 2));
after(() => fx.cleanup());

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await trainOfflineCli(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

const tiny = (ck: string, out: string, steps: number): string[] => [
  ...['--db', fx.db, '--split', fx.splitFile, '--steps', String(steps), '--image-size', '16', '--batch-size', '8'],
  ...['--filters', '4', '--z-dim', '3', '--hidden', '8', '--eval-trials', '0', '--checkpoint-dir', ck, '--resume'],
  ...['--checkpoint-every', '2', '--select-every', '2', '--select-trials', '1', '--out', out],
];

test('bestRecord: the highest score, a tie to the later step', () => {
  const r = (step: number, score: number) => ({ step, score, trials: 4, byScenario: {} });
  assert.equal(bestRecord([]), null);
  assert.equal(bestRecord([r(2, 0.5), r(4, 0.25), r(6, 0.5)])?.step, 6);
  assert.equal(bestRecord([r(2, 0.75), r(4, 0.25), r(6, 0.5)])?.step, 2);
});

test('train-offline --select-every: the best checkpoint is exported and shippable, scores survive a resume', async () => {
  const ck = join(fx.dir, 'ck');
  const out = join(fx.dir, 'out');
  // Two updates, scored at step 2 on the split's training connectors (scenarios I and II, one trial each).
  let r = await cli(tiny(ck, out, 2));
  assert.equal(r.code, 0, r.err);
  const file = join(ck, SELECTION_FILE);
  let s = JSON.parse(readFileSync(file, 'utf8')) as SelectionState;
  assert.deepEqual(
    s.records.map((x) => [x.step, x.trials]),
    [[2, fx.split.train.length * 2]],
  );
  assert.equal(s.best, 2);
  // Say step 2 measured better than anything later will (a tiny policy at 1.5 mm error succeeds about never); the
  // resumed run to step 4 must keep that score (not re-measure it) and export step 2's checkpoint, not step 4's.
  writeFileSync(file, JSON.stringify({ ...s, records: s.records.map((x) => ({ ...x, score: 1.01 })) }));
  r = await cli(tiny(ck, out, 4));
  assert.equal(r.code, 0, r.err);
  s = JSON.parse(readFileSync(file, 'utf8')) as SelectionState;
  assert.deepEqual(
    s.records.map((x) => x.step),
    [2, 4],
  );
  assert.equal(s.records[0]?.score, 1.01, 'the resumed run re-measured step 2');
  assert.equal(s.best, 2);
  const card = readCard(cardPathFor(join(out, 'policy.onnx')));
  assert.equal(card.training.updates, 2, 'exported the last checkpoint, not the best');
  assert.equal((card.hyperparameters.selection as SelectionState | undefined)?.best, 2, 'the card names the selection');
  assert.equal(readCard(cardPathFor(join(out, 'encoder-q.onnx'))).training.updates, 2);
  // best/ is a checkpoint directory of its own: npm run models ships it as it ships the last.
  const shipped = shipCheckpoint(join(ck, 'best'), join(fx.dir, 'iql-offline'), 'test');
  assert.equal(shipped.step, 2);
  assert.ok(existsSync(join(fx.dir, 'iql-offline', 'ckpt-000000002', 'manifest.json')));
});

test('train-offline --select-every: refused without a checkpoint dir or off the checkpoint grid, naming the flag', async () => {
  let r = await cli(['--db', fx.db, '--split', fx.splitFile, '--select-every', '4']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--select-every needs --checkpoint-dir/);
  r = await cli(['--db', fx.db, '--split', fx.splitFile, '--checkpoint-dir', join(fx.dir, 'x'), '--checkpoint-every', '2', '--select-every', '3']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--select-every: must be a multiple of --checkpoint-every \(2\), got 3/);
});
