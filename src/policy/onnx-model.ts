/**
 * Loading exported models for the daemon with onnxruntime-node, refusing anything doubtful.
 *
 * A model is accepted only if: the file exists and parses as an ONNX protobuf; its card (`<file>.json`) exists and is
 * valid; the card's sha256 matches the bytes actually loaded; the card's kind is the one asked for; the session's
 * input/output names, dtypes and shapes are the card's; and a probe run (batch 2, deterministic inputs) gives finite
 * outputs of the promised shape, within bounds for a policy and within [0, 1] for a reward model.
 *
 * Sessions are created asynchronously and warmed up inside `load`, off the control path; onnxruntime-node has no
 * synchronous run, so `run` is async (its single-sample latency is measured by bench/onnx.bench.ts).
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { onnxProto } from './onnx-format.ts';
import type { Vec3 } from '../core/types.ts';
import { cardPathFor, readCard, sha256Hex, type InputRole, type ModelCard, type ModelKind, type TensorSpec } from './card.ts';

const { onnx } = onnxProto;

/** A model file or its card was refused; `file` is the path that was asked for. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`refusing model ${file}: ${message}`);
  }
}

/** A loaded model produced something unusable (non-finite, out of bounds) or was fed inputs of the wrong size. */
export class ModelRunError extends Error {
  override name = 'ModelRunError';
}

export interface LoadOptions {
  /** Warm-up runs after the probe (single sample), so the first control tick does not pay for lazy initialisation. Default 10. */
  warmupRuns?: number;
  /** Passed to onnxruntime; the default is one intra-op thread (the machine's other core belongs to the trainer). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /** Where to read the file's bytes (default: a new Buffer per load). */
  fileBuffer?: ModelFileBuffer;
}

/**
 * One buffer for the bytes of every model a thread loads, grown to the largest file. For the control thread, where a
 * new Buffer per load (the file's size) was megabytes outside the heap per policy activation, left to the garbage
 * collector. The bytes are needed only until the session exists (onnxruntime parses them into its own copy), so loads
 * one after another share it; a load that finds it in use (loads overlapping) reads into a Buffer of its own.
 */
export class ModelFileBuffer {
  private buf: Buffer = Buffer.alloc(0);
  private inUse = false;

  /** The file's bytes (a view of the shared buffer until `release`, or a Buffer of its own if it is in use). */
  read(path: string): Buffer {
    if (this.inUse) return readFileSync(path);
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > this.buf.length) this.buf = Buffer.allocUnsafeSlow(size);
      let n = 0;
      for (let got = 1; n < size && got > 0; n += got) got = readSync(fd, this.buf, n, size - n, null);
      this.inUse = true;
      return this.buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  }

  /** The bytes `read` returned are no longer used (their session exists, or the load failed). */
  release(bytes: Buffer): void {
    if (bytes.buffer === this.buf.buffer) this.inUse = false;
  }
}

export type RoleFeeds = Partial<Record<InputRole, Float32Array>>;

const DEFAULT_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

const PROBE_BATCH = 2;

/** Tolerance when checking a policy's outputs against the card's bounds (float32 rounding of tanh*scale). */
const BOUND_TOLERANCE = 1e-6;

function perSample(spec: TensorSpec): number {
  return spec.shape.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
}

/** Deterministic probe values: images in [0,1], everything else in [-2,2] (a normalised proprio's plausible range). */
function probeData(spec: TensorSpec, n: number): Float32Array {
  const out = new Float32Array(perSample(spec) * n);
  let s = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 4294967296;
    out[i] = spec.role === 'image' ? u : 4 * u - 2;
  }
  return out;
}

interface Checked {
  card: ModelCard;
  session: ort.InferenceSession;
}

async function loadChecked(path: string, kind: ModelKind, opts: LoadOptions): Promise<Checked> {
  const refuse = (msg: string): never => {
    throw new ModelLoadError(path, msg);
  };

  let bytes: Buffer;
  try {
    bytes = opts.fileBuffer ? opts.fileBuffer.read(path) : readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return refuse(code === 'ENOENT' ? 'the file does not exist' : `the file cannot be read (${(e as Error).message})`);
  }
  try {
    return await checkedSession(path, kind, opts, bytes, refuse);
  } finally {
    opts.fileBuffer?.release(bytes);
  }
}

