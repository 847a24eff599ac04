/**
 * How an observation becomes model input, written once and driven by the model card. The control tick, swap
 * validation, the offline policy controller, the training loaders and the online trainer all call this module, so a
 * model is fed at drive time exactly what it was trained on.
 *
 * The observation's image is the LOGGED image (the camera frame after the calibration's crop and resize, RGB: see
 * robot/preprocess.ts); a model's image input is that image area-resized to the card's size, then byte * scale + offset.
 * Proprio: the card's layout of named elements, normalised as (raw - mean) / std.
 *
 * Only area resampling is accepted in a card: it is what the training loaders do, so a card naming another kernel
 * would be fed differently at training and at drive time.
 */
import type { BackendSensors, Observation, RgbImage } from '../core/types.ts';
import type { ModelCard } from './card.ts';

/** Proprio layout (element names, see PROPRIO_NAMES) and the normalisation the caller applies. */
export interface ProprioSpec {
  layout: string[];
  mean: number[];
  std: number[];
}

/** The project's proprio layout: tip minus goal x* (m), then the bias-corrected wrench (N, N m); raw units (mean 0,
 *  std 1: the learner's scaling is baked into the exported graph). */
export const DEFAULT_PROPRIO_SPEC: ProprioSpec = {
  layout: ['dx', 'dy', 'dz', 'fx', 'fy', 'fz', 'tx', 'ty', 'tz'],
  mean: [0, 0, 0, 0, 0, 0, 0, 0, 0],
  std: [1, 1, 1, 1, 1, 1, 1, 1, 1],
};

/** Normalisation of depth cells (m). */
const DEPTH_MEAN_M = 0.1;
const DEPTH_STD_M = 0.01;
/**
 * What a depth cell without one valid pixel reads (m): about a D405's near limit at 424 px (~3.2 cm; the cells a wrist
 * camera leaves empty are parts too near), so that an empty cell is a fixed, finite input.
 */
export const DEPTH_EMPTY_M = 0.03;
const DEPTH_NAME = /^depth([1-9][0-9]?)_([0-9]+)_([0-9]+)$/;
/** A vertical depth step (depthGridDy): cell (r+1, c) minus cell (r, c) on a rows x cols grid. */
const DEPTH_DY_NAME = /^depthdy([1-9][0-9]?)x([1-9][0-9]?)_([0-9]+)_([0-9]+)$/;
/** Normalisation of vertical depth steps (m): 1 unit = 2 mm. */
const DEPTH_DY_STD_M = 0.002;

/**
 * Cues a reward classifier may take beside the wrist image (`train:reward --cue`), as proprio specs in raw units.
 * 'fz': the bias-corrected axial wrist force. A plug pressed onto the bottom of its socket reads several newtons
 * (held-out prior data: median 8.9 N, 10th percentile 1.9-4.6 N per connector), one whose pins hang a few millimetres
 * short of seated reads about 0 (90th percentile <= 1.7 N), while the wrist camera sees the two almost alike. It says
 * "pressed home", not "seated": a plug seated without pressing reads 0 N as well (results/reward-cue/README.md).
 * 'wrench': all six components. 'none': the image alone (the cards made before cues existed).
 * 'depth': the wrist depth image as 8 x 8 cells (depthGridSpec; an RGB-D wrist camera, e.g. a RealSense D405); it
 * sees seated without pressing. 'depth+fz': both.
 * 'depth-dy': only how depth changes from one row of the image to the next (depthDySpec), never how far anything is.
 * The absolute cells of 'depth' tell how far the socket face is, i.e. how deep the tip is in the socket, and "seated"
 * is a connector's own insertion depth (4-24 mm here): a classifier trained on them learns one depth for all
 * connectors and calls a 16 mm connector seated 3-10 mm short (results/reward-depth-relative/). The steps keep what
 * is the same for every connector: the jump from the plug housing's lower edge to the socket face beyond it, which
 * grows with the exposed pin length (the pins' 4 mm standoff when seated, plus the height above seated).
 */
