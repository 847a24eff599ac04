// Usage: npx tsx results/learner-bf16/online-bench-summarize.ts [DIR] [OUT.json] -> one line per online.bench log
// (0*.log in DIR, default data/runs/bf16-bench as online-bench-run.sh writes them): updates/s, update ratio, trainer CPU per update, missed ticks, tick lateness p99, load, engine.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Phase1 = {
  onlineUpdatesPerSec: number;
  updateRatioSustained: number | null;
  trainerCpuMsPerUpdate: number | null;
  missedControlTicks: number;
  controlTicks: number;
  jitterMs: { p99: number; max: number };
  daemonProcessCores: number;
  trainerEngine: string | null;
  daemonStateAtEnd: string;
};
const here = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../../data/runs/bf16-bench');
const rows = [];
for (const log of readdirSync(here).filter((f) => /^0.*\.log$/.test(f)).sort()) {
  const s = readFileSync(join(here, log), 'utf8');
  const m = /phase 1 \(10 Hz \+ trainer\): (\{.*?\n\})\n/s.exec(s);
  if (!m) {
    console.log(log, 'no phase 1');
    continue;
  }
  const p = JSON.parse(m[1]!) as Phase1;
  const load = (/load average ([\d. ]+)/.exec(s)?.[1] ?? '').trim().split(/\s+/).map(Number);
  const r = {
    run: log.slice(0, -4),
    updatesPerSec: p.onlineUpdatesPerSec,
    updateRatio: p.updateRatioSustained,
    trainerCpuMsPerUpdate: p.trainerCpuMsPerUpdate,
    missedTicks: p.missedControlTicks,
    controlTicks: p.controlTicks,
    tickLatenessP99Ms: p.jitterMs.p99,
    tickLatenessMaxMs: p.jitterMs.max,
    daemonProcessCores: p.daemonProcessCores,
    loadBefore: load,
    engine: p.trainerEngine,
    daemonStateAtEnd: p.daemonStateAtEnd,
    phase2Done: s.includes('phase 2 (RSS'),
  };
  rows.push(r);
  console.log(
    `${r.run.padEnd(28)} ${r.updatesPerSec.toFixed(1).padStart(6)}/s ratio ${(r.updateRatio ?? 0).toFixed(2).padStart(5)} ` +
      `cpu ${(r.trainerCpuMsPerUpdate ?? 0).toFixed(2).padStart(6)} ms missed ${r.missedTicks}/${r.controlTicks} ` +
      `p99 ${r.tickLatenessP99Ms.toFixed(2).padStart(6)} load ${(load[0] ?? NaN).toFixed(2).padStart(5)} ` +
      `bf16=${(r.engine ?? '').includes('bf16')} ${r.daemonStateAtEnd}`,
  );
}
if (process.argv[3]) writeFileSync(process.argv[3], JSON.stringify(rows, null, 1));