/** The checks on the file's bytes and its card, then the session made from those bytes. */
async function checkedSession(path: string, kind: ModelKind, opts: LoadOptions, bytes: Buffer, refuse: (msg: string) => never): Promise<Checked> {
  if (bytes.length === 0) refuse('the file is empty');

  // Our own parse first: onnxruntime's message for a damaged file is less specific than this.
  let proto: onnxProto.onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    return refuse(`not a valid ONNX protobuf, the file is corrupt or truncated (${(e as Error).message})`);
  }
  if (!proto.graph || !proto.graph.node || proto.graph.node.length === 0 || proto.opsetImport.length === 0) {
    refuse('not an ONNX model: no graph, nodes or opset (corrupt or not an .onnx file)');
  }

  let card: ModelCard;
  try {
    card = readCard(cardPathFor(path));
  } catch (e) {
    return refuse(`its card is unusable: ${(e as Error).message}`);
  }
  const sha = sha256Hex(bytes);
  if (sha !== card.onnx.sha256) {
    refuse(
      `sha256 ${sha} of the file does not match ${card.onnx.sha256} in its card ${cardPathFor(path)} (the model was replaced, damaged, or the card belongs to another file)`,
    );
  }
  if (bytes.length !== card.onnx.bytes) refuse(`file has ${bytes.length} bytes, card says ${card.onnx.bytes}`);
  if (card.kind !== kind) refuse(`its card says kind '${card.kind}', but a ${kind} model was asked for`);
  // Asserted: the version is typed number|Long, and Long's types are not loaded (tsconfig types: node).
  const opset = proto.opsetImport.find((o) => !o.domain)?.version as number | { toString(): string } | undefined;
  if (opset !== undefined && Number(opset) !== card.onnx.opset) refuse(`model opset ${String(opset)} differs from card onnx.opset ${card.onnx.opset}`);

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { ...DEFAULT_SESSION_OPTIONS, ...opts.sessionOptions });
  } catch (e) {
    return refuse(`onnxruntime cannot load it: ${(e as Error).message}`);
  }

  try {
    checkSignature(session, card, refuse);
    await probe(session, card, refuse);
    const warm = opts.warmupRuns ?? 10;
    const one = feedsFor(card, Object.fromEntries(card.inputs.map((s) => [s.role, probeData(s, 1)])), 1);
    for (let i = 0; i < warm; i++) await session.run(one);
  } catch (e) {
    await session.release().catch(() => undefined);
    throw e;
  }
  return { card, session };
}

function metaShape(m: ort.InferenceSession.ValueMetadata): (number | null)[] | undefined {
  if (!m.isTensor) return undefined;
  return m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : null));
}

/** The session's inputs/outputs must be exactly the card's: same names, float32, same shapes (symbolic dims = null). */
function checkSignature(session: ort.InferenceSession, card: ModelCard, refuse: (m: string) => never): void {
  const compare = (what: 'input' | 'output', specs: TensorSpec[], metas: readonly ort.InferenceSession.ValueMetadata[]) => {
    const names = metas.map((m) => m.name);
    const cardNames = specs.map((s) => s.name);
    if (JSON.stringify([...names].sort()) !== JSON.stringify([...cardNames].sort())) {
      refuse(`${what} names in the model [${names.join(', ')}] differ from the card's [${cardNames.join(', ')}]`);
    }
    for (const spec of specs) {
      const m = metas.find((x) => x.name === spec.name);
      if (m === undefined || !m.isTensor) return refuse(`${what} '${spec.name}' is not a tensor in the model`);
      if (m.type !== 'float32') refuse(`${what} '${spec.name}' has dtype ${m.type} in the model, card says float32`);
      const shape = metaShape(m);
      if (JSON.stringify(shape) !== JSON.stringify(spec.shape)) {
        refuse(`${what} '${spec.name}' has shape ${JSON.stringify(shape)} in the model, card says ${JSON.stringify(spec.shape)}`);
      }
    }
  };
  compare('input', card.inputs, session.inputMetadata);
  compare('output', card.outputs, session.outputMetadata);
}

