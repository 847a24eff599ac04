/**
 * Per-tick sensor preprocessing: the camera frame into the policy's input, the wrench bias-corrected.
 *
 * Image: sharp does the crop (from calibration) and the resize (to the policy's input size); the colour conversion
 * (BGR cameras -> RGB) and the byte -> Float32 NHWC [0,1] conversion happen in one JS pass over the small output.
 * When the frame already is the policy's size and no crop is set (the simulator renders 64x64), sharp is skipped:
 * its per-call overhead (a libuv thread-pool round trip, ~0.1-0.3 ms measured in bench/daemon.bench.ts) would be pure
 * cost for an identity resize.
 */
import sharp from 'sharp';
import { footprints, resizeRgb } from '../policy/inputs.ts';
import type { DepthImage, RgbImage, Wrench } from '../core/types.ts';

/** sharp's resampling kernels, or 'area': the models' area average (policy/inputs.ts resizeRgb), done in JS. */
export type ResizeMethod = 'area' | 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';

export interface ImagePreprocessSpec {
  /** Crop rectangle in camera pixels, or null for the full frame. */
  crop: { x: number; y: number; width: number; height: number } | null;
  /** Policy input size. */
  width: number;
  height: number;
  /** Channel order the camera delivers. */
  channelOrder: 'rgb' | 'bgr';
  /** Resampling when the (cropped) frame is not the input size; default 'linear' (sharp). */
  resize?: ResizeMethod;
  /**
   * A camera's resolution does not change while it runs: with this set, the first frame's size is kept and a frame
   * of another size is refused (a reconfigured camera or another stream on the topic would otherwise be resized
   * silently into a picture the policy was never calibrated for).
   */
  lockFrameSize?: boolean;
}

/** The policy's view of one frame: bytes (logged, losslessly compressed off the tick) and floats (fed to the policy). */
export interface PreparedImage {
  /** RGB, policy input size; what the transition log stores and learning trains on. */
  rgb: RgbImage;
  /** NHWC [1, height, width, 3] in [0, 1]. */
  tensor: Float32Array;
  /** Whether sharp ran for this frame (false on the identity fast path). */
  usedSharp: boolean;
}

export class PreprocessError extends Error {
  override name = 'PreprocessError';
}

/**
 * The depth image onto the logged image's grid: it must be registered to the colour frame (same size: a camera's
 * "aligned depth" stream), gets the same calibration crop, then each logged pixel is the mean of the valid (> 0) depth
 * pixels under it (0 if none), so a hole does not pull an average towards the camera. Identity (no copy) when there is
 * no crop and the sizes agree, as in the simulator. Throws PreprocessError naming both sizes otherwise.
 */
export function prepareDepth(
  depth: DepthImage,
  frame: { width: number; height: number },
  crop: ImagePreprocessSpec['crop'],
  width: number,
  height: number,
): DepthImage {
  if (depth.width !== frame.width || depth.height !== frame.height || depth.data.length !== depth.width * depth.height) {
    throw new PreprocessError(
      `depth image ${depth.width}x${depth.height} (${depth.data.length} values) is not registered to the ${frame.width}x${frame.height} colour frame (use the camera's depth stream aligned to colour)`,
    );
  }
  const c = crop ?? { x: 0, y: 0, width: depth.width, height: depth.height };
  if (c.x + c.width > depth.width || c.y + c.height > depth.height) {
    throw new PreprocessError(`calibration camera.crop ${JSON.stringify(c)} exceeds the ${depth.width}x${depth.height} depth frame`);
  }
  if (!crop && depth.width === width && depth.height === height) return depth;
  const ys = footprints(c.height, height);
  const xs = footprints(c.width, width);
  const out = new Float32Array(width * height);
  for (let r = 0; r < height; r++) {
    for (let q = 0; q < width; q++) {
      let sum = 0,
        k = 0;
      for (let y = c.y + ys[2 * r]!; y < c.y + ys[2 * r + 1]!; y++) {
        for (let x = c.x + xs[2 * q]!; x < c.x + xs[2 * q + 1]!; x++) {
          const v = depth.data[y * depth.width + x]!;
          if (v > 0 && Number.isFinite(v)) {
            sum += v;
            k++;
          }
        }
      }
      out[r * width + q] = k > 0 ? sum / k : 0;
    }
  }
  return { width, height, data: out };
}

export class ImagePreprocessor {
  /** Reused output buffer for the float tensor: the tick must not allocate per frame. Callers copy if they keep it. */
  private readonly tensor: Float32Array;
  private frameSize: { width: number; height: number } | null = null;

  constructor(readonly spec: ImagePreprocessSpec) {
    if (!(spec.width > 0 && spec.height > 0)) throw new PreprocessError(`policy input size must be positive, got ${spec.width}x${spec.height}`);
    this.tensor = new Float32Array(spec.width * spec.height * 3);
  }

  /** True when `other` turns a frame into exactly the same input, so one result can feed both models. */
  sameAs(other: ImagePreprocessor): boolean {
    const a = this.spec;
    const b = other.spec;
    const ca = a.crop;
    const cb = b.crop;
    const sameCrop = ca === cb || (ca !== null && cb !== null && ca.x === cb.x && ca.y === cb.y && ca.width === cb.width && ca.height === cb.height);
    return sameCrop && a.width === b.width && a.height === b.height && a.channelOrder === b.channelOrder && (a.resize ?? 'linear') === (b.resize ?? 'linear');
  }

