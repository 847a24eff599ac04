import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_IQL, type IqlConfig } from '../../src/learn/iql.ts';
import { onlineAgentConfig } from '../../src/online/trainer.ts';

const none = { actorLr: null, temperature: null, critics: null, targetCritics: null, criticPolyak: null };

test("the online agent keeps the checkpoint's settings where the trainer's are null, and takes each one it sets", () => {
  const saved: IqlConfig = {
    ...DEFAULT_IQL,
    mode: 'features',
    proprioDim: 9,
    proprioScale: [],
    temperature: 3,
    actorLr: 3e-4,
    critics: 2,
    targetCritics: 2,
    polyak: 0.005,
  };
  assert.deepEqual(onlineAgentConfig(saved, none), saved);
  const c = onlineAgentConfig(saved, { actorLr: 1e-4, temperature: 10, critics: 10, targetCritics: 2, criticPolyak: 0.01 });
  assert.deepEqual([c.actorLr, c.temperature, c.critics, c.targetCritics, c.polyak, c.expectile], [1e-4, 10, 10, 2, 0.01, saved.expectile]);
  assert.equal(onlineAgentConfig(saved, { ...none, hindsightWeight: 0 }).aimWeight, undefined, 'hindsight aims off: the agent has none');
  assert.equal(onlineAgentConfig(saved, { ...none, hindsightWeight: 1 }).aimWeight, 1);
});
