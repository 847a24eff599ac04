// How far above the lowest point of its episode a seated tip stands at the end, in logged prior data (ground-truth
// labels, the final observation logged as row step = L): what a lift tolerance must allow so that it never refuses a
// real success. Per controller (policy_version) and final ground truth: episodes, and the final tip's height above the
// episode's lowest tip (mm): min / median / p99 / max; for seated ends also the lowest tip above the seated height.
// Usage: npx tsx results/reward-lift-check/seated-wobble.ts FILE.db...
import { openReadOnly } from '../../src/store/open.ts';

function vec(blob: Buffer | null, n: number): number[] {
  if (!blob) return new Array<number>(n).fill(0);
  const f64 = blob.length === n * 8;
  return Array.from({ length: n }, (_, i) => (f64 ? blob.readDoubleLE(i * 8) : blob.readFloatLE(i * 4)));
}
const q = (v: number[], p: number): string => v[Math.min(v.length - 1, Math.floor(p * v.length))]!.toFixed(2);

for (const file of process.argv.slice(2)) {
  const db = openReadOnly(file);
  const eps = db.prepare('SELECT id, policy_version AS pv, start_state_json AS ss FROM episodes ORDER BY id').all() as { id: number; pv: string | null; ss: string }[];
  const rows = db.prepare('SELECT ee_pos, gt_success AS gt FROM transitions WHERE episode_id = ? ORDER BY step');
  const lifts = new Map<string, number[]>();
  const lowestAboveSeated: number[] = [];
  for (const e of eps) {
    const r = rows.all(e.id) as { ee_pos: Buffer; gt: number | null }[];
    const last = r[r.length - 1];
    if (!last) continue;
    const z = r.map((x) => vec(x.ee_pos, 3)[2]!);
    const minZ = Math.min(...z);
    const key = `${e.pv ?? 'none'} ${last.gt ? 'seated' : 'not seated'}`;
    (lifts.get(key) ?? lifts.set(key, []).get(key)!).push(1000 * (z[z.length - 1]! - minZ));
    if (last.gt) {
      const st = JSON.parse(e.ss) as { socketPos?: number[]; goal: number[] };
      lowestAboveSeated.push(1000 * (minZ - (st.socketPos?.[2] ?? st.goal[2]!)));
    }
  }
  db.close();
  console.log(file);
  for (const [k, v] of [...lifts].sort()) {
    v.sort((a, b) => a - b);
    console.log(`  ${k}: ${v.length} episodes, final tip above the episode's lowest (mm) min ${v[0]!.toFixed(2)} median ${q(v, 0.5)} p99 ${q(v, 0.99)} max ${v[v.length - 1]!.toFixed(2)}`);
  }
  lowestAboveSeated.sort((a, b) => a - b);
  if (lowestAboveSeated.length) console.log(`  seated ends: lowest tip above seated (mm) min ${lowestAboveSeated[0]!.toFixed(3)} median ${q(lowestAboveSeated, 0.5)} max ${lowestAboveSeated[lowestAboveSeated.length - 1]!.toFixed(3)}`);
}
