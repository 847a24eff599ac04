/**
 * The fault campaign's rows, its table and its JSON file. Every row says what was tried, what passed, the figures it
 * measured and, for a failure, why: the table is the issue's list of figures (issue 12).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';

export interface Row {
  /** Short name (the table's first column), e.g. 'power loss'. */
  name: string;
  tried: number;
  passed: number;
  /** One line of the figures that matter for the row (the table's last column). */
  figures: string;
  /** Measured values, for the JSON file. */
  data: Record<string, unknown>;
  /** Why each failure failed (empty when all passed). */
  failures: string[];
  ms: number;
}

export function rowOk(r: Row): boolean {
  return r.tried > 0 && r.passed === r.tried && r.failures.length === 0;
}

/** Builds a row from cases: each case passes when `problems` is empty. */
export class RowBuilder {
  tried = 0;
  passed = 0;
  readonly failures: string[] = [];
  readonly data: Record<string, unknown> = {};
  private readonly t0 = performance.now();

  constructor(readonly name: string) {}

  /** One case: passes when there are no problems; each problem is recorded with the case's label. */
  check(label: string, problems: string[]): boolean {
    this.tried++;
    if (problems.length === 0) {
      this.passed++;
      return true;
    }
    for (const p of problems.slice(0, 5)) this.failures.push(`${label}: ${p}`);
    return false;
  }

  /** A case that threw: a failure with its message. */
  crashed(label: string, e: unknown): void {
    this.tried++;
    this.failures.push(`${label}: threw ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ') ?? String(e)}`);
  }

  done(figures: string): Row {
    return {
      name: this.name,
      tried: this.tried,
      passed: this.passed,
      figures,
      data: this.data,
      failures: this.failures,
      ms: Math.round(performance.now() - this.t0),
    };
  }
}

export function formatTable(rows: readonly Row[]): string {
  const lines = ['| row | passed / tried | figures | time |', '|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${rowOk(r) ? '' : '**FAIL** '}${r.passed} / ${r.tried} | ${r.figures.replace(/\|/g, '/')} | ${(r.ms / 1000).toFixed(1)} s |`);
  }
  const fails = rows.flatMap((r) => r.failures.map((f) => `- ${r.name}: ${f}`));
  return `${lines.join('\n')}\n${fails.length ? `\nfailures:\n${fails.join('\n')}\n` : ''}`;
}

export function writeReport(file: string, rows: readonly Row[], options: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const doc = {
    campaign: 'fault campaign (issue 12)',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
    options,
    ok: rows.every(rowOk),
    rows,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Nearest-rank percentile of unsorted samples (NaN when empty). */
export function pct(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(pred: () => boolean, ms: number, what: string, stepMs = 20): Promise<number> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(stepMs);
  }
  return performance.now() - t0;
}
