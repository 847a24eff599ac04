/**
 * Model cards: the JSON that travels with every exported ONNX model and says what it is, what it expects and where it
 * came from. The card of `models/policy.onnx` is `models/policy.onnx.json` (the ONNX file name plus `.json`), so a
 * directory listing pairs them and a glob for `*.onnx` never picks up a card.
 *
 * The loader (onnx-model.ts) refuses a model whose card is missing or invalid, whose sha256 differs, or whose
 * inputs/outputs disagree with the card. This module has no tfjs dependency: the daemon loads models without it.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, basename } from 'node:path';

export const CARD_FORMAT = 'insertion-daemon/model-card';
export const CARD_FORMAT_VERSION = 1;

export type ModelKind = 'policy' | 'reward' | 'encoder';
export const MODEL_KINDS: readonly ModelKind[] = ['policy', 'reward', 'encoder'];

/** What an input feeds: the preprocessed camera image, the proprio vector, or cached encoder features. */
export type InputRole = 'image' | 'proprio' | 'features';
/** What an output means: a residual action (policy), a success probability (reward), encoder features. */
export type OutputRole = 'action' | 'probability' | 'features';

export interface TensorSpec {
  /** ONNX graph input/output name. */
  name: string;
  role: InputRole | OutputRole;
  /** Shape with the batch dimension first as null (dynamic); image inputs are NHWC. */
  shape: (number | null)[];
  dtype: 'float32';
  description?: string;
}

export interface ImagePreprocessing {
  /** Size of the network input after crop and resize. */
  width: number;
  height: number;
  channels: 1 | 3;
  colour: 'rgb' | 'gray';
  layout: 'NHWC';
  /** Crop applied to the raw camera frame before resizing, in raw pixels; null = whole frame (the daemon's calibration may set it). */
  crop: { x: number; y: number; width: number; height: number } | null;
  /** Resampling used for the resize (sharp's kernel name). */
  resize: string;
  /** input = pixel(0..255) * scale + offset; [0,1] images have scale 1/255, offset 0. */
  scale: number;
  offset: number;
}

export interface ProprioPreprocessing {
  /** Name of each element, in order (e.g. 'dx' = eeX - goalX in metres, 'fx' = wrench force x in N). */
  layout: string[];
  /** input[i] = (raw[i] - mean[i]) / std[i], done by the caller; all-zero mean and all-one std if the graph normalises itself (e.g. a Scale layer). */
  mean: number[];
  std: number[];
}

export interface ModelCard {
  format: typeof CARD_FORMAT;
  formatVersion: typeof CARD_FORMAT_VERSION;
  kind: ModelKind;
  /** Short identifier, e.g. 'policy-iql'. */
  name: string;
  /** Monotonic version within `name` (the trainer's counter). */
  version: number;
  /** ISO 8601 creation time. */
  created: string;
  /** What the model is, in a sentence or two. */
  description: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  preprocessing: {
    image?: ImagePreprocessing;
    proprio?: ProprioPreprocessing;
    notes?: string;
  };
  /** Policy only: bounds of the residual action (per axis, metres per step); outputs beyond them are refused. */
  action?: { low: number[]; high: number[]; units: string };
  training: {
    /** Connectors (domains) the training data came from. */
    connectors: string[];
    /** Connectors deliberately kept out of training (evaluation only). */
    heldOut: string[];
    episodes: number;
    transitions: number;
    /** The SQLite log trained on: sha256 of the file at training time (path is informational). */
    database: { path: string; sha256: string } | null;
    /** Gradient updates performed. */
    updates: number;
    seed: number | null;
  };
  /** Every setting of the training run (IQL/DAIB config objects, flattened or nested). */
  hyperparameters: Record<string, unknown>;
  /** tfjs backend the model was trained on (e.g. 'wasm', 'tensorflow', 'cpu'). */
  backend: string;
  /** Named evaluation figures, e.g. { heldOutAccuracy: 0.9 }. */
  metrics: Record<string, number>;
  code: { gitCommit: string; dirty: boolean };
  onnx: { file: string; sha256: string; bytes: number; opset: number; irVersion: number };
}

