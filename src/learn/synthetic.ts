/**
 * A procedural "peg-in-hole" image dataset for tests and benchmarks of the learning core (side view).
 * Seated vs not seated is drawn the same way in every domain (the plug's bottom sits inside the socket's hole, the
 * hole is covered), while each domain (connector) has its own colours, plug width, socket size and stripe texture.
 * The simulator's prior data replaces this for real training; this only has to be honest about generalisation:
 * held-out domains are generated with colours and shapes never seen in training.
 */
import { Rng, deriveSeed } from '../util/rng.ts';
import type { LabelledImages } from './daib.ts';

export interface PegDatasetOptions {
  /** Domain ids to generate (each gets its own look derived from `seed` and the id). */
  domains: number[];
  /** Samples per domain (half seated, half not, shuffled). */
  perDomain: number;
  /** Square image size in pixels (32 or 64). */
  size: number;
  seed: number;
}

interface Look {
  bg: [number, number, number];
  table: [number, number, number];
  socket: [number, number, number];
  plug: [number, number, number];
  plugW: number;
  socketW: number;
  socketH: number;
  stripes: number;
}

function colour(r: Rng): [number, number, number] {
  return [r.int(256), r.int(256), r.int(256)];
}

function lookOf(seed: number, d: number, size: number): Look {
  const r = new Rng(deriveSeed(seed, 'peg-domain', d));
  return {
    bg: colour(r),
    table: colour(r),
    socket: colour(r),
    plug: colour(r),
    plugW: Math.round(size * r.uniform(0.12, 0.22)),
    socketW: Math.round(size * r.uniform(0.38, 0.55)),
    socketH: Math.round(size * r.uniform(0.16, 0.26)),
    stripes: r.int(3),
  };
}

export function makePegDataset(opts: PegDatasetOptions): LabelledImages {
  const S = opts.size;
  const n = opts.domains.length * opts.perDomain;
  const images = new Uint8Array(n * S * S * 3);
  const success = new Uint8Array(n);
  const domain = new Int32Array(n);
  let k = 0;
  for (const d of opts.domains) {
    const look = lookOf(opts.seed, d, S);
    const r = new Rng(deriveSeed(opts.seed, 'peg-samples', d));
    for (let i = 0; i < opts.perDomain; i++, k++) {
      const seated = i % 2 === 0;
      success[k] = seated ? 1 : 0;
      domain[k] = d;
      drawScene(images, k * S * S * 3, S, look, seated, r);
    }
  }
  // Shuffle so that batches taken in order are mixed (a seeded Fisher-Yates on indices).
  const rs = new Rng(deriveSeed(opts.seed, 'peg-shuffle'));
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rs.int(i + 1);
    const t = perm[i] ?? 0;
    perm[i] = perm[j] ?? 0;
    perm[j] = t;
  }
  const size = S * S * 3;
  const out: LabelledImages = { count: n, shape: [S, S, 3], images: new Uint8Array(n * size), success: new Uint8Array(n), domain: new Int32Array(n) };
  perm.forEach((src, dst) => {
    out.images.set(images.subarray(src * size, (src + 1) * size), dst * size);
    out.success[dst] = success[src] ?? 0;
    out.domain[dst] = domain[src] ?? 0;
  });
  return out;
}

function drawScene(img: Uint8Array, off: number, S: number, look: Look, seated: boolean, r: Rng): void {
  const gain = r.uniform(0.85, 1.15); // lighting
  const put = (x: number, y: number, c: [number, number, number]): void => {
    if (x < 0 || y < 0 || x >= S || y >= S) return;
    const o = off + (y * S + x) * 3;
    img[o] = Math.min(255, c[0] * gain);
    img[o + 1] = Math.min(255, c[1] * gain);
    img[o + 2] = Math.min(255, c[2] * gain);
  };
  const rect = (x0: number, y0: number, x1: number, y1: number, c: [number, number, number], stripes = 0): void => {
    for (let y = Math.round(y0); y < Math.round(y1); y++) {
      for (let x = Math.round(x0); x < Math.round(x1); x++) {
        const dark = stripes > 0 && ((stripes === 1 ? x : x + y) >> 1) % 2 === 0;
        put(x, y, dark ? [c[0] * 0.7, c[1] * 0.7, c[2] * 0.7] : c);
      }
    }
  };
  const ground = Math.round(S * 0.82) + r.int(3) - 1;
  rect(0, 0, S, ground, look.bg);
  rect(0, ground, S, S, look.table);
  const cx = Math.round(S / 2 + r.uniform(-0.12, 0.12) * S);
  const top = ground - look.socketH;
  const holeW = look.plugW + 2;
  const depth = Math.round(look.socketH * 0.6);
  // Socket block with a hole open at the top.
  rect(cx - look.socketW / 2, top, cx + look.socketW / 2, ground, look.socket, look.stripes);
  rect(cx - holeW / 2, top, cx + holeW / 2, top + depth, [look.socket[0] * 0.25, look.socket[1] * 0.25, look.socket[2] * 0.25]);
  // Plug (and the gripper above it).
  const plugH = Math.round(S * 0.3);
  let px = cx;
  let bottom: number;
  if (seated) {
    bottom = top + depth;
  } else if (r.bernoulli(0.5)) {
    bottom = top - 1 - r.int(Math.max(2, Math.round(S * 0.12))); // hovering above the hole
  } else {
    const side = r.bernoulli(0.5) ? 1 : -1; // misaligned, resting on the socket face
    px = cx + side * Math.round(look.plugW * r.uniform(0.7, 1.2));
    bottom = top;
  }
  rect(px - look.plugW / 2, bottom - plugH, px + look.plugW / 2, bottom, look.plug);
  rect(px - look.plugW, bottom - plugH - Math.round(S * 0.08), px + look.plugW, bottom - plugH, [90, 90, 95]);
  // Sensor noise.
  for (let i = 0; i < S * S * 3; i++) {
    const v = (img[off + i] ?? 0) + r.int(17) - 8;
    img[off + i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}