function feedsFor(card: ModelCard, feeds: RoleFeeds, n: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const spec of card.inputs) {
    const data = feeds[spec.role as InputRole];
    if (data === undefined) throw new ModelRunError(`${card.name} v${card.version}: no data for input '${spec.name}' (role ${spec.role})`);
    const want = perSample(spec) * n;
    if (data.length !== want) {
      throw new ModelRunError(
        `${card.name} v${card.version}: input '${spec.name}' needs ${want} values (${n} x ${JSON.stringify(spec.shape.slice(1))}), got ${data.length}`,
      );
    }
    out[spec.name] = new ort.Tensor('float32', data, [n, ...(spec.shape.slice(1) as number[])]);
  }
  return out;
}

/** Checks an output tensor: shape [n, ...card], all finite, and the kind's range. Throws ModelRunError. */
function checkOutput(card: ModelCard, spec: TensorSpec, t: ort.Tensor | undefined, n: number): Float32Array {
  const where = `${card.name} v${card.version} output '${spec.name}'`;
  if (t === undefined) throw new ModelRunError(`${where} is missing`);
  const want = [n, ...spec.shape.slice(1)];
  if (JSON.stringify(t.dims) !== JSON.stringify(want))
    throw new ModelRunError(`${where} has shape ${JSON.stringify(t.dims)}, expected ${JSON.stringify(want)}`);
  const data = t.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (!Number.isFinite(v)) throw new ModelRunError(`${where} element ${i} is ${v} (non-finite)`);
  }
  if (spec.role === 'probability') {
    for (let i = 0; i < data.length; i++) {
      const v = data[i] as number;
      if (v < 0 || v > 1) throw new ModelRunError(`${where} element ${i} is ${v}, not a probability in [0, 1]`);
    }
  }
  if (spec.role === 'action' && card.action !== undefined) {
    const dims = card.action.low.length;
    for (let i = 0; i < data.length; i++) {
      const j = i % dims;
      const v = data[i] as number;
      const lo = card.action.low[j] as number;
      const hi = card.action.high[j] as number;
      if (v < lo - BOUND_TOLERANCE || v > hi + BOUND_TOLERANCE) {
        throw new ModelRunError(`${where} element ${i} is ${v}, outside the card's action bounds [${lo}, ${hi}]`);
      }
    }
  }
  return data;
}

async function probe(session: ort.InferenceSession, card: ModelCard, refuse: (m: string) => never): Promise<void> {
  const feeds = feedsFor(card, Object.fromEntries(card.inputs.map((s) => [s.role, probeData(s, PROBE_BATCH)])), PROBE_BATCH);
  let res: ort.InferenceSession.OnnxValueMapType;
  try {
    res = await session.run(feeds);
  } catch (e) {
    return refuse(`probe run failed in onnxruntime: ${(e as Error).message}`);
  }
  for (const spec of card.outputs) {
    try {
      checkOutput(card, spec, res[spec.name], PROBE_BATCH);
    } catch (e) {
      refuse(`probe run on deterministic inputs: ${(e as Error).message}`);
    }
  }
}

/** Shared by the three model classes: one checked session and its card. */
abstract class OnnxModel {
  private released = false;
  private disposing: Promise<void> | null = null;
  private readonly inflight = new Set<Promise<unknown>>();
  protected constructor(
    readonly path: string,
    readonly card: ModelCard,
    protected readonly session: ort.InferenceSession,
  ) {}

  /** Input spec for a role, if the model has that input. */
  input(role: InputRole): TensorSpec | undefined {
    return this.card.inputs.find((s) => s.role === role);
  }

  /** Runs a batch of n samples (feeds are flat, sample-major) and returns the first output, checked. */
  protected async runFirst(feeds: RoleFeeds, n: number): Promise<Float32Array> {
    if (this.released) throw new ModelRunError(`${this.path}: model was disposed`);
    const pending = this.session.run(feedsFor(this.card, feeds, n));
    this.inflight.add(pending);
    try {
      const res = await pending;
      const spec = this.card.outputs[0] as TensorSpec;
      return checkOutput(this.card, spec, res[spec.name], n);
    } finally {
      this.inflight.delete(pending);
    }
  }

