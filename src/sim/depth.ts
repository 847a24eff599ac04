/**
 * What a wrist RGB-D camera does to the exact depth the ray cast gives: a model of an Intel RealSense D405 (stereo,
 * 18 mm baseline, depth unit 0.1 mm) streaming depth at 424x240, the mode a 64 px model input needs at most. The ray cast already has every pixel's distance, so depth
 * costs no extra ray; this adds what a real camera would get wrong, so that a classifier cannot lean on a precision
 * no camera has:
 * - stereo noise that grows with z^2: sigma_z = z^2 * sigma_d / (f * b), with f the focal length in the stream's
 *   pixels (424 px wide, 87 deg: f ~ 223 px) and sigma_d the disparity noise (0.08 px, a typical sub-pixel figure);
 *   0.05 mm at 5 cm (the socket face when seated), 0.16 mm at 9 cm;
 * - a per-episode scale error (the calibration's absolute accuracy, within +-0.5 %; ~0.45 mm at 9 cm), so absolute
 *   depth is off by an unknown amount while differences within a frame hold;
 * - no depth nearer than the minimum range or beyond the maximum (0, as the camera reports it), and a small share of
 *   dropped pixels (stereo matching fails on some). The minimum range is f * b / 126 px (the default disparity search):
 *   ~3.2 cm at 424 px; at 848 px it is ~6.4 cm, nearer than which the socket face of a seated plug lies (~4-5 cm from
 *   this wrist camera), so the full-resolution mode would leave seated frames without depth;
 * - quantisation to the 0.1 mm depth unit.
 */
import { Rng } from '../util/rng.ts';

export interface DepthCameraModel {
  /** Stereo baseline (m). */
  baseline: number;
  /** Focal length in the native image's pixels. */
  focalPx: number;
  /** Disparity noise (px, one sigma). */
  subpixel: number;
  /** Depth unit (m) the camera quantises to. */
  unit: number;
  /** Valid range (m): nearer or farther reads 0. */
  minZ: number;
  maxZ: number;
  /** Per-episode scale error: uniform in +-this (fraction). */
  scaleError: number;
  /** Share of pixels dropped (0) per frame. */
  dropout: number;
}

export const D405: Readonly<DepthCameraModel> = {
  baseline: 0.018,
  focalPx: 223,
  subpixel: 0.08,
  unit: 1e-4,
  minZ: 0.032,
  maxZ: 0.5,
  scaleError: 0.005,
  dropout: 0.01,
};

/** Per-episode state of a simulated depth camera: the scale error and the noise stream, both from the episode seed. */
export class DepthNoise {
  private rng: Rng;
  private scale = 1;

  constructor(readonly model: Readonly<DepthCameraModel> = D405) {
    this.rng = new Rng(0);
  }

  /** New episode: its own scale error and noise stream (a stream apart from the cell's other draws, which stay as they were). */
  reset(seed: number): void {
    this.rng = new Rng(seed).fork('depth-camera');
    this.scale = 1 + this.rng.uniform(-1, 1) * this.model.scaleError;
  }

  /** exact axial depth (m, 0 = no return) -> what the camera reports, into `out` (may be `exact`). */
  apply(exact: Float32Array, out: Float32Array): void {
    const m = this.model;
    const k = m.subpixel / (m.focalPx * m.baseline);
    const rng = this.rng;
    for (let p = 0; p < exact.length; p++) {
      const z0 = exact[p]!;
      if (!(z0 > 0) || z0 < m.minZ || z0 > m.maxZ || rng.next() < m.dropout) {
        out[p] = 0;
        continue;
      }
      const z = z0 * this.scale + rng.normal(0, k * z0 * z0);
      out[p] = Math.max(m.unit, Math.round(z / m.unit) * m.unit);
    }
  }
}
