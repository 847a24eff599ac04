// False and missed successes of a run's practice episodes against the simulator's ground truth, and where each was:
// the last logged observation (the final one, which the reward judged, is not logged) and the last commanded move.
// Seated height: the logged goal's z (the x* error is horizontal only).
// Usage: npx tsx results/reward-depth-hardneg/false-successes.ts RUN_DIR...
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openReadOnly } from '../../src/store/open.ts';

/** A little-endian vector stored as float64 (or, in older logs, float32). */
function vec(blob: Buffer | null, n: number): number[] {
  if (!blob) return new Array<number>(n).fill(0);
  const f64 = blob.length === n * 8;
  return Array.from({ length: n }, (_, i) => (f64 ? blob.readDoubleLE(i * 8) : blob.readFloatLE(i * 4)));
}

for (const run of process.argv.slice(2)) {
  const file = readdirSync(run)
    .sort()
    .flatMap((d) => (existsSync(join(run, d)) && !d.includes('.') ? readdirSync(join(run, d)).sort().map((f) => join(run, d, f)) : []))
    .find((f) => /\/daemon-[^/]*\.db$/.test(f));
  if (!file) throw new Error(`${run}: no daemon-*.db in a subfolder`);
  const db = openReadOnly(file);
  type Ep = { id: number; p: number | null; gt: number | null; ss: string };
  const eps = db
    .prepare("SELECT id, learned_success_prob AS p, gt_success AS gt, start_state_json AS ss FROM episodes WHERE kind = 'practice' ORDER BY id")
    .all() as Ep[];
  const last = db.prepare('SELECT ee_pos, action_executed, wrench FROM transitions WHERE episode_id = ? ORDER BY step DESC LIMIT 1');
  const falses: string[] = [];
  const missed: string[] = [];
  eps.forEach((e, i) => {
    if (e.p === null || e.p > 0.5 === Boolean(e.gt)) return;
    const st = JSON.parse(e.ss) as { socketPos?: number[]; goal: number[] };
    const seatedZ = st.socketPos?.[2] ?? st.goal[2]!;
    const r = last.get(e.id) as { ee_pos: Buffer; action_executed: Buffer | null; wrench: Buffer };
    const [ee, a, w] = [vec(r.ee_pos, 3), vec(r.action_executed, 3), vec(r.wrench, 6)];
    const desc =
      `ep#${i} p=${e.p.toFixed(2)} last logged obs: tip ${((ee[2]! - seatedZ) * 1000).toFixed(1)} mm above seated, ` +
      `last commanded dz ${(a[2]! * 1000 >= 0 ? '+' : '') + (a[2]! * 1000).toFixed(1)} mm, fz ${w[2]!.toFixed(0)} N`;
    (e.p > 0.5 ? falses : missed).push(desc);
  });
  db.close();
  console.log(run, 'false', falses.length, 'missed', missed.length);
  for (const d of falses) console.log('  F', d);
  for (const d of missed) console.log('  M', d);
}
