/**
 * Ships an offline IQL checkpoint beside the exported models (`models/iql-offline/`), so the online trainer can start
 * from the shipped models on a fresh clone (its encoders, heads and optimiser state; ONNX holds only inference graphs).
 * Copies the newest checkpoint, `latest.json` and `run.json`, and writes `card.json`: what it is, the data it was
 * trained on (with the dataset hash), its config, backend and the code version.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeVersion } from '../policy/card.ts';

export interface CheckpointCard {
  format: 'insertion-daemon/checkpoint-card';
  formatVersion: 1;
  kind: 'iql-checkpoint';
  description: string;
  checkpoint: string;
  step: number;
  /** The IqlConfig the networks were built with (from the checkpoint manifest). */
  config: unknown;
  backend: string | null;
  /** run.json of the training run: database, dataset digest, connectors. */
  training: unknown;
  reproduce: string;
  created: string;
  /** Code that shipped it; the training code version is in the cards of the ONNX files exported from it. */
  shippedBy: { gitCommit: string; dirty: boolean };
}

export function shipCheckpoint(checkpointDir: string, outDir: string, reproduce: string): CheckpointCard {
  const latestPath = join(checkpointDir, 'latest.json');
  if (!existsSync(latestPath)) throw new Error(`${latestPath}: no checkpoint to ship (train first)`);
  const latest = JSON.parse(readFileSync(latestPath, 'utf8')) as { checkpoint?: unknown };
  if (typeof latest.checkpoint !== 'string' || !/^ckpt-\d+$/.test(latest.checkpoint))
    throw new Error(`${latestPath}: field 'checkpoint' is missing or invalid`);
  const manifestPath = join(checkpointDir, latest.checkpoint, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { step?: unknown; config?: unknown; backend?: unknown };
  if (typeof manifest.step !== 'number') throw new Error(`${manifestPath}: field 'step' is missing`);
  const runPath = join(checkpointDir, 'run.json');
  const training = existsSync(runPath) ? (JSON.parse(readFileSync(runPath, 'utf8')) as unknown) : null;
  // Build in a temp dir and swap it in: a reader never sees half a checkpoint.
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  cpSync(join(checkpointDir, latest.checkpoint), join(tmp, latest.checkpoint), { recursive: true });
  cpSync(latestPath, join(tmp, 'latest.json'));
  if (training) cpSync(runPath, join(tmp, 'run.json'));
  const card: CheckpointCard = {
    format: 'insertion-daemon/checkpoint-card',
    formatVersion: 1,
    kind: 'iql-checkpoint',
    description:
      'Offline IQL checkpoint (policy, twin Q, V, their DAIB encoders, target networks and Adam state) the shipped policy.onnx and encoder-*.onnx were exported from. The online trainer starts from it (npm start by default: learning.checkpoint in config/daemon.yaml; experiment --checkpoint).',
    checkpoint: latest.checkpoint,
    step: manifest.step,
    config: manifest.config ?? null,
    backend: typeof manifest.backend === 'string' ? manifest.backend : null,
    training,
    reproduce,
    created: new Date().toISOString(),
    shippedBy: codeVersion(),
  };
  writeFileSync(join(tmp, 'card.json'), `${JSON.stringify(card, null, 1)}\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  return card;
}
