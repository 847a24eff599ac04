/**
 * tfjs LayersModel -> ONNX (IR 8, opset 17), written from the trained weights with `onnx-proto`.
 *
 * Supported layers (the contract with nets.ts / daib.ts / iql.ts): InputLayer, Conv2D, Dense, LayerNormalization,
 * Flatten, Concatenate, Activation, Scale (src/learn/layers.ts), and nested LayersModels built from them.
 * Anything else is refused with an error naming the layer and its class: a silently wrong policy is worse than none.
 *
 * Layout: tfjs is NHWC, ONNX Conv is NCHW. Each traced value remembers which layouts it exists in and a Transpose
 * is emitted only where a consumer needs the other one (Conv wants NCHW; Flatten, Dense, Concatenate, LayerNorm
 * and graph outputs want NHWC, so flattening keeps tfjs's element order and the following Dense needs no permutation).
 * Elementwise layers (Activation, Scale) work in whichever layout their input already has.
 */
import * as tf from '@tensorflow/tfjs';
import { onnxProto } from '../policy/onnx-format.ts';
import { writeModelFiles, type CardDraft, type InputRole, type ModelCard, type OutputRole, type TensorSpec } from '../policy/card.ts';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export interface ExportOptions {
  /** ONNX graph input names, one per model input in model.inputs order (default: the input layers' names). */
  inputNames?: string[];
  /** ONNX graph output names, one per model output (default: the names of the layers producing them). */
  outputNames?: string[];
  /** Only 17 is supported: it has LayerNormalization and is the newest opset Debian's python3-onnx (1.12) checks. */
  opset?: 17;
  /** Free text stored in ModelProto.doc_string. */
  docString?: string;
  /** Extra key/value pairs stored in ModelProto.metadata_props (e.g. kind, version). */
  metadata?: Record<string, string>;
}

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;
/** The symbolic name given to the (dynamic) batch dimension of every input and output. */
export const BATCH_DIM = 'batch';

export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

type Shape = (number | null)[];

/** One traced tfjs tensor and the ONNX names under which it exists. Rank-4 tensors may have an NCHW copy. */
interface Val {
  /** tfjs (NHWC) shape, batch first (null). */
  shape: Shape;
  /** ONNX name in tfjs layout (for rank != 4 this is the only layout). */
  nhwc?: string;
  /** ONNX name in NCHW layout (rank 4 only). */
  nchw?: string;
}

interface Scope {
  /** Prefix for node and initializer names (nested models). */
  prefix: string;
  /** SymbolicTensor id -> value, seeded with the scope's inputs. */
  values: Map<number, Val>;
}

class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  private readonly used = new Set<string>();

  /** A fresh, unique value/node name derived from `base`. */
  name(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_');
    let n = clean;
    for (let i = 1; this.used.has(n); i++) n = `${clean}_${i}`;
    this.used.add(n);
    return n;
  }

  reserve(name: string): void {
    if (this.used.has(name)) throw new OnnxExportError(`ONNX name '${name}' is used twice (input/output names must be unique)`);
    this.used.add(name);
  }

  node(opType: string, inputs: string[], base: string, attrs: IAttributeProto[] = [], output?: string): string {
    const out = output ?? this.name(`${base}:${opType}`);
    this.nodes.push({ opType, input: inputs, output: [out], name: this.name(`${base}/${opType}`), attribute: attrs });
    return out;
  }

  /** A float32 initializer; data is copied little-endian regardless of host byte order. */
  constant(base: string, dims: number[], data: ArrayLike<number>): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new OnnxExportError(`initializer ${base}: ${data.length} values for dims [${dims.join(', ')}]`);
    const raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) {
      const v = data[i] as number;
      if (!Number.isFinite(v)) throw new OnnxExportError(`initializer ${base}: weight ${i} is ${v} (not finite)`);
      view.setFloat32(i * 4, v, true);
    }
    const name = this.name(base);
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw });
    return name;
  }
}

const A = onnx.AttributeProto.AttributeType;
const attrInts = (name: string, ints: number[]): IAttributeProto => ({ name, type: A.INTS, ints });
const attrInt = (name: string, i: number): IAttributeProto => ({ name, type: A.INT, i });
const attrFloat = (name: string, f: number): IAttributeProto => ({ name, type: A.FLOAT, f });

function layerLabel(layer: tf.layers.Layer): string {
  return `layer '${layer.name}' (class ${layer.getClassName()})`;
}

