// How far above the calibrated x* (the logged goal: the seated tip position the P-controller drives to) a tip stands
// at the end, in logged prior data (the final observation logged as row step = L, ground-truth labels): what a height
// tolerance must allow so that it never refuses a real success. Per final ground truth: episodes, final tip above x*
// (mm) min / median / p99 / max, and x*'s own vertical error (goal z - seated z) in these logs.
// Usage: npx tsx results/reward-lift-check/height-above-goal.ts FILE.db...
import { openReadOnly } from '../../src/store/open.ts';

function vec(blob: Buffer | null, n: number): number[] {
  if (!blob) return new Array<number>(n).fill(0);
  const f64 = blob.length === n * 8;
  return Array.from({ length: n }, (_, i) => (f64 ? blob.readDoubleLE(i * 8) : blob.readFloatLE(i * 4)));
}
const q = (v: number[], p: number): string => v[Math.min(v.length - 1, Math.floor(p * v.length))]!.toFixed(2);
const line = (v: number[]): string => {
  v.sort((a, b) => a - b);
  return v.length ? `min ${v[0]!.toFixed(2)} median ${q(v, 0.5)} p99 ${q(v, 0.99)} max ${v[v.length - 1]!.toFixed(2)}` : '-';
};

for (const file of process.argv.slice(2)) {
  const db = openReadOnly(file);
  const eps = db.prepare('SELECT id, start_state_json AS ss FROM episodes ORDER BY id').all() as { id: number; ss: string }[];
  const lastRow = db.prepare('SELECT ee_pos, goal, gt_success AS gt FROM transitions WHERE episode_id = ? ORDER BY step DESC LIMIT 1');
  const above = { seated: [] as number[], 'not seated': [] as number[] };
  const goalErr: number[] = [];
  for (const e of eps) {
    const r = lastRow.get(e.id) as { ee_pos: Buffer; goal: Buffer; gt: number | null } | undefined;
    if (!r || r.gt === null) continue;
    const [z, g] = [vec(r.ee_pos, 3)[2]!, vec(r.goal, 3)[2]!];
    above[r.gt ? 'seated' : 'not seated'].push(1000 * (z - g));
    const st = JSON.parse(e.ss) as { socketPos?: number[] };
    if (st.socketPos) goalErr.push(1000 * (g - st.socketPos[2]!));
  }
  db.close();
  console.log(file);
  for (const [k, v] of Object.entries(above)) console.log(`  ${k}: ${v.length} episodes, final tip above x* (mm) ${line(v)}`);
  if (goalErr.length) console.log(`  x* vertical error, goal z - seated z (mm): ${line(goalErr)}`);
}
