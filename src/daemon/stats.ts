/** Percentile summaries for tick timing (status, SSE, benchmarks). */

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles on a sorted copy. */
export function summarize(samples: ArrayLike<number>): Summary {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  if (n === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const at = (p: number): number => s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] as number;
  let sum = 0;
  for (const v of s) sum += v;
  return { n, p50: at(50), p99: at(99), max: s[n - 1] as number, mean: sum / n };
}