function fail(layer: tf.layers.Layer, what: string): never {
  throw new OnnxExportError(`cannot export ${layerLabel(layer)}: ${what}`);
}

/** Weight of `layer` whose variable name ends in `/<suffix>` (e.g. kernel, bias, gamma, beta). */
function weight(layer: tf.layers.Layer, suffix: string): tf.Tensor | undefined {
  const v = layer.weights.find((w) => w.originalName.endsWith(`/${suffix}`) || w.name.endsWith(`/${suffix}`) || w.originalName === suffix);
  return v?.read();
}

function requireWeight(layer: tf.layers.Layer, suffix: string): tf.Tensor {
  const w = weight(layer, suffix);
  if (w === undefined) fail(layer, `it has no '${suffix}' weight (weights: ${layer.weights.map((x) => x.originalName).join(', ') || 'none'})`);
  return w;
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

export function exportOnnx(model: tf.LayersModel, opts: ExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? ONNX_OPSET;
  if (opset !== ONNX_OPSET) throw new OnnxExportError(`opset ${String(opset)} is not supported; only ${String(ONNX_OPSET)}`);
  const g = new GraphBuilder();

  // Defaults: the layer names (a Sequential model leaves model.inputNames empty).
  const inputNames = opts.inputNames ?? model.inputs.map((t) => t.sourceLayer.name);
  const outputNames = opts.outputNames ?? model.outputs.map((t) => t.sourceLayer.name);
  if (inputNames.length !== model.inputs.length) {
    throw new OnnxExportError(
      `inputNames has ${inputNames.length} names but the model has ${model.inputs.length} inputs (${model.inputs.map((t) => t.sourceLayer.name).join(', ')})`,
    );
  }
  if (outputNames.length !== model.outputs.length) {
    throw new OnnxExportError(
      `outputNames has ${outputNames.length} names but the model has ${model.outputs.length} outputs (${model.outputs.map((t) => t.sourceLayer.name).join(', ')})`,
    );
  }
  for (const n of [...inputNames, ...outputNames]) {
    if (!/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(n)) throw new OnnxExportError(`'${n}' is not a usable ONNX input/output name`);
    g.reserve(n);
  }

  const graphInputs: IValueInfoProto[] = [];
  const top: Scope = { prefix: '', values: new Map() };
  model.inputs.forEach((t, i) => {
    const name = inputNames[i] as string;
    if (t.dtype !== 'float32') throw new OnnxExportError(`model input '${t.name}' has dtype ${t.dtype}; only float32 inputs are supported`);
    graphInputs.push(valueInfo(name, t.shape));
    top.values.set(t.id, { shape: [...t.shape], nhwc: name });
  });

  // ---- layout helpers (memoised on the Val so each transpose is emitted once) ----
  const asNhwc = (v: Val, base: string): string => {
    if (v.nhwc !== undefined) return v.nhwc;
    if (v.nchw === undefined) throw new OnnxExportError(`internal: value at ${base} has no name`);
    v.nhwc = g.node('Transpose', [v.nchw], `${base}/to_nhwc`, [attrInts('perm', NCHW_TO_NHWC)]);
    return v.nhwc;
  };
  const asNchw = (v: Val, base: string): string => {
    if (v.nchw !== undefined) return v.nchw;
    if (v.nhwc === undefined) throw new OnnxExportError(`internal: value at ${base} has no name`);
    v.nchw = g.node('Transpose', [v.nhwc], `${base}/to_nchw`, [attrInts('perm', NHWC_TO_NCHW)]);
    return v.nchw;
  };

  const activation = (layer: tf.layers.Layer, act: unknown, input: string, base: string): string => {
    switch (act) {
      case undefined:
      case null:
      case 'linear':
        return input;
      case 'relu':
        return g.node('Relu', [input], base);
      case 'tanh':
        return g.node('Tanh', [input], base);
      case 'sigmoid':
        return g.node('Sigmoid', [input], base);
      case 'softplus':
        return g.node('Softplus', [input], base);
      case 'elu':
        return g.node('Elu', [input], base, [attrFloat('alpha', 1)]);
      default:
        return fail(layer, `activation '${String(act)}' is not supported (relu, tanh, sigmoid, softplus, elu, linear)`);
    }
  };

  // ---- per-layer translation: input values -> output values ----
  const emitLayer = (layer: tf.layers.Layer, ins: Val[], outShapes: Shape[], scope: Scope): Val[] => {
    const cls = layer.getClassName();
    const base = `${scope.prefix}${layer.name}`;
    const cfg = layer.getConfig() as Record<string, unknown>;
    const one = (): Val => {
      if (ins.length !== 1) fail(layer, `expected one input, got ${ins.length}`);
      return ins[0] as Val;
    };
    const outShape = outShapes[0];
    if (outShape === undefined) fail(layer, 'it has no output');

    switch (cls) {
      case 'Conv2D': {
        const x = one();
        if (cfg.dataFormat !== 'channelsLast') fail(layer, `dataFormat '${String(cfg.dataFormat)}' (only channelsLast)`);
        const [kh, kw] = cfg.kernelSize as number[];
        const [sh, sw] = cfg.strides as number[];
        const [dh, dw] = cfg.dilationRate as number[];
        if (kh === undefined || kw === undefined || sh === undefined || sw === undefined || dh === undefined || dw === undefined)
          fail(layer, 'kernelSize/strides/dilationRate');
        const h = x.shape[1];
        const w = x.shape[2];
        if (x.shape.length !== 4 || typeof h !== 'number' || typeof w !== 'number')
          fail(layer, `input shape [${x.shape.join(', ')}] must be [batch, H, W, C] with static H and W`);
        let pads: number[];
        if (cfg.padding === 'valid') pads = [0, 0, 0, 0];
        else if (cfg.padding === 'same') {
          // TF's rule: output = ceil(in / stride); any odd padding goes to the bottom/right.
          const tfPad = (n: number, k: number, s: number, d: number): [number, number] => {
            const eff = (k - 1) * d + 1;
            const out = Math.ceil(n / s);
            const total = Math.max((out - 1) * s + eff - n, 0);
            const before = Math.floor(total / 2);
            return [before, total - before];
          };
          const [pt, pb] = tfPad(h, kh, sh, dh);
          const [pl, pr] = tfPad(w, kw, sw, dw);
          pads = [pt, pl, pb, pr];
        } else fail(layer, `padding '${String(cfg.padding)}' (only valid and same)`);
        const kernel = requireWeight(layer, 'kernel');
        const kNchw = tf.tidy(() => tf.transpose(kernel, [3, 2, 0, 1])); // [kh,kw,ci,co] -> [co,ci,kh,kw]
        const kName = g.constant(`${base}/kernel`, kNchw.shape, kNchw.dataSync());
        kNchw.dispose();
        const inputs = [asNchw(x, base), kName];
        if (cfg.useBias !== false) {
          const b = requireWeight(layer, 'bias');
          inputs.push(g.constant(`${base}/bias`, b.shape, b.dataSync()));
        }
        const y = g.node('Conv', inputs, base, [
          attrInts('kernel_shape', [kh, kw]),
          attrInts('strides', [sh, sw]),
          attrInts('dilations', [dh, dw]),
          attrInts('pads', pads),
          attrInt('group', 1),
        ]);
        return [{ shape: outShape, nchw: activation(layer, cfg.activation, y, base) }];
      }

      case 'Dense': {
        const x = one();
        const kernel = requireWeight(layer, 'kernel');
        const kName = g.constant(`${base}/kernel`, kernel.shape, kernel.dataSync());
        const bias = cfg.useBias !== false ? requireWeight(layer, 'bias') : undefined;
        const bName = bias === undefined ? undefined : g.constant(`${base}/bias`, bias.shape, bias.dataSync());
        const xin = asNhwc(x, base);
        let y: string;
        if (x.shape.length === 2) {
          y = g.node('Gemm', bName === undefined ? [xin, kName] : [xin, kName, bName], base);
        } else {
          // tfjs Dense acts on the last axis of any rank; MatMul broadcasts the same way.
          y = g.node('MatMul', [xin, kName], base);
          if (bName !== undefined) y = g.node('Add', [y, bName], base);
        }
        return [{ shape: outShape, nhwc: activation(layer, cfg.activation, y, base) }];
      }

      case 'LayerNormalization': {
        const x = one();
        const rank = x.shape.length;
        const rawAxes = Array.isArray(cfg.axis) ? (cfg.axis as number[]) : [cfg.axis as number];
        const axes = [...new Set(rawAxes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
        const first = axes[0];
        // ONNX normalises over [axis, rank): the tfjs axes must be exactly that trailing block.
        if (first === undefined || first < 1 || axes.some((a, i) => a !== first + i) || axes[axes.length - 1] !== rank - 1) {
          fail(layer, `axis ${JSON.stringify(cfg.axis)} is not a trailing block of axes of a rank-${rank} input`);
        }
        const eps = cfg.epsilon;
        if (typeof eps !== 'number' || !(eps > 0)) fail(layer, `epsilon ${String(eps)}`);
        const normShape = x.shape.slice(first);
        if (normShape.some((d) => d === null)) fail(layer, `normalised dims [${normShape.join(', ')}] must be static`);
        const dims = normShape as number[];
        const size = dims.reduce((a, b) => a * b, 1);
        const gamma = cfg.scale !== false ? requireWeight(layer, 'gamma') : undefined;
        const beta = cfg.center !== false ? requireWeight(layer, 'beta') : undefined;
        const sName = g.constant(`${base}/gamma`, dims, gamma === undefined ? new Float32Array(size).fill(1) : gamma.dataSync());
        const inputs = [asNhwc(x, base), sName];
        if (beta !== undefined) inputs.push(g.constant(`${base}/beta`, dims, beta.dataSync()));
        const y = g.node('LayerNormalization', inputs, base, [attrInt('axis', first), attrFloat('epsilon', eps)]);
        return [{ shape: outShape, nhwc: y }];
      }

      case 'Flatten': {
        const x = one();
        if (x.shape.length <= 2) return [{ shape: outShape, nhwc: asNhwc(x, base) }];
        // Flatten in NHWC so the element order is tfjs's (the following Dense rows then match as trained).
        return [{ shape: outShape, nhwc: g.node('Flatten', [asNhwc(x, base)], base, [attrInt('axis', 1)]) }];
      }

      case 'Concatenate': {
        if (ins.length < 2) fail(layer, `needs at least two inputs, got ${ins.length}`);
        const rank = outShape.length;
        const axisRaw = typeof cfg.axis === 'number' ? cfg.axis : -1;
        const axis = axisRaw < 0 ? axisRaw + rank : axisRaw;
        if (axis < 1 || axis >= rank) fail(layer, `axis ${axisRaw} for rank ${rank}`);
        const names = ins.map((v) => asNhwc(v, base));
        return [{ shape: outShape, nhwc: g.node('Concat', names, base, [attrInt('axis', axis)]) }];
      }

      case 'Activation': {
        const x = one();
        // Elementwise: stay in whatever layout the input already exists in (avoids a transpose after a conv).
        if (x.nchw !== undefined && x.nhwc === undefined) return [{ shape: outShape, nchw: activation(layer, cfg.activation, x.nchw, base) }];
        return [{ shape: outShape, nhwc: activation(layer, cfg.activation, asNhwc(x, base), base) }];
      }

      case 'Scale': {
        const x = one();
        const factors = cfg.scale;
        if (!Array.isArray(factors) || factors.length === 0 || !factors.every((f) => typeof f === 'number' && Number.isFinite(f))) {
          fail(layer, 'config.scale must be a non-empty array of finite numbers');
        }
        const fs = factors as number[];
        const channels = x.shape[x.shape.length - 1];
        if (fs.length !== 1 && channels !== fs.length) fail(layer, `${fs.length} factors for ${String(channels)} channels`);
        if (x.shape.length === 4 && x.nchw !== undefined && x.nhwc === undefined) {
          const c = g.constant(`${base}/scale`, fs.length === 1 ? [1] : [fs.length, 1, 1], fs);
          return [{ shape: outShape, nchw: g.node('Mul', [x.nchw, c], base) }];
        }
        const c = g.constant(`${base}/scale`, [fs.length], fs);
        return [{ shape: outShape, nhwc: g.node('Mul', [asNhwc(x, base), c], base) }];
      }

      default:
        return fail(
          layer,
          'this layer class has no ONNX translation (supported: InputLayer, Conv2D, Dense, LayerNormalization, Flatten, Concatenate, Activation, Scale, nested LayersModel)',
        );
    }
  };

  // ---- trace from the outputs back, emitting each layer call once its inputs exist ----
  const valueOf = (t: tf.SymbolicTensor, scope: Scope, depth: number): Val => {
    const known = scope.values.get(t.id);
    if (known !== undefined) return known;
    if (depth > 10000) throw new OnnxExportError('graph too deep (cycle?)');
    const layer = t.sourceLayer;
    const node = layer.inboundNodes[t.nodeIndex];
    if (node === undefined) fail(layer, `missing inbound node ${t.nodeIndex}`);
    if (layer.getClassName() === 'InputLayer') {
      fail(layer, `tensor '${t.name}' comes from an Input that is not an input of the model being exported`);
    }
    const ins = node.inputTensors.map((it) => valueOf(it, scope, depth + 1));
    let outs: Val[];
    if (layer instanceof tf.LayersModel) {
      // A nested model: map its inputs onto ours and trace inside it under its own name prefix.
      const inner: Scope = { prefix: `${scope.prefix}${layer.name}/`, values: new Map() };
      if (layer.inputs.length !== ins.length) fail(layer, `nested model called with ${ins.length} inputs, defined with ${layer.inputs.length}`);
      layer.inputs.forEach((it, i) => inner.values.set(it.id, ins[i] as Val));
      outs = layer.outputs.map((ot) => valueOf(ot, inner, depth + 1));
    } else {
      outs = emitLayer(
        layer,
        ins,
        node.outputTensors.map((ot) => [...ot.shape]),
        scope,
      );
    }
    node.outputTensors.forEach((ot, i) => {
      const v = outs[i];
      if (v === undefined) fail(layer, `produced ${outs.length} outputs, node has ${node.outputTensors.length}`);
      // Outputs keep tfjs's own shape for this call (a nested model's inner shapes are identical).
      scope.values.set(ot.id, v);
    });
    const mine = scope.values.get(t.id);
    if (mine === undefined) fail(layer, `tensor '${t.name}' is not among the outputs of its node`);
    return mine;
  };

  const graphOutputs: IValueInfoProto[] = [];
  model.outputs.forEach((t, i) => {
    const name = outputNames[i] as string;
    const v = valueOf(t, top, 0);
    g.node('Identity', [asNhwc(v, `output/${name}`)], `output/${name}`, [], name);
    graphOutputs.push(valueInfo(name, t.shape));
  });

  const bytes = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: 'insertion-daemon',
      producerVersion: '1',
      docString: opts.docString ?? '',
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: model.name || 'model',
        node: g.nodes,
        initializer: g.initializers,
        input: graphInputs,
        output: graphOutputs,
      },
    }),
  ).finish();
  return bytes;
}

