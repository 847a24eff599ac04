/**
 * Checkpoint files for any learner: named variables, optimiser state and a step counter, written atomically (a
 * temporary directory renamed into place, then `latest.json` pointed at it) so a kill at any moment leaves either the
 * previous checkpoint or the new one. Loading refuses, naming the file and the key, anything that does not match.
 *
 * Layout: `dir/ckpt-<step>/manifest.json` (format, step, tensors with offsets, the learner's own fields) and
 * `weights.bin` (float32, little endian), plus `dir/latest.json`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

type NamedTensor = { name: string; tensor: tf.Tensor };

export interface CheckpointContent {
  /** e.g. 'iql-checkpoint/1': loading refuses another. */
  format: string;
  step: number;
  /** Variables by stable key (not tfjs's process-global variable names). */
  variables: Array<[string, tf.Variable]>;
  optimizers: Record<string, tf.Optimizer>;
  /** The learner's own manifest fields (config, flags). */
  fields: Record<string, unknown>;
}

interface TensorEntry {
  key: string;
  shape: number[];
  offset: number;
  length: number;
}

/** The manifest as read back: the learner's fields plus format, step, optimisers and tensors. */
export type CheckpointManifest = Record<string, unknown> & { format: string; step: number };

/** Saves to `dir/ckpt-<step>/`, points `dir/latest.json` at it, keeps the newest `keep` checkpoints; returns the path. */
export async function saveCheckpoint(dir: string, c: CheckpointContent, keep = 2): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const name = `ckpt-${String(c.step).padStart(9, '0')}`;
  const tmp = path.join(dir, `${name}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  const entries: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (key: string, t: tf.Tensor): void => {
    const data = t.dataSync() as Float32Array;
    entries.push({ key, shape: t.shape, offset, length: data.length });
    chunks.push(data);
    offset += data.length;
  };
  for (const [k, v] of c.variables) add(k, v);
  const optimizers: Record<string, number> = {};
  for (const [k, opt] of Object.entries(c.optimizers)) {
    const ws = await opt.getWeights();
    optimizers[k] = ws.length;
    ws.forEach((w, i) => add(`opt_${k}/${i}`, w.tensor));
    // getWeights makes new tensors (the iteration count; HeapAdam's moments, which live on the heap) beside the live
    // variables of tfjs' own Adam: free the new ones, or every checkpoint keeps a copy of the optimizer's state (the
    // online trainer checkpoints at every export: its memory grew by that much each time).
    for (const w of ws) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  }
  const bin = new Float32Array(offset);
  let o = 0;
  for (const ch of chunks) {
    bin.set(ch, o);
    o += ch.length;
  }
  const manifest = { ...c.fields, format: c.format, step: c.step, optimizers, tensors: entries, savedAt: new Date().toISOString() };
  writeSynced(path.join(tmp, 'weights.bin'), Buffer.from(bin.buffer, bin.byteOffset, bin.byteLength));
  writeSynced(path.join(tmp, 'manifest.json'), Buffer.from(JSON.stringify(manifest, null, 1)));
  const final = path.join(dir, name);
  if (fs.existsSync(final)) {
    // Same step saved again: move the old copy aside first so a crash never leaves latest.json without a directory
    // for long (and loadCheckpoint falls back to the newest complete checkpoint if it does).
    const aside = `${final}.old-${process.pid}`;
    fs.rmSync(aside, { recursive: true, force: true });
    fs.renameSync(final, aside);
    fs.renameSync(tmp, final);
    fs.rmSync(aside, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, final);
  }
  const latestTmp = path.join(dir, `latest.json.tmp-${process.pid}`);
  writeSynced(latestTmp, Buffer.from(JSON.stringify({ checkpoint: name, step: c.step })));
  fs.renameSync(latestTmp, path.join(dir, 'latest.json'));
  const old = fs
    .readdirSync(dir)
    .filter((f) => /^ckpt-\d+$/.test(f))
    .sort();
  for (const f of old.slice(0, Math.max(0, old.length - keep))) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  return final;
}

/**
 * The manifest of the checkpoint `dir/latest.json` points at (or of the newest complete one, after an interrupted save),
 * with its folder and path; unchecked. `what` names the learner in errors.
 */
export function readManifest(dir: string, what: string): { ck: string; mPath: string; m: Record<string, unknown> } {
  const latestPath = path.join(dir, 'latest.json');
  let latest: { checkpoint?: unknown };
  try {
    latest = JSON.parse(fs.readFileSync(latestPath, 'utf8')) as { checkpoint?: unknown };
  } catch (err) {
    throw new Error(`${what}: cannot read ${latestPath}: ${(err as Error).message}`);
  }
  if (typeof latest.checkpoint !== 'string' || !/^ckpt-\d+$/.test(latest.checkpoint))
    throw new Error(`${what}: ${latestPath}: field 'checkpoint' is missing or invalid`);
  let ck = path.join(dir, latest.checkpoint);
  if (!fs.existsSync(ck)) {
    // Interrupted between a rename and latest.json: use the newest complete checkpoint instead.
    const complete = fs
      .readdirSync(dir)
      .filter((f) => /^ckpt-\d+$/.test(f) && fs.existsSync(path.join(dir, f, 'manifest.json')))
      .sort();
    const newest = complete.at(-1);
    if (!newest) throw new Error(`${what}: ${latestPath} points to ${latest.checkpoint}, which is missing, and no other checkpoint is complete`);
    ck = path.join(dir, newest);
  }
  const mPath = path.join(ck, 'manifest.json');
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(fs.readFileSync(mPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${what}: cannot read ${mPath}: ${(err as Error).message}`);
  }
  return { ck, mPath, m };
}

