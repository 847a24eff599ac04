/**
 * Checkpoint selection inside offline IQL, on the TRAINING connectors only (never the held-out ones): every `every`
 * updates the current policy is exported and run in the simulated cell (P + residual, scenarios I and II, x* error
 * 1.5 mm: the online case), and the best-scoring checkpoint is kept in `<checkpointDir>/best/` (a checkpoint directory
 * of its own: latest.json, run.json and the one checkpoint, so shipCheckpoint ships it as it ships the last).
 *
 * Why: the policy of one run moves a lot between checkpoints. In the from-scratch run of `npm run models`
 * (results/offline-stage/) its success on the training connectors at 1.5 mm went 20, 10, 28, 35, 18 % at 3000-9000
 * updates, and held-out offline success followed it. Selection picks the best offline point without looking at a held-out
 * connector. It is opt-in: online, the selected checkpoint (7500) learned no better than the last one at 3000 updates
 * (results/offline-stage/), so `npm run models` does not use it.
 *
 * State is `<checkpointDir>/selection.json`, so a resumed run keeps the scores already measured.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Split } from '../data/splits.ts';
import { evaluatePolicy } from './evaluate-policy.ts';
import { writeJson } from './common.ts';

export interface SelectionRecord {
  step: number;
  /** Mean success over the training connectors, scenarios I and II, x* error `goalErrorMm`. */
  score: number;
  trials: number;
  /** Success rate per scenario. */
  byScenario: Record<string, number>;
}

export interface SelectionState {
  every: number;
  trialsPerConnector: number;
  goalErrorMm: number;
  records: SelectionRecord[];
  /** Step of the checkpoint in best/ (null before the first evaluation). */
  best: number | null;
}

export const SELECTION_FILE = 'selection.json';
/** The calibration error of the selection's trials: the online experiment's (x* error 1.5 mm). */
export const SELECTION_GOAL_ERROR_MM = 1.5;

export function readSelection(checkpointDir: string, every: number, trialsPerConnector: number): SelectionState {
  const path = join(checkpointDir, SELECTION_FILE);
  if (!existsSync(path)) return { every, trialsPerConnector, goalErrorMm: SELECTION_GOAL_ERROR_MM, records: [], best: null };
  const s = JSON.parse(readFileSync(path, 'utf8')) as SelectionState;
  if (s.every !== every || s.trialsPerConnector !== trialsPerConnector)
    throw new Error(
      `${path}: field 'every'/'trialsPerConnector' is ${s.every}/${s.trialsPerConnector}, this run asks ${every}/${trialsPerConnector} (use the same selection flags, or a new --checkpoint-dir)`,
    );
  return s;
}

/** The best record: highest score; a tie goes to the later step (more training for the same measured success). */
export function bestRecord(records: readonly SelectionRecord[]): SelectionRecord | null {
  let best: SelectionRecord | null = null;
  for (const r of records) if (!best || r.score > best.score || (r.score === best.score && r.step > best.step)) best = r;
  return best;
}

/** Copies checkpoint `ckpt-<step>` of `checkpointDir` (with run.json) into `<checkpointDir>/best/`, swapped in whole. */
export function keepBest(checkpointDir: string, step: number): string {
  const name = `ckpt-${String(step).padStart(9, '0')}`;
  const src = join(checkpointDir, name);
  if (!existsSync(src)) throw new Error(`${src}: checkpoint to keep is missing`);
  const dest = join(checkpointDir, 'best');
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  cpSync(src, join(tmp, name), { recursive: true });
  if (existsSync(join(checkpointDir, 'run.json'))) cpSync(join(checkpointDir, 'run.json'), join(tmp, 'run.json'));
  writeFileSync(join(tmp, 'latest.json'), JSON.stringify({ checkpoint: name, step }));
  rmSync(dest, { recursive: true, force: true });
  renameSync(tmp, dest);
  return dest;
}

/**
 * Scores the exported policy at `policyPath` (the agent at `step`, saved as a checkpoint in `checkpointDir`), records
 * it, and keeps the checkpoint when it is the best so far. Returns the updated state (also written to selection.json).
 */
export async function scoreCheckpoint(o: {
  checkpointDir: string;
  state: SelectionState;
  step: number;
  policyPath: string;
  split: Split;
  seed: number;
  onProgress?: (msg: string) => void;
}): Promise<SelectionState> {
  const { state } = o;
  const report = await evaluatePolicy({
    policyPath: o.policyPath,
    split: o.split,
    sets: ['train'],
    trials: state.trialsPerConnector,
    goalBiasMm: [state.goalErrorMm],
    scenarios: ['I', 'II'],
    baselines: { I: [], II: [] },
    seed: o.seed,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  let k = 0;
  let n = 0;
  const byScenario: Record<string, number> = {};
  for (const e of report.entries) {
    const ks = e.result.cells.reduce((a, c) => a + c.successes, 0);
    const ns = e.result.cells.reduce((a, c) => a + c.trials, 0);
    byScenario[e.scenario] = ns > 0 ? ks / ns : 0;
    k += ks;
    n += ns;
  }
  const record: SelectionRecord = { step: o.step, score: n > 0 ? k / n : 0, trials: n, byScenario };
  const records = [...state.records.filter((r) => r.step !== o.step), record].sort((a, b) => a.step - b.step);
  const best = bestRecord(records);
  if (best && best.step === o.step) keepBest(o.checkpointDir, o.step);
  const next: SelectionState = { ...state, records, best: best?.step ?? null };
  writeJson(join(o.checkpointDir, SELECTION_FILE), next);
  return next;
}
