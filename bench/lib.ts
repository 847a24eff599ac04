/** Small helpers shared by the benchmarks: percentile summaries and a JSON results file per benchmark. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

export interface Summary {
  n: number;
  median: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Percentile by nearest rank on a sorted copy; p in [0, 100]. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function summarize(samples: ArrayLike<number>): Summary {
  const s = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    median: percentile(s, 50),
    p99: percentile(s, 99),
    mean: s.length ? sum / s.length : NaN,
    min: s.length ? (s[0] as number) : NaN,
    max: s.length ? (s[s.length - 1] as number) : NaN,
  };
}

/** Time `fn` `iters` times after `warmup` untimed calls; returns per-call milliseconds. */
export async function timeIt(fn: () => unknown, iters: number, warmup = 0): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Writes bench/results/<name>.json with the figures and the machine they were measured on. */
export function writeResults(name: string, figures: Record<string, unknown>): string {
  const file = join(resultsDir, `${name}.json`);
  mkdirSync(dirname(file), { recursive: true });
  const doc = {
    bench: name,
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
    figures,
  };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

export function fmt(ms: number, digits = 3): string {
  return `${ms.toFixed(digits)} ms`;
}
