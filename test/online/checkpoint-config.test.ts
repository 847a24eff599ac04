/**
 * The shipped offline checkpoint still starts the online trainer after a DAIB setting was added: a checkpoint written
 * before `adversary` existed reads as the gradient reversal it was trained with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { IqlAgent } from '../../src/learn/iql.ts';
import { checkpointConfig } from '../../src/online/trainer.ts';

const shipped = join(resolve(import.meta.dirname, '../..'), 'models/iql-offline');

test("the shipped checkpoint's config builds an agent; its DAIB adversary reads as the reversal", async () => {
  await tf.setBackend('cpu');
  const config = checkpointConfig(shipped);
  assert.equal(config.daib?.adversary, 'reversal');
  const agent = new IqlAgent(config);
  assert.equal(agent.config.daib?.adversary, 'reversal');
  agent.dispose();
});
