/**
 * 2D cross-section geometry for plugs and sockets (metres, socket frame: x, y in the table plane).
 *
 * A hole is a union of disjoint convex polygons. MuJoCo has no boolean geometry, so the socket's face
 * plate (the material around the holes) is decomposed into horizontal slabs: inside a slab no hole has a
 * vertex, so every piece of material between two holes is a trapezoid. Pieces whose side edges are
 * vertical become boxes, the rest become convex prisms (mesh geoms). The decomposition is exact: no gap
 * a pin could fall into, no material inside a hole.
 */

export type Vec2 = [number, number];

/** Signed area (positive when counter-clockwise). */
export function polygonArea(poly: readonly Vec2[]): number {
  let a = 0;
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i]!;
    const q = poly[(i + 1) % poly.length]!;
    a += p[0] * q[1] - q[0] * p[1];
  }
  return a / 2;
}

/** True if the polygon (any orientation) is strictly convex enough to be a collision prism. */
export function isConvex(poly: readonly Vec2[]): boolean {
  if (poly.length < 3) return false;
  let sign = 0;
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % poly.length]!;
    const c = poly[(i + 2) % poly.length]!;
    const cr = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]);
    if (Math.abs(cr) < 1e-14) return false; // collinear or duplicate vertices
    const s = Math.sign(cr);
    if (sign === 0) sign = s;
    else if (s !== sign) return false;
  }
  return true;
}

export function ccw(poly: readonly Vec2[]): Vec2[] {
  const p = poly.map((v) => [v[0], v[1]] as Vec2);
  return polygonArea(p) < 0 ? p.reverse() : p;
}

/** Regular n-gon whose edges are tangent to a circle of radius r (inradius r), one edge facing +x. */
export function tangentNgon(center: Vec2, r: number, n: number): Vec2[] {
  const R = r / Math.cos(Math.PI / n);
  const out: Vec2[] = [];
  for (let k = 0; k < n; k++) {
    const a = ((k + 0.5) * 2 * Math.PI) / n;
    out.push([center[0] + R * Math.cos(a), center[1] + R * Math.sin(a)]);
  }
  return out;
}

/** Move every edge of a convex CCW polygon outward by d (d may be negative). */
export function offsetConvex(poly: readonly Vec2[], d: number): Vec2[] {
  const n = poly.length;
  // Edge i runs from poly[i] to poly[i+1]; its outward normal for a CCW polygon is (dy, -dx)/len.
  const lines: { p: Vec2; dir: Vec2 }[] = [];
  for (let i = 0; i < n; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % n]!;
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const len = Math.hypot(dx, dy);
    const nx = dy / len;
    const ny = -dx / len;
    lines.push({ p: [a[0] + nx * d, a[1] + ny * d], dir: [dx / len, dy / len] });
  }
  const out: Vec2[] = [];
  for (let i = 0; i < n; i++) {
    const l1 = lines[(i + n - 1) % n]!;
    const l2 = lines[i]!;
    // Solve l1.p + s l1.dir = l2.p + t l2.dir for s.
    const den = l1.dir[0] * l2.dir[1] - l1.dir[1] * l2.dir[0];
    const wx = l2.p[0] - l1.p[0];
    const wy = l2.p[1] - l1.p[1];
    const s = (wx * l2.dir[1] - wy * l2.dir[0]) / den;
    out.push([l1.p[0] + s * l1.dir[0], l1.p[1] + s * l1.dir[1]]);
  }
  return out;
}

export function bbox(poly: readonly Vec2[]): { min: Vec2; max: Vec2 } {
  const min: Vec2 = [Infinity, Infinity];
  const max: Vec2 = [-Infinity, -Infinity];
  for (const v of poly) {
    min[0] = Math.min(min[0], v[0]);
    min[1] = Math.min(min[1], v[1]);
    max[0] = Math.max(max[0], v[0]);
    max[1] = Math.max(max[1], v[1]);
  }
  return { min, max };
}

/**
 * Separation of two convex polygons along the best separating axis (edge normals of both).
 * Positive: they are apart by at least this much; negative or zero: they overlap or touch.
 */
