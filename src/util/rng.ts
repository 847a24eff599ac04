/**
 * Small deterministic random numbers for simulation resets, scripted controllers and evaluation.
 *
 * Generator: mulberry32 (32-bit state, period 2^32). Not cryptographic; fast, tiny, and identical on every
 * platform because it uses only 32-bit integer arithmetic (Math.imul). Seeds for independent streams are
 * derived by hashing labels (`deriveSeed`), so "trial 3 of connector X" gets the same numbers no matter in
 * which order, or in which process, the trials run.
 */

/** FNV-1a style mix of a 32-bit hash with one more 32-bit word, followed by a murmur3 finaliser. */
function mix(h: number, word: number): number {
  h = Math.imul(h ^ word, 0x01000193) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A 32-bit seed from any mix of numbers and strings, e.g. `deriveSeed(base, 'reset', connectorName, trial)`.
 * Numbers must be finite; non-integers are hashed by their IEEE bits so 0.1 and 0.2 differ.
 */
export function deriveSeed(...parts: Array<number | string>): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    if (typeof p === 'string') {
      h = mix(h, 0x51ed270b); // type tag, so the string "a" and the number 97 hash differently
      for (let i = 0; i < p.length; i++) h = mix(h, p.charCodeAt(i));
      h = mix(h, p.length);
    } else {
      if (!Number.isFinite(p)) throw new RangeError(`deriveSeed: non-finite number ${p}`);
      h = mix(h, 0x2545f491);
      if (Number.isInteger(p) && Math.abs(p) <= 0xffffffff) {
        h = mix(h, p >>> 0);
        h = mix(h, p < 0 ? 1 : 0);
      } else {
        const f = new Float64Array([p]);
        const w = new Uint32Array(f.buffer);
        h = mix(h, w[0] ?? 0);
        h = mix(h, w[1] ?? 0);
      }
    }
  }
  return h >>> 0;
}

/** Seeded generator. All methods advance the state; copy with `clone()` to branch without disturbing it. */
export class Rng {
  private state: number;
  /**
   * Cached second value of the Box-Muller pair, when hasSpare. A number field that is never null keeps V8's double
   * representation: stored in place, where `number | null` boxed every spare in a new heap number.
   */
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
    // Scramble so that nearby seeds (0, 1, 2...) start far apart.
    this.state = deriveSeed(Math.trunc(seed));
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** Gaussian with the given mean and standard deviation (Box-Muller, polar-free form). */
  normal(mean = 0, std = 1): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + std * this.spare;
    }
    return mean + this.boxMuller(std);
  }

  /** A new Box-Muller pair: keeps r * sin as the spare, returns std * r * cos (rounded as normal() always did). */
  private boxMuller(std: number): number {
    // 1 - next() is in (0, 1], so the log is finite.
    const u1 = 1 - this.next();
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    this.hasSpare = true;
    return std * r * Math.cos(2 * Math.PI * u2);
  }

  /** An independent generator for a labelled sub-stream (does not advance this one). */
  fork(...labels: Array<number | string>): Rng {
    const r = new Rng(0);
    r.state = deriveSeed(this.state, ...labels);
    return r;
  }

  clone(): Rng {
    const r = new Rng(0);
    r.state = this.state;
    r.spare = this.spare;
    r.hasSpare = this.hasSpare;
    return r;
  }
}