export const REWARD_CUES = {
  none: null,
  fz: { layout: ['fz'], mean: [0], std: [1] },
  wrench: { layout: ['fx', 'fy', 'fz', 'tx', 'ty', 'tz'], mean: [0, 0, 0, 0, 0, 0], std: [1, 1, 1, 1, 1, 1] },
  depth: depthGridSpec(8),
  'depth+fz': { layout: [...depthGridSpec(8).layout, 'fz'], mean: [...depthGridSpec(8).mean, 0], std: [...depthGridSpec(8).std, 1] },
  'depth-dy': depthDySpec(32, 4),
} as const satisfies Record<string, ProprioSpec | null>;

export type RewardCue = keyof typeof REWARD_CUES;

/**
 * The wrist depth image as n x n cells (`depth{n}_{row}_{col}`, row 0 at the top): each the mean valid depth (m) over
 * the cell's footprint, area resampling as for the image, so any depth image size gives the same cells. Normalised
 * around 0.1 m in centimetres (the socket face is 9-11 cm from the wrist camera; 1 mm = 0.1). 'depth' = 'depth8': 64
 * cells of 8x8 pixels at 64 px. Why depth: once the pins are hidden the colour image barely changes over the last
 * millimetres, while every socket-face cell comes nearer by exactly the distance the plug goes down.
 */
function depthGridSpec(n: number): { layout: string[]; mean: number[]; std: number[] } {
  const layout: string[] = [];
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) layout.push(`depth${n}_${r}_${c}`);
  return { layout, mean: layout.map(() => DEPTH_MEAN_M), std: layout.map(() => DEPTH_STD_M) };
}

/**
 * Vertical depth steps on a rows x cols grid (`depthdy{rows}x{cols}_{r}_{c}`, r < rows - 1): cell (r+1, c) minus cell
 * (r, c), cells as in depthGrid. Fine rows (2 px at 64 px for 32 rows) keep an occluding edge sharp; a few wide columns
 * average the noise along it. Zero mean, 1 unit = 2 mm.
 */
function depthDySpec(rows: number, cols: number): { layout: string[]; mean: number[]; std: number[] } {
  const layout: string[] = [];
  for (let r = 0; r < rows - 1; r++) for (let c = 0; c < cols; c++) layout.push(`depthdy${rows}x${cols}_${r}_${c}`);
  return { layout, mean: layout.map(() => 0), std: layout.map(() => DEPTH_DY_STD_M) };
}

/** A cue's proprio spec as a fresh (mutable) copy, or null for the image alone. */
export function rewardCueSpec(cue: RewardCue): ProprioSpec | null {
  const c: ProprioSpec | null = REWARD_CUES[cue];
  return c ? { layout: [...c.layout], mean: [...c.mean], std: [...c.std] } : null;
}

/** What a model is fed: an RGB NHWC image of this size and scaling (null: no image), and a proprio vector. */
export interface ModelInputSpec {
  image: { width: number; height: number; scale: number; offset: number } | null;
  proprio: ProprioSpec | null;
}

export class InputSpecError extends Error {
  override name = 'InputSpecError';
}

// ----------------------------------------------------------------------------------------------------------------
// The card's preprocessing block: written by every training path, read back by inputSpecOf.

/** The words a card uses for the one resampling there is. */
export const AREA_RESIZE = 'area-average';

/** The `preprocessing` block of a card for a model trained on logged images of `imageSize` (and proprio). */
export function cardPreprocessing(imageSize: number, proprio: ProprioSpec | null): ModelCard['preprocessing'] {
  return {
    image: { width: imageSize, height: imageSize, channels: 3, colour: 'rgb', layout: 'NHWC', crop: null, resize: AREA_RESIZE, scale: 1 / 255, offset: 0 },
    ...(proprio
      ? {
          proprio: { layout: [...proprio.layout], mean: [...proprio.mean], std: [...proprio.std] },
          notes: 'proprio raw units (m, N, N m); the graph scales it',
        }
      : {}),
  };
}

