/**
 * The control thread's V8 switches read from the environment (src/daemon/thread.ts): what each value means, and a typo
 * refused rather than read as the default. What the switch does to the thread's isolate: test/util/worker.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlConcurrentRecompilation } from '../../src/daemon/thread.ts';

const KEY = 'INSERTION_CONTROL_CONCURRENT_RECOMPILATION';

test('INSERTION_CONTROL_CONCURRENT_RECOMPILATION: unset or off clears it, on keeps it, anything else is refused', () => {
  assert.equal(controlConcurrentRecompilation({}), false);
  assert.equal(controlConcurrentRecompilation({ [KEY]: '' }), false);
  assert.equal(controlConcurrentRecompilation({ [KEY]: 'on' }), true);
  assert.equal(controlConcurrentRecompilation({ [KEY]: 'off' }), false);
  assert.throws(() => controlConcurrentRecompilation({ [KEY]: 'false' }), /on or off, not "false"/);
});