/**
 * Restores the checkpoint `dir/latest.json` points at into `variables` and `optimizers` (same keys and shapes), after
 * `check(manifest, manifestPath)` accepted its fields. `what` names the learner in errors. Returns the manifest.
 */
export async function loadCheckpoint(
  dir: string,
  what: string,
  into: {
    format: string;
    variables: Array<[string, tf.Variable]>;
    optimizers: Record<string, tf.Optimizer>;
    check?: (m: CheckpointManifest, file: string) => void;
  },
): Promise<CheckpointManifest> {
  const { ck, mPath, m } = readManifest(dir, what);
  if (m.format !== into.format) throw new Error(`${what}: ${mPath}: field 'format' is ${JSON.stringify(m.format)}, expected ${JSON.stringify(into.format)}`);
  const tensors = m.tensors as TensorEntry[] | undefined;
  const optCounts = m.optimizers as Record<string, number> | undefined;
  if (!Array.isArray(tensors) || typeof m.step !== 'number' || !optCounts)
    throw new Error(`${what}: ${mPath}: fields 'tensors', 'step', 'optimizers' are required`);
  const manifest = m as CheckpointManifest;
  into.check?.(manifest, mPath);
  const binPath = path.join(ck, 'weights.bin');
  const raw = fs.readFileSync(binPath);
  const total = tensors.reduce((s, t) => Math.max(s, t.offset + t.length), 0);
  if (raw.byteLength !== total * 4) throw new Error(`${what}: ${binPath} has ${raw.byteLength} bytes, manifest expects ${total * 4}`);
  const bin = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const byKey = new Map(tensors.map((t) => [t.key, t]));
  const get = (key: string, shape: number[]): Float32Array => {
    const t = byKey.get(key);
    if (!t) throw new Error(`${what}: ${mPath}: tensor '${key}' is missing (different network config?)`);
    if (t.shape.join(',') !== shape.join(','))
      throw new Error(`${what}: ${mPath}: tensor '${key}' has shape [${t.shape.join(',')}], this learner needs [${shape.join(',')}]`);
    return bin.subarray(t.offset, t.offset + t.length);
  };
  const values = into.variables.map(([k, v]) => get(k, v.shape));
  tf.tidy(() => into.variables.forEach(([, v], i) => v.assign(tf.tensor(values[i] as Float32Array, v.shape))));
  for (const [k, opt] of Object.entries(into.optimizers)) {
    const count = optCounts[k] ?? 0;
    const ws: NamedTensor[] = [];
    for (let i = 0; i < count; i++) {
      const t = byKey.get(`opt_${k}/${i}`);
      if (!t) throw new Error(`${what}: ${mPath}: optimiser tensor 'opt_${k}/${i}' is missing`);
      ws.push({ name: `opt_${k}/${i}`, tensor: tf.tensor(bin.subarray(t.offset, t.offset + t.length), t.shape) });
    }
    if (count > 0) await opt.setWeights(ws);
    for (const w of ws) w.tensor.dispose();
  }
  return manifest;
}

function writeSynced(file: string, data: Buffer): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