  /**
   * Frees the native session; further runs throw. Runs already started finish first: releasing a session under a
   * running inference is a use-after-free in native code, and a hot-swap may dispose the old policy mid-tick.
   * Safe to call twice.
   */
  dispose(): Promise<void> {
    if (this.disposing === null) {
      this.released = true;
      this.disposing = Promise.allSettled([...this.inflight]).then(() => this.session.release());
    }
    return this.disposing;
  }
}

/** The residual policy: deterministic mean action, checked finite and within the card's bounds on every run. */
export class PolicyModel extends OnnxModel {
  static async load(path: string, opts: LoadOptions = {}): Promise<PolicyModel> {
    const { card, session } = await loadChecked(path, 'policy', opts);
    const dims = (card.outputs[0] as TensorSpec).shape[1];
    if (dims !== 3) {
      await session.release();
      throw new ModelLoadError(path, `a policy must output 3 values (dx, dy, dz), its card says ${String(dims)}`);
    }
    return new PolicyModel(path, card, session);
  }

  /** Residual action bounds from the card. */
  get bounds(): { low: number[]; high: number[] } {
    const a = this.card.action as NonNullable<ModelCard['action']>;
    return { low: a.low, high: a.high };
  }

  /**
   * One observation -> residual (dx, dy, dz). `image` is the preprocessed NHWC float image, `proprio` the normalised
   * proprio vector (see the card's preprocessing). Throws ModelRunError on wrong input sizes, non-finite or out-of-bound
   * outputs: the caller falls back to the P-controller alone.
   */
  async run(image: Float32Array | undefined, proprio?: Float32Array): Promise<Vec3> {
    const feeds: RoleFeeds = {};
    if (image !== undefined) feeds.image = image;
    if (proprio !== undefined) feeds.proprio = proprio;
    return this.runFeeds(feeds);
  }

  /** Same as run, with inputs given by role (e.g. { features, proprio } for a policy on cached encoder features). */
  async runFeeds(feeds: RoleFeeds): Promise<Vec3> {
    const y = await this.runFirst(feeds, 1);
    return [y[0] as number, y[1] as number, y[2] as number];
  }
}

/** The reward classifier: probability that the observation shows a seated connector. */
export class RewardModel extends OnnxModel {
  static async load(path: string, opts: LoadOptions = {}): Promise<RewardModel> {
    const { card, session } = await loadChecked(path, 'reward', opts);
    return new RewardModel(path, card, session);
  }

  async probability(image: Float32Array, proprio?: Float32Array): Promise<number> {
    const p = await this.probabilities(1, image, proprio);
    return p[0] as number;
  }

  /** n observations at once (inputs flat, sample-major) -> n probabilities. */
  async probabilities(n: number, images: Float32Array, proprios?: Float32Array): Promise<Float32Array> {
    const feeds: RoleFeeds = { image: images };
    if (proprios !== undefined) feeds.proprio = proprios;
    return Float32Array.from(await this.runFirst(feeds, n));
  }
}

/** A frozen encoder: features computed once per observation and cached for online learning. */
export class EncoderModel extends OnnxModel {
  static async load(path: string, opts: LoadOptions = {}): Promise<EncoderModel> {
    const { card, session } = await loadChecked(path, 'encoder', opts);
    return new EncoderModel(path, card, session);
  }

  get featureDim(): number {
    return (this.card.outputs[0] as TensorSpec).shape[1] as number;
  }

  async features(image: Float32Array, proprio?: Float32Array): Promise<Float32Array> {
    return this.featuresBatch(1, image, proprio);
  }

  /** n observations -> n * featureDim values, sample-major. */
  async featuresBatch(n: number, images: Float32Array, proprios?: Float32Array): Promise<Float32Array> {
    const feeds: RoleFeeds = { image: images };
    if (proprios !== undefined) feeds.proprio = proprios;
    return Float32Array.from(await this.runFirst(feeds, n));
  }
}

/** Loads whatever kind the card says. */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<PolicyModel | RewardModel | EncoderModel> {
  let kind: ModelKind;
  try {
    kind = readCard(cardPathFor(path)).kind;
  } catch (e) {
    throw new ModelLoadError(path, `its card is unusable: ${(e as Error).message}`);
  }
  if (kind === 'policy') return PolicyModel.load(path, opts);
  if (kind === 'reward') return RewardModel.load(path, opts);
  return EncoderModel.load(path, opts);
}