export class ModelCardError extends Error {
  override name = 'ModelCardError';
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/** Checks `raw` (parsed JSON) field by field; errors name the source file and the field path. */
export function validateCard(raw: unknown, source: string): ModelCard {
  const bad = (field: string, what: string): never => {
    throw new ModelCardError(`${source}: field '${field}' ${what}`);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'must be an object');
    return v as Record<string, unknown>;
  };
  const str = (v: unknown, field: string, nonEmpty = true): string => {
    if (typeof v !== 'string' || (nonEmpty && v.length === 0)) bad(field, `must be a${nonEmpty ? ' non-empty' : ''} string`);
    return v as string;
  };
  const num = (v: unknown, field: string, opt: { int?: boolean; min?: number; positive?: boolean } = {}): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(field, 'must be a finite number');
    const n = v as number;
    if (opt.int && !Number.isInteger(n)) bad(field, 'must be an integer');
    if (opt.min !== undefined && n < opt.min) bad(field, `must be >= ${opt.min}`);
    if (opt.positive && !(n > 0)) bad(field, 'must be > 0');
    return n;
  };
  const bool = (v: unknown, field: string): boolean => {
    if (typeof v !== 'boolean') bad(field, 'must be true or false');
    return v as boolean;
  };
  const arr = (v: unknown, field: string): unknown[] => {
    if (!Array.isArray(v)) bad(field, 'must be an array');
    return v as unknown[];
  };
  const numArr = (v: unknown, field: string): number[] => arr(v, field).map((x, i) => num(x, `${field}[${i}]`));
  const strArr = (v: unknown, field: string): string[] => arr(v, field).map((x, i) => str(x, `${field}[${i}]`));
  const oneOf = <T extends string>(v: unknown, field: string, allowed: readonly T[]): T => {
    if (typeof v !== 'string' || !allowed.includes(v as T)) bad(field, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')} (got ${JSON.stringify(v)})`);
    return v as T;
  };

  const c = obj(raw, '(root)');
  if (c.format !== CARD_FORMAT) bad('format', `must be '${CARD_FORMAT}' (got ${JSON.stringify(c.format)})`);
  if (c.formatVersion !== CARD_FORMAT_VERSION) bad('formatVersion', `must be ${CARD_FORMAT_VERSION} (got ${JSON.stringify(c.formatVersion)})`);
  const kind = oneOf(c.kind, 'kind', MODEL_KINDS);
  const name = str(c.name, 'name');
  const version = num(c.version, 'version', { int: true, min: 0 });
  const created = str(c.created, 'created');
  if (Number.isNaN(Date.parse(created))) bad('created', `must be an ISO 8601 date (got '${created}')`);
  const description = str(c.description, 'description');

  const tensorSpecs = (v: unknown, field: string, roles: readonly string[]): TensorSpec[] => {
    const list = arr(v, field);
    if (list.length === 0) bad(field, 'must list at least one tensor');
    const seen = new Set<string>();
    return list.map((t, i) => {
      const f = `${field}[${i}]`;
      const o = obj(t, f);
      const tname = str(o.name, `${f}.name`);
      if (seen.has(tname)) bad(`${f}.name`, `'${tname}' appears twice`);
      seen.add(tname);
      const role = oneOf(o.role, `${f}.role`, roles) as TensorSpec['role'];
      const shape = arr(o.shape, `${f}.shape`).map((d, j) => (d === null ? null : num(d, `${f}.shape[${j}]`, { int: true, min: 1 })));
      if (shape.length < 2 || shape[0] !== null) bad(`${f}.shape`, 'must start with a null (dynamic batch) dimension and have rank >= 2');
      if (shape.slice(1).some((d) => d === null)) bad(`${f}.shape`, 'only the batch dimension may be null');
      if (o.dtype !== 'float32') bad(`${f}.dtype`, `must be 'float32' (got ${JSON.stringify(o.dtype)})`);
      const spec: TensorSpec = { name: tname, role, shape, dtype: 'float32' };
      if (o.description !== undefined) spec.description = str(o.description, `${f}.description`, false);
      return spec;
    });
  };
  const inputs = tensorSpecs(c.inputs, 'inputs', ['image', 'proprio', 'features']);
  const outputs = tensorSpecs(c.outputs, 'outputs', ['action', 'probability', 'features']);
  const rolesIn = inputs.map((t) => t.role);
  if (new Set(rolesIn).size !== rolesIn.length) bad('inputs', 'has two inputs with the same role');
  const expectedOut: Record<ModelKind, OutputRole> = { policy: 'action', reward: 'probability', encoder: 'features' };
  const firstOut = outputs[0] as TensorSpec;
  if (firstOut.role !== expectedOut[kind]) bad('outputs[0].role', `must be '${expectedOut[kind]}' for a ${kind} model (got '${firstOut.role}')`);
  if (firstOut.shape.length !== 2) bad('outputs[0].shape', 'must be [null, n]');
  if (kind === 'reward' && firstOut.shape[1] !== 1) bad('outputs[0].shape', 'must be [null, 1] for a reward model');

  const pre = obj(c.preprocessing, 'preprocessing');
  const preprocessing: ModelCard['preprocessing'] = {};
  const imageIn = inputs.find((t) => t.role === 'image');
  if (pre.image !== undefined) {
    const p = obj(pre.image, 'preprocessing.image');
    const cropRaw = p.crop;
    let crop: ImagePreprocessing['crop'] = null;
    if (cropRaw !== null) {
      const co = obj(cropRaw, 'preprocessing.image.crop');
      crop = {
        x: num(co.x, 'preprocessing.image.crop.x', { int: true, min: 0 }),
        y: num(co.y, 'preprocessing.image.crop.y', { int: true, min: 0 }),
        width: num(co.width, 'preprocessing.image.crop.width', { int: true, min: 1 }),
        height: num(co.height, 'preprocessing.image.crop.height', { int: true, min: 1 }),
      };
    }
    const image: ImagePreprocessing = {
      width: num(p.width, 'preprocessing.image.width', { int: true, min: 1 }),
      height: num(p.height, 'preprocessing.image.height', { int: true, min: 1 }),
      channels: num(p.channels, 'preprocessing.image.channels', { int: true }) as 1 | 3,
      colour: oneOf(p.colour, 'preprocessing.image.colour', ['rgb', 'gray'] as const),
      layout: oneOf(p.layout, 'preprocessing.image.layout', ['NHWC'] as const),
      crop,
      resize: str(p.resize, 'preprocessing.image.resize'),
      scale: num(p.scale, 'preprocessing.image.scale', { positive: true }),
      offset: num(p.offset, 'preprocessing.image.offset'),
    };
    if (image.channels !== 1 && image.channels !== 3) bad('preprocessing.image.channels', 'must be 1 or 3');
    if ((image.colour === 'rgb') !== (image.channels === 3)) bad('preprocessing.image.colour', `'${image.colour}' does not fit ${image.channels} channel(s)`);
    if (imageIn === undefined) bad('preprocessing.image', 'is given but no input has role image');
    const want = [null, image.height, image.width, image.channels];
    if (JSON.stringify(imageIn?.shape) !== JSON.stringify(want)) {
      bad('preprocessing.image', `says ${JSON.stringify(want)} but input '${imageIn?.name}' has shape ${JSON.stringify(imageIn?.shape)}`);
    }
    preprocessing.image = image;
  } else if (imageIn !== undefined) bad('preprocessing.image', `is required: input '${imageIn.name}' has role image`);
  const proprioIn = inputs.find((t) => t.role === 'proprio');
  if (pre.proprio !== undefined) {
    const p = obj(pre.proprio, 'preprocessing.proprio');
    const proprio: ProprioPreprocessing = {
      layout: strArr(p.layout, 'preprocessing.proprio.layout'),
      mean: numArr(p.mean, 'preprocessing.proprio.mean'),
      std: numArr(p.std, 'preprocessing.proprio.std'),
    };
    const n = proprio.layout.length;
    if (proprio.mean.length !== n) bad('preprocessing.proprio.mean', `has ${proprio.mean.length} entries, layout has ${n}`);
    if (proprio.std.length !== n) bad('preprocessing.proprio.std', `has ${proprio.std.length} entries, layout has ${n}`);
    proprio.std.forEach((s, i) => {
      if (!(s > 0)) bad(`preprocessing.proprio.std[${i}]`, 'must be > 0');
    });
    if (proprioIn === undefined) bad('preprocessing.proprio', 'is given but no input has role proprio');
    if (JSON.stringify(proprioIn?.shape) !== JSON.stringify([null, n])) {
      bad('preprocessing.proprio.layout', `has ${n} entries but input '${proprioIn?.name}' has shape ${JSON.stringify(proprioIn?.shape)}`);
    }
    preprocessing.proprio = proprio;
  } else if (proprioIn !== undefined) bad('preprocessing.proprio', `is required: input '${proprioIn.name}' has role proprio`);
  if (pre.notes !== undefined) preprocessing.notes = str(pre.notes, 'preprocessing.notes', false);

  let action: ModelCard['action'];
  if (kind === 'policy') {
    const a = obj(c.action, 'action');
    const dims = firstOut.shape[1] as number;
    action = { low: numArr(a.low, 'action.low'), high: numArr(a.high, 'action.high'), units: str(a.units, 'action.units') };
    if (action.low.length !== dims) bad('action.low', `has ${action.low.length} entries, output '${firstOut.name}' has ${dims}`);
    if (action.high.length !== dims) bad('action.high', `has ${action.high.length} entries, output '${firstOut.name}' has ${dims}`);
    action.low.forEach((lo, i) => {
      if (!(lo < (action?.high[i] ?? Number.NaN))) bad(`action.low[${i}]`, 'must be below action.high');
    });
  } else if (c.action !== undefined) bad('action', `is only for policy models (this is a ${kind} model)`);

  const t = obj(c.training, 'training');
  let database: ModelCard['training']['database'] = null;
  if (t.database !== null) {
    const d = obj(t.database, 'training.database');
    database = { path: str(d.path, 'training.database.path', false), sha256: str(d.sha256, 'training.database.sha256') };
    if (!SHA256_RE.test(database.sha256)) bad('training.database.sha256', 'must be 64 lowercase hex digits');
  }
  const training: ModelCard['training'] = {
    connectors: strArr(t.connectors, 'training.connectors'),
    heldOut: strArr(t.heldOut, 'training.heldOut'),
    episodes: num(t.episodes, 'training.episodes', { int: true, min: 0 }),
    transitions: num(t.transitions, 'training.transitions', { int: true, min: 0 }),
    database,
    updates: num(t.updates, 'training.updates', { int: true, min: 0 }),
    seed: t.seed === null ? null : num(t.seed, 'training.seed', { int: true }),
  };
  const leak = training.heldOut.find((h) => training.connectors.includes(h));
  if (leak !== undefined) bad('training.heldOut', `names '${leak}', which is also a training connector`);

  const hyperparameters = obj(c.hyperparameters, 'hyperparameters');
  const backend = str(c.backend, 'backend');
  const m = obj(c.metrics, 'metrics');
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) metrics[k] = num(v, `metrics.${k}`);
  const co = obj(c.code, 'code');
  const code = { gitCommit: str(co.gitCommit, 'code.gitCommit'), dirty: bool(co.dirty, 'code.dirty') };
  const o = obj(c.onnx, 'onnx');
  const onnxInfo = {
    file: str(o.file, 'onnx.file'),
    sha256: str(o.sha256, 'onnx.sha256'),
    bytes: num(o.bytes, 'onnx.bytes', { int: true, min: 1 }),
    opset: num(o.opset, 'onnx.opset', { int: true, min: 1 }),
    irVersion: num(o.irVersion, 'onnx.irVersion', { int: true, min: 1 }),
  };
  if (!SHA256_RE.test(onnxInfo.sha256)) bad('onnx.sha256', 'must be 64 lowercase hex digits');

  const card: ModelCard = {
    format: CARD_FORMAT,
    formatVersion: CARD_FORMAT_VERSION,
    kind,
    name,
    version,
    created,
    description,
    inputs,
    outputs,
    preprocessing,
    training,
    hyperparameters,
    backend,
    metrics,
    code,
    onnx: onnxInfo,
  };
  if (action !== undefined) card.action = action;
  return card;
}

