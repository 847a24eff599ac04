import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shipCheckpoint } from '../../src/offline/ship-checkpoint.ts';
import { IqlAgent } from '../../src/learn/iql.ts';
import { checkpointConfig } from '../../src/online/trainer.ts';
import { tinyOffline } from '../online/fixtures.ts';

const fx = await tinyOffline('ship-ckpt');
after(() => fx.cleanup());

test('shipCheckpoint copies the newest checkpoint with a card, and an agent loads the shipped copy', async () => {
  const out = join(fx.dir, 'models', 'iql-offline');
  mkdirSync(join(fx.dir, 'models'), { recursive: true });
  const card = shipCheckpoint(fx.checkpoint, out, 'npx tsx src/cli/models.ts');
  assert.equal(card.kind, 'iql-checkpoint');
  assert.equal(card.step, 10);
  assert.deepEqual((card.training as { domains: string[] }).domains, fx.domains);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'card.json'), 'utf8')), card);
  assert.ok(existsSync(join(out, card.checkpoint, 'weights.bin')));
  const agent = new IqlAgent(checkpointConfig(out));
  try {
    await agent.loadCheckpoint(out);
    assert.equal(agent.step, 10);
  } finally {
    agent.dispose();
  }
  // Shipping again replaces the copy atomically (no leftovers).
  shipCheckpoint(fx.checkpoint, out, 'x');
  assert.equal(JSON.parse(readFileSync(join(out, 'card.json'), 'utf8')).reproduce, 'x');
  assert.ok(!existsSync(`${out}.tmp-${process.pid}`));
});

test('shipCheckpoint refuses a directory without a checkpoint, naming the file', () => {
  const empty = join(fx.dir, 'empty');
  mkdirSync(empty, { recursive: true });
  assert.throws(() => shipCheckpoint(empty, join(fx.dir, 'out2'), 'x'), /empty\/latest\.json: no checkpoint to ship/);
  assert.ok(!existsSync(join(fx.dir, 'out2')));
});