/** What a card asks to be fed; refuses what this module cannot reproduce exactly. Errors name `source` and the field. */
export function inputSpecOf(card: ModelCard, source: string): ModelInputSpec {
  const hasImage = card.inputs.some((s) => s.role === 'image');
  const hasProprio = card.inputs.some((s) => s.role === 'proprio');
  if (card.inputs.some((s) => s.role === 'features'))
    throw new InputSpecError(`${source}: takes cached features, not observations; it cannot be fed from an observation`);
  const img = card.preprocessing.image;
  if (hasImage && !img) throw new InputSpecError(`${source}: field 'preprocessing.image' is required for a model with an image input`);
  if (img && (img.channels !== 3 || img.colour !== 'rgb'))
    throw new InputSpecError(
      `${source}: field 'preprocessing.image.colour' '${img.colour}' with ${img.channels} channels is not supported (models are fed RGB)`,
    );
  if (img && (Math.abs(img.scale - 1 / 255) > 1e-12 || img.offset !== 0))
    throw new InputSpecError(`${source}: field 'preprocessing.image.scale/offset' must be 1/255 and 0 (the learners train on byte / 255)`);
  if (img && img.crop !== null)
    throw new InputSpecError(`${source}: field 'preprocessing.image.crop' must be null (the camera crop is the calibration's, applied before logging)`);
  if (img && !/\barea\b/i.test(img.resize)) {
    throw new InputSpecError(
      `${source}: field 'preprocessing.image.resize' '${img.resize}' is not area resampling, the only one the training loaders use (write '${AREA_RESIZE}')`,
    );
  }
  const pro = card.preprocessing.proprio;
  if (hasProprio && !pro) throw new InputSpecError(`${source}: field 'preprocessing.proprio' is required for a model with a proprio input`);
  if (hasProprio && pro) new ProprioBuilder(pro, source); // validates names and std now, not at the first tick
  return {
    image: hasImage && img ? { width: img.width, height: img.height, scale: img.scale, offset: img.offset } : null,
    proprio: hasProprio && pro ? { layout: [...pro.layout], mean: [...pro.mean], std: [...pro.std] } : null,
  };
}

// ----------------------------------------------------------------------------------------------------------------
// Image

