/**
 * The quick fault campaign's power-loss row (src/campaign/power-loss.ts): the real daemon command practising with its
 * trainer is SIGKILLed at a seeded moment; the log passes SQLite's integrity check and its own invariants, the
 * trainer does not outlive the daemon, and the restart comes up idle and says what it recovered.
 */
import { test } from 'node:test';
import { quickRows } from './helpers.ts';

test('quick campaign: power loss passes', { timeout: 120_000 }, async () => {
  await quickRows(['power-loss']);
});