/** The card path for an ONNX file: `<file>.onnx` -> `<file>.onnx.json`. */
export function cardPathFor(onnxPath: string): string {
  return `${onnxPath}.json`;
}

export function sha256Hex(data: Uint8Array | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 of a file read in 1 MiB chunks (the training database can be gigabytes), for card.training.database.
 * Hash a SQLite log only when no writer is active (or after a checkpoint), or the hash describes a moving target.
 */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Reads and validates a card file; errors name the file (and the field). */
export function readCard(cardPath: string): ModelCard {
  let text: string;
  try {
    text = readFileSync(cardPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelCardError(code === 'ENOENT' ? `model card ${cardPath} does not exist` : `model card ${cardPath} cannot be read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelCardError(`model card ${cardPath} is not valid JSON: ${(e as Error).message}`);
  }
  return validateCard(raw, cardPath);
}

/**
 * The commit of the working tree the process runs from, and whether it has uncommitted changes; 'unknown' outside git.
 * Changes under models/ do not count: they are what `npm run models` writes, so its later stages would otherwise call
 * the code dirty because its earlier stages replaced the shipped models.
 */
export function codeVersion(cwd = process.cwd()): { gitCommit: string; dirty: boolean } {
  try {
    const gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const args = ['status', '--porcelain', '--untracked-files=no', '--', ':/', ':(top,exclude)models'];
    const status = execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { gitCommit, dirty: status.trim().length > 0 };
  } catch {
    return { gitCommit: 'unknown', dirty: true };
  }
}

/** Everything of a card except the ONNX section, which writeModelFiles fills from the bytes it writes. */
export type CardDraft = Omit<ModelCard, 'format' | 'formatVersion' | 'onnx' | 'code'> & { code?: ModelCard['code'] };

/**
 * Writes `<onnxPath>` and its card atomically (temp file + rename, card last), so a reader never sees a card whose
 * sha256 belongs to a half-written model. Returns the validated card.
 */
export function writeModelFiles(onnxPath: string, bytes: Uint8Array, draft: CardDraft, meta: { opset: number; irVersion: number }): ModelCard {
  const card = validateCard(
    {
      format: CARD_FORMAT,
      formatVersion: CARD_FORMAT_VERSION,
      ...draft,
      code: draft.code ?? codeVersion(),
      onnx: { file: basename(onnxPath), sha256: sha256Hex(bytes), bytes: bytes.length, opset: meta.opset, irVersion: meta.irVersion },
    },
    cardPathFor(onnxPath),
  );
  mkdirSync(dirname(onnxPath), { recursive: true });
  const tmp = `${onnxPath}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, onnxPath);
  const cardPath = cardPathFor(onnxPath);
  writeFileSync(`${cardPath}.tmp-${process.pid}`, `${JSON.stringify(card, null, 2)}\n`);
  renameSync(`${cardPath}.tmp-${process.pid}`, cardPath);
  return card;
}