  /** True when frames of this size need no sharp call. */
  isIdentity(frameWidth: number, frameHeight: number): boolean {
    return this.spec.crop === null && frameWidth === this.spec.width && frameHeight === this.spec.height;
  }

  /**
   * Why this frame cannot be used (wrong byte count for its size; another size than the camera has been sending), or
   * null. Synchronous: the daemon also asks it before it accepts an e-stop reset after a bad frame.
   */
  frameProblem(frame: RgbImage): string | null {
    if (frame.data.length !== frame.width * frame.height * 3) {
      return `camera frame ${frame.width}x${frame.height} has ${frame.data.length} bytes, expected ${frame.width * frame.height * 3}`;
    }
    // (A 1-pixel frame is a backend's placeholder before the camera's first frame, not the camera's size.)
    if (this.spec.lockFrameSize && frame.width * frame.height > 1) {
      this.frameSize ??= { width: frame.width, height: frame.height };
      if (frame.width !== this.frameSize.width || frame.height !== this.frameSize.height) {
        return `camera frame is ${frame.width}x${frame.height}, the camera has been sending ${this.frameSize.width}x${this.frameSize.height}`;
      }
    }
    return null;
  }

  async prepare(frame: RgbImage): Promise<PreparedImage> {
    const { width, height } = this.spec;
    const problem = this.frameProblem(frame);
    if (problem) throw new PreprocessError(problem);
    let bytes: Uint8Array;
    let usedSharp = false;
    if (this.isIdentity(frame.width, frame.height)) {
      bytes = frame.data;
    } else if (this.spec.resize === 'area') {
      bytes = this.areaResize(frame);
    } else {
      const crop = this.spec.crop;
      if (crop && (crop.x + crop.width > frame.width || crop.y + crop.height > frame.height)) {
        throw new PreprocessError(`calibration camera.crop ${JSON.stringify(crop)} exceeds the ${frame.width}x${frame.height} frame`);
      }
      let img = sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } });
      if (crop) img = img.extract({ left: crop.x, top: crop.y, width: crop.width, height: crop.height });
      const buf = await img
        .resize(width, height, { fit: 'fill', kernel: this.spec.resize ?? 'linear' })
        .raw()
        .toBuffer();
      bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      usedSharp = true;
    }
    return this.finish(bytes, usedSharp);
  }

  /** Crop (row copies) and area-average resize in JS: exactly the training loader's arithmetic. */
  private areaResize(frame: RgbImage): Uint8Array {
    const c = this.spec.crop;
    let src = frame.data;
    let sw = frame.width;
    let sh = frame.height;
    if (c) {
      if (c.x + c.width > frame.width || c.y + c.height > frame.height) {
        throw new PreprocessError(`calibration camera.crop ${JSON.stringify(c)} exceeds the ${frame.width}x${frame.height} frame`);
      }
      src = new Uint8Array(c.width * c.height * 3);
      for (let y = 0; y < c.height; y++) {
        const from = ((c.y + y) * frame.width + c.x) * 3;
        src.set(frame.data.subarray(from, from + c.width * 3), y * c.width * 3);
      }
      sw = c.width;
      sh = c.height;
    }
    const out = new Uint8Array(this.spec.width * this.spec.height * 3);
    resizeRgb(src, sw, sh, out, this.spec.width, this.spec.height);
    return out;
  }

  private finish(bytes: Uint8Array, usedSharp: boolean): PreparedImage {
    const { width, height, channelOrder } = this.spec;
    const n = width * height;
    const t = this.tensor;
    const k = 1 / 255;
    let rgbBytes: Uint8Array;
    if (channelOrder === 'bgr') {
      rgbBytes = new Uint8Array(n * 3);
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        rgbBytes[j] = bytes[j + 2] as number;
        rgbBytes[j + 1] = bytes[j + 1] as number;
        rgbBytes[j + 2] = bytes[j] as number;
      }
    } else {
      // Own copy: the backend may reuse its frame buffer, and the log keeps this one.
      rgbBytes = usedSharp ? bytes : bytes.slice();
    }
    // The floats are made only when asked: the daemon feeds models through policy/inputs.ts, so the tick never pays.
    let filled = false;
    return {
      rgb: { width, height, data: rgbBytes },
      usedSharp,
      get tensor(): Float32Array {
        if (!filled) for (let i = 0; i < n * 3; i++) t[i] = (rgbBytes[i] as number) * k;
        filled = true;
        return t;
      },
    };
  }
}

/**
 * Wrench bias correction: subtract the calibrated static bias; `rezero` (at episode start, in free air) replaces it
 * with the current reading, as the real robot's F/T sensor is tared before each rollout.
 */
export class WrenchCorrector {
  private bias: Wrench;

  constructor(calibratedBias: Wrench) {
    this.bias = [...calibratedBias] as Wrench;
  }

  get currentBias(): Wrench {
    return [...this.bias] as Wrench;
  }

  correct(raw: Wrench): Wrench {
    const b = this.bias;
    return [raw[0] - b[0], raw[1] - b[1], raw[2] - b[2], raw[3] - b[3], raw[4] - b[4], raw[5] - b[5]];
  }

  /** Takes `raw` as the new zero. A non-finite reading is refused (keeps the previous bias) and reported. */
  rezero(raw: Wrench): boolean {
    if (!raw.every(Number.isFinite)) return false;
    this.bias = [...raw] as Wrench;
    return true;
  }
}
