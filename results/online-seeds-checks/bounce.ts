// Seated plugs that the policy lifts again: per evaluation point (20 trials) and per 25 practice episodes, the
// episodes in which the tip, once within 0.3 mm of seated, later stood more than 1 mm above seated (the lift check's
// tolerance), how many lifts they had, and how many of them ended not seated. A policy that presses and lifts on
// alternate steps (a period-2 oscillation under the P-controller) seats or not by the parity of its last step.
// Usage: npx tsx results/online-seeds-checks/bounce.ts RUN_DIR...
import { openReadOnly } from '../../src/store/open.ts';
import { runLogs } from '../../src/experiment/compare.ts';

const vec = (b: Buffer, n: number): number[] => Array.from({ length: n }, (_, i) => (b.length === n * 8 ? b.readDoubleLE(i * 8) : b.readFloatLE(i * 4)));
const TRIALS = 20;
const BLOCK = 25;
for (const run of process.argv.slice(2)) {
  const file = runLogs(run)[0]?.db;
  if (!file) continue;
  const db = openReadOnly(file);
  type Ep = { id: number; kind: string; gt: number | null; ss: string };
  const eps = db.prepare('SELECT id, kind, gt_success AS gt, start_state_json AS ss FROM episodes ORDER BY id').all() as Ep[];
  const trs = db.prepare('SELECT ee_pos FROM transitions WHERE episode_id = ? ORDER BY step');
  const lifts = (e: Ep): number => {
    const seatZ = (JSON.parse(e.ss) as { goal: number[] }).goal[2]!;
    let down = false;
    let n = 0;
    for (const t of trs.all(e.id) as { ee_pos: Buffer }[]) {
      const h = (vec(t.ee_pos, 3)[2]! - seatZ) * 1000;
      if (h < 0.3) down = true;
      else if (down && h > 1.0) {
        n++;
        down = false;
      }
    }
    return n;
  };
  const describe = (group: Ep[]): string => {
    const b = group.map((e) => ({ e, n: lifts(e) })).filter((x) => x.n > 0);
    return `${b.length} bounced (lifts ${b.map((x) => x.n).join(',') || '-'}), ${b.filter((x) => x.e.gt !== 1).length} of them not seated at the end`;
  };
  const evals = eps.filter((e) => e.kind === 'eval');
  const points = [evals.slice(0, TRIALS), ...Array.from({ length: Math.ceil((evals.length - 4 * TRIALS) / TRIALS) }, (_, k) => evals.slice((4 + k) * TRIALS, (5 + k) * TRIALS))];
  const practice = eps.filter((e) => e.kind === 'practice');
  console.log(`== ${run}`);
  points.forEach((pt, k) => console.log(`  eval ${k * BLOCK}: ${pt.filter((e) => e.gt === 1).length}/${pt.length}; ${describe(pt)}`));
  for (let b = 0; b * BLOCK < practice.length; b++) console.log(`  practice ${b * BLOCK}-${(b + 1) * BLOCK}: ${describe(practice.slice(b * BLOCK, (b + 1) * BLOCK))}`);
  db.close();
}
