/**
 * The quick fault campaign's trainer row (src/campaign/trainer-faults.ts): beside a practising daemon the real
 * trainer crashes, hangs (SIGSTOP) and exports five kinds of bad model; practice goes on under the last good policy,
 * every bad model is refused with a recorded reason, and the trainer is restarted after the crash and the hang.
 */
import { test } from 'node:test';
import { quickRows } from './helpers.ts';

test('quick campaign: trainer faults pass', { timeout: 120_000 }, async () => {
  await quickRows(['trainer']);
});