export function separation(a: readonly Vec2[], b: readonly Vec2[]): number {
  let best = -Infinity;
  for (const [p, q] of [
    [a, b],
    [b, a],
  ] as const) {
    for (let i = 0; i < p.length; i++) {
      const u = p[i]!;
      const v = p[(i + 1) % p.length]!;
      const len = Math.hypot(v[0] - u[0], v[1] - u[1]);
      const nx = (v[1] - u[1]) / len;
      const ny = -(v[0] - u[0]) / len;
      let pMax = -Infinity;
      for (const w of p) pMax = Math.max(pMax, w[0] * nx + w[1] * ny);
      let qMin = Infinity;
      for (const w of q) qMin = Math.min(qMin, w[0] * nx + w[1] * ny);
      best = Math.max(best, qMin - pMax);
    }
  }
  return best;
}

/** The x-interval where the horizontal line at y crosses a convex polygon, or null. */
export function xInterval(poly: readonly Vec2[], y: number): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i]!;
    const q = poly[(i + 1) % poly.length]!;
    const y0 = Math.min(p[1], q[1]);
    const y1 = Math.max(p[1], q[1]);
    if (y < y0 - 1e-12 || y > y1 + 1e-12) continue;
    if (Math.abs(q[1] - p[1]) < 1e-15) {
      lo = Math.min(lo, p[0], q[0]);
      hi = Math.max(hi, p[0], q[0]);
    } else {
      const t = Math.min(1, Math.max(0, (y - p[1]) / (q[1] - p[1])));
      const x = p[0] + t * (q[0] - p[0]);
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/**
 * One piece of face-plate material: a quadrilateral with horizontal bottom (y0) and top (y1) edges,
 * left side from (xl0, y0) to (xl1, y1), right side from (xr0, y0) to (xr1, y1).
 */
export interface Trapezoid {
  y0: number;
  y1: number;
  xl0: number;
  xl1: number;
  xr0: number;
  xr1: number;
}

export function isRectangle(t: Trapezoid, eps = 1e-9): boolean {
  return Math.abs(t.xl0 - t.xl1) < eps && Math.abs(t.xr0 - t.xr1) < eps;
}

/**
 * Decompose the rectangle [x0,x1]x[y0,y1] minus the disjoint convex holes into trapezoids
 * (horizontally adjacent rectangles are not merged: each slab yields at most holes+1 pieces).
 */
export function decomposePlate(holes: readonly Vec2[][], x0: number, x1: number, y0: number, y1: number): Trapezoid[] {
  const ys = new Set<number>([y0, y1]);
  for (const h of holes) for (const v of h) if (v[1] > y0 && v[1] < y1) ys.add(v[1]);
  const levels = [...ys].sort((a, b) => a - b);
  const out: Trapezoid[] = [];
  for (let k = 0; k + 1 < levels.length; k++) {
    const ya = levels[k]!;
    const yb = levels[k + 1]!;
    if (yb - ya < 1e-7) continue; // sliver slab: thinner than any contact scale
    const ym = (ya + yb) / 2;
    const cuts: { la: number; lb: number; ra: number; rb: number; lm: number }[] = [];
    for (const h of holes) {
      const im = xInterval(h, ym);
      if (!im) continue;
      // The hole spans the whole slab (no vertex inside it), so both ends exist; clamp for vertices.
      const ia = xInterval(h, ya) ?? [im[0], im[1]];
      const ib = xInterval(h, yb) ?? [im[0], im[1]];
      cuts.push({ la: ia[0], lb: ib[0], ra: ia[1], rb: ib[1], lm: im[0] });
    }
    cuts.sort((a, b) => a.lm - b.lm);
    let la = x0;
    let lb = x0;
    for (const c of cuts) {
      out.push({ y0: ya, y1: yb, xl0: la, xl1: lb, xr0: c.la, xr1: c.lb });
      la = c.ra;
      lb = c.rb;
    }
    out.push({ y0: ya, y1: yb, xl0: la, xl1: lb, xr0: x1, xr1: x1 });
  }
  // Drop degenerate pieces (zero width at both ends cannot happen between disjoint holes, but be safe).
  return out.filter((t) => t.xr0 - t.xl0 > 1e-9 || t.xr1 - t.xl1 > 1e-9);
}

/** Total area of a decomposition (for tests: plate area minus hole areas). */
export function trapezoidArea(t: Trapezoid): number {
  return ((t.xr0 - t.xl0 + (t.xr1 - t.xl1)) / 2) * (t.y1 - t.y0);
}

/** Is point p inside the convex CCW polygon (with margin: positive margin shrinks it)? */
export function insideConvex(poly: readonly Vec2[], p: Vec2, margin = 0): boolean {
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % poly.length]!;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const cr = ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / len;
    if (cr < margin) return false;
  }
  return true;
}