function valueInfo(name: string, shape: Shape): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d, i) => (d === null ? { dimParam: i === 0 ? BATCH_DIM : `d${i}` } : { dimValue: d })) },
      },
    },
  };
}

export interface SaveOnnxOptions extends ExportOptions {
  /** Role of each model input, in model.inputs order. */
  inputRoles: InputRole[];
  /** Role of each model output, in model.outputs order. */
  outputRoles: OutputRole[];
  /** The card minus what the export itself knows (inputs, outputs, onnx section; code version defaults to git HEAD). */
  card: Omit<CardDraft, 'inputs' | 'outputs'>;
}

/**
 * Exports `model`, writes `<onnxPath>` and its card `<onnxPath>.json` (see src/policy/card.ts), and returns both.
 * Input/output specs in the card come from the model itself, so they cannot drift from the graph.
 */
export function saveOnnxModel(model: tf.LayersModel, onnxPath: string, opts: SaveOnnxOptions): { bytes: Uint8Array; card: ModelCard } {
  const inputNames = opts.inputNames ?? model.inputs.map((t) => t.sourceLayer.name);
  const outputNames = opts.outputNames ?? model.outputs.map((t) => t.sourceLayer.name);
  if (opts.inputRoles.length !== model.inputs.length)
    throw new OnnxExportError(`inputRoles has ${opts.inputRoles.length} entries for ${model.inputs.length} inputs`);
  if (opts.outputRoles.length !== model.outputs.length)
    throw new OnnxExportError(`outputRoles has ${opts.outputRoles.length} entries for ${model.outputs.length} outputs`);
  const bytes = exportOnnx(model, {
    ...opts,
    inputNames,
    outputNames,
    metadata: { kind: opts.card.kind, name: opts.card.name, version: String(opts.card.version), ...opts.metadata },
  });
  const spec = (t: tf.SymbolicTensor, name: string, role: InputRole | OutputRole): TensorSpec => ({ name, role, shape: [...t.shape], dtype: 'float32' });
  const draft: CardDraft = {
    ...opts.card,
    inputs: model.inputs.map((t, i) => spec(t, inputNames[i] as string, opts.inputRoles[i] as InputRole)),
    outputs: model.outputs.map((t, i) => spec(t, outputNames[i] as string, opts.outputRoles[i] as OutputRole)),
  };
  const card = writeModelFiles(onnxPath, bytes, draft, { opset: ONNX_OPSET, irVersion: ONNX_IR_VERSION });
  return { bytes, card };
}
