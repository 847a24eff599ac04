/**
 * The quick fault campaign, rows on one daemon each (src/campaign/): sensor faults through the simulator, e-stops
 * under API load (and the trainer), the force limit against a blocked socket, hostile requests and malformed files.
 */
import { test } from 'node:test';
import { quickRows } from './helpers.ts';

test('quick campaign: sensor faults, e-stop under load, force limit and bad input pass', { timeout: 150_000 }, async () => {
  await quickRows(['sensors', 'estop', 'force', 'bad-input']);
});
