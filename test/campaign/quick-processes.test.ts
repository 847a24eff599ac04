/**
 * The quick fault campaign, rows with real child processes (src/campaign/): a SIGKILL of the real daemon command
 * during practice with its trainer (integrity, log invariants, the restart idle and reporting what it recovered), and
 * the trainer crashing, hanging and exporting five kinds of bad model beside a practising daemon.
 */
import { test } from 'node:test';
import { quickRows } from './helpers.ts';

test('quick campaign: power loss and trainer faults pass', { timeout: 150_000 }, async () => {
  await quickRows(['power-loss', 'trainer']);
});