/**
 * Resizes RGB uint8 into `out` (at `offset`): area average when shrinking (each output pixel averages the input pixels
 * its footprint covers; exact for integer factors, e.g. 64 -> 32), nearest when enlarging. Same size: a copy.
 */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, out: Uint8Array, dw: number, dh: number, offset = 0): void {
  if (sw === dw && sh === dh) {
    out.set(src.subarray(0, sw * sh * 3), offset);
    return;
  }
  const ys = footprints(sh, dh);
  const xs = footprints(sw, dw);
  for (let y = 0; y < dh; y++) {
    const y0 = ys[2 * y]!;
    const y1 = ys[2 * y + 1]!;
    for (let x = 0; x < dw; x++) {
      const x0 = xs[2 * x]!;
      const x1 = xs[2 * x + 1]!;
      let r = 0,
        g = 0,
        b = 0;
      for (let yy = y0; yy < y1; yy++) {
        let p = (yy * sw + x0) * 3;
        for (let xx = x0; xx < x1; xx++, p += 3) {
          r += src[p]!;
          g += src[p + 1]!;
          b += src[p + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = offset + (y * dw + x) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
}

/**
 * Along one axis of s source pixels resized to d: each output pixel's source span [from, to) as pairs. Shrinking, the
 * spans tile the source; enlarging, a span would be empty, so it is the one pixel under the output pixel's centre.
 */
export function footprints(s: number, d: number): Int32Array {
  const spans = new Int32Array(2 * d);
  for (let i = 0; i < d; i++) {
    let from = Math.floor((i * s) / d);
    let to = Math.floor(((i + 1) * s) / d);
    if (to <= from) {
      from = Math.min(s - 1, Math.floor(((i + 0.5) * s) / d));
      to = from + 1;
    }
    spans[2 * i] = from;
    spans[2 * i + 1] = to;
  }
  return spans;
}

/** Image bytes as a model's float input: byte * scale + offset (the card's), into `out` from `at`. */
export function scaleImageBytes(bytes: ArrayLike<number>, image: { scale: number; offset: number }, out: Float32Array, at = 0): Float32Array {
  for (let i = 0; i < bytes.length; i++) out[at + i] = (bytes[i] as number) * image.scale + image.offset;
  return out;
}

/** A logged image as a model's image bytes (width x height x 3, uint8) into `out` at `offset`: what loaders store. */
export function modelImageBytes(img: RgbImage, width: number, height: number, out: Uint8Array, offset = 0): void {
  if (img.data.length !== img.width * img.height * 3)
    throw new InputSpecError(`image ${img.width}x${img.height} has ${img.data.length} bytes, expected ${img.width * img.height * 3}`);
  resizeRgb(img.data, img.width, img.height, out, width, height, offset);
}

// ----------------------------------------------------------------------------------------------------------------
// Proprio

type Getter = (o: Observation) => number;

const GETTERS: Record<string, Getter> = {
  dx: (o) => o.eePos[0] - o.goal[0],
  dy: (o) => o.eePos[1] - o.goal[1],
  dz: (o) => o.eePos[2] - o.goal[2],
  x: (o) => o.eePos[0],
  y: (o) => o.eePos[1],
  z: (o) => o.eePos[2],
  gx: (o) => o.goal[0],
  gy: (o) => o.goal[1],
  gz: (o) => o.goal[2],
  fx: (o) => o.wrench[0],
  fy: (o) => o.wrench[1],
  fz: (o) => o.wrench[2],
  tx: (o) => o.wrench[3],
  ty: (o) => o.wrench[4],
  tz: (o) => o.wrench[5],
};

/** Names a proprio layout may use: dx dy dz = end effector minus goal x* (m); x y z = end effector (m);
 *  gx gy gz = goal x* (m); fx fy fz tx ty tz = bias-corrected wrench (N, N m); depth{n}_{r}_{c} = a cell of the depth
 *  image on an n x n grid (m; n <= 99, see depthGridSpec); depthdy{rows}x{cols}_{r}_{c} = cell (r+1, c) minus cell
 *  (r, c) on a rows x cols grid (m; depthDySpec). */
export const PROPRIO_NAMES = [...Object.keys(GETTERS), 'depth{n}_{r}_{c}', 'depthdy{rows}x{cols}_{r}_{c}'];

/**
 * The depth image's n x n cells (m, row-major) into `out`: mean of the valid (> 0) pixels in each cell's area
 * footprint, DEPTH_EMPTY_M where none is valid. Throws InputSpecError when the observation has no depth image.
 */
export function depthGrid(o: Observation, n: number, out: Float64Array, cols = n): void {
  const d = o.depth;
  if (!d) {
    const why = o.depthFault ? ` (${o.depthFault})` : '';
    throw new InputSpecError(`observation has no depth image${why}, and the model takes depth cells (the backend must provide a depth camera)`);
  }
  if (d.data.length !== d.width * d.height || d.width < cols || d.height < n)
    throw new InputSpecError(`depth image ${d.width}x${d.height} with ${d.data.length} values cannot give ${n}x${cols} cells`);
  const ys = footprints(d.height, n);
  const xs = footprints(d.width, cols);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < cols; c++) {
      let sum = 0,
        k = 0;
      for (let y = ys[2 * r]!; y < ys[2 * r + 1]!; y++) {
        for (let x = xs[2 * c]!; x < xs[2 * c + 1]!; x++) {
          const v = d.data[y * d.width + x]!;
          if (v > 0) {
            sum += v;
            k++;
          }
        }
      }
      out[r * cols + c] = k > 0 ? sum / k : DEPTH_EMPTY_M;
    }
  }
}

/** The depth cells a model's inputs read (their names), empty when it takes no depth. */
export function depthCellsOf(spec: ModelInputSpec): string[] {
  return (spec.proprio?.layout ?? []).filter((name) => DEPTH_NAME.test(name) || DEPTH_DY_NAME.test(name));
}

/**
 * The one rule of what a model needs from the robot beyond the colour image, wrench and pose: why the backend with
 * `sensors` cannot feed it (null: it can). Every path that lets a model drive or score asks it before the swap
 * (REST activation and rollback, trainer and fleet hot-swaps, label-tuned rewards, the daemon's start), so a model
 * the backend cannot feed is refused with this reason instead of stopping the arm at its first tick.
 */
export function unmetSensors(spec: ModelInputSpec, sensors: BackendSensors): string | null {
  const cells = depthCellsOf(spec);
  if (cells.length > 0 && !sensors.depth) {
    return (
      `it takes ${cells.length} depth cells (${cells[0]}...) and the robot backend gives no depth image ` +
      '(simulator: backend.sim.depth: true; ROS 2: backend.ros2.topics.depth, a depth image aligned to colour)'
    );
  }
  return null;
}

/** Builds a proprio vector by the layout's names; compiled once, so the tick runs a loop into a reused buffer. */
export class ProprioBuilder {
  private readonly getters: Getter[];
  /** Depth grids this layout reads, by rows x cols: filled once per build() before the getters run. */
  private readonly grids = new Map<string, { rows: number; cols: number; cells: Float64Array }>();
  private readonly buf: Float32Array;
  private readonly mean: Float64Array;
  private readonly invStd: Float64Array;

  /** @param source names the model in errors */
  constructor(spec: ProprioSpec, source: string) {
    if (spec.mean.length !== spec.layout.length || spec.std.length !== spec.layout.length) {
      throw new InputSpecError(
        `${source}: proprio layout, mean and std must have the same length (${spec.layout.length}, ${spec.mean.length}, ${spec.std.length})`,
      );
    }
    this.getters = spec.layout.map((name, i) => {
      const g = GETTERS[name] ?? this.depthGetter(name);
      if (!g) throw new InputSpecError(`${source}: proprio layout[${i}] '${name}' is not a known element (known: ${PROPRIO_NAMES.join(' ')})`);
      return g;
    });
    spec.std.forEach((s, i) => {
      if (!(s > 0)) throw new InputSpecError(`${source}: proprio std[${i}] must be > 0, got ${s}`);
    });
    this.mean = Float64Array.from(spec.mean);
    this.invStd = Float64Array.from(spec.std, (s) => 1 / s);
    this.buf = new Float32Array(spec.layout.length);
  }

  /** The grid of rows x cols depth cells build() fills. */
  private grid(rows: number, cols: number): Float64Array {
    const key = `${rows}x${cols}`;
    let g = this.grids.get(key);
    if (!g) {
      g = { rows, cols, cells: new Float64Array(rows * cols) };
      this.grids.set(key, g);
    }
    return g.cells;
  }

  /** A depth cell's or vertical step's getter (reads the grid build() fills), or null when `name` is not one. */
  private depthGetter(name: string): Getter | null {
    const m = DEPTH_NAME.exec(name);
    if (m) {
      const n = Number(m[1]),
        r = Number(m[2]),
        c = Number(m[3]);
      if (r >= n || c >= n) return null;
      const g = this.grid(n, n);
      return () => g[r * n + c]!;
    }
    const s = DEPTH_DY_NAME.exec(name);
    if (!s) return null;
    const rows = Number(s[1]),
      cols = Number(s[2]),
      r = Number(s[3]),
      c = Number(s[4]);
    if (r >= rows - 1 || c >= cols) return null;
    const g = this.grid(rows, cols);
    return () => g[(r + 1) * cols + c]! - g[r * cols + c]!;
  }

  /** Fills and returns the reused buffer (copy it to keep it). Throws InputSpecError if it needs depth the observation lacks. */
  build(o: Observation): Float32Array {
    for (const g of this.grids.values()) depthGrid(o, g.rows, g.cells, g.cols);
    for (let i = 0; i < this.getters.length; i++) {
      this.buf[i] = ((this.getters[i] as Getter)(o) - (this.mean[i] as number)) * (this.invStd[i] as number);
    }
    return this.buf;
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Both, for one model

export interface ModelInput {
  image: Float32Array | undefined;
  proprio: Float32Array | undefined;
}

/** A model's input builder: made once per model (off the tick), then `build` per observation into reused buffers. */
export class ModelInputs {
  private readonly proprio: ProprioBuilder | null;
  private readonly bytes: Uint8Array | null;
  private readonly image: Float32Array | null;

  constructor(
    readonly spec: ModelInputSpec,
    source: string,
  ) {
    const im = spec.image;
    if (im && !(Number.isInteger(im.width) && Number.isInteger(im.height) && im.width > 0 && im.height > 0)) {
      throw new InputSpecError(`${source}: image input size must be positive integers, got ${im.width}x${im.height}`);
    }
    this.proprio = spec.proprio ? new ProprioBuilder(spec.proprio, source) : null;
    this.bytes = im ? new Uint8Array(im.width * im.height * 3) : null;
    this.image = im ? new Float32Array(im.width * im.height * 3) : null;
  }

  /** The model's inputs for one observation (reused buffers: copy to keep). Throws InputSpecError on a bad frame. */
  build(obs: Observation): ModelInput {
    let image: Float32Array | undefined;
    const im = this.spec.image;
    if (im && this.bytes && this.image) {
      modelImageBytes(obs.image, im.width, im.height, this.bytes);
      image = scaleImageBytes(this.bytes, im, this.image);
    }
    return { image, proprio: this.proprio?.build(obs) };
  }
}
