// Per run and per 25 practice episodes, from the run's daemon log: what the trainer learned from and what the
// evaluations ended in (issue 13's weak runs). Practice: seated by ground truth / judged a success / refused by the
// lift and height checks; frames: the learned reward's recall on seated frames and its false-positive rate on unseated
// ones (reward_prob >= 0.5, after the checks); the versions that drove the block. Evaluations (20 trials each): the
// failures' last logged tip, lateral distance from the seated tip and height above it (a plug on the socket face stands
// its insertion depth above it).
// Usage: npx tsx results/online-seeds-checks/blocks.ts RUN_DIR...   (each RUN_DIR holds C/daemon-*.db)
import { openReadOnly } from '../../src/store/open.ts';
import { runLogs } from '../../src/experiment/compare.ts';

const vec = (b: Buffer | null, n: number): number[] =>
  b ? Array.from({ length: n }, (_, i) => (b.length === n * 8 ? b.readDoubleLE(i * 8) : b.readFloatLE(i * 4))) : new Array<number>(n).fill(0);
const BLOCK = Number(process.env.BLOCK ?? 25);
const TRIALS = Number(process.env.TRIALS ?? 20);

for (const run of process.argv.slice(2)) {
  const file = runLogs(run)[0]?.db;
  if (!file) throw new Error(`${run}: no daemon-*.db`);
  const db = openReadOnly(file);
  type Ep = { id: number; kind: string; outcome: string | null; reason: string | null; gt: number | null; ss: string; pv: string | null };
  const eps = db
    .prepare('SELECT id, kind, outcome, reason, gt_success AS gt, start_state_json AS ss, policy_version AS pv FROM episodes ORDER BY id')
    .all() as Ep[];
  const trs = db.prepare('SELECT reward_prob AS p, gt_success AS gt, ee_pos, policy_version AS pv FROM transitions WHERE episode_id = ? ORDER BY step');
  type Tr = { p: number | null; gt: number | null; ee_pos: Buffer; pv: string | null };
  console.log(`== ${run}`);
  const practice = eps.filter((e) => e.kind === 'practice');
  for (let b = 0; b * BLOCK < practice.length; b++) {
    const blk = practice.slice(b * BLOCK, (b + 1) * BLOCK);
    let seatedFr = 0, seatedHit = 0, unseatedFr = 0, unseatedHit = 0, sumR = 0;
    const versions = new Set<string>();
    for (const e of blk) {
      for (const t of trs.all(e.id) as Tr[]) {
        if (t.pv) versions.add(t.pv.split('@')[1] ?? t.pv);
        sumR += t.p ?? 0;
        if (t.gt) { seatedFr++; if ((t.p ?? 0) >= 0.5) seatedHit++; }
        else { unseatedFr++; if ((t.p ?? 0) >= 0.5) unseatedHit++; }
      }
    }
    const seated = blk.filter((e) => e.gt === 1).length;
    const called = blk.filter((e) => e.outcome === 'success').length;
    const lift = blk.filter((e) => e.reason && /lift check/.test(e.reason)).length;
    const height = blk.filter((e) => e.reason && /height check/.test(e.reason)).length;
    const pct = (a: number, n: number): string => (n ? `${((100 * a) / n).toFixed(0)}%` : '-');
    console.log(
      `  practice ${b * BLOCK}-${b * BLOCK + blk.length}: seated ${seated}, called ${called}, false ${blk.filter((e) => e.outcome === 'success' && !e.gt).length}, missed ${blk.filter((e) => e.outcome !== 'success' && e.gt).length}, refused lift ${lift} height ${height}; ` +
        `frames: seated ${seatedFr} recall ${pct(seatedHit, seatedFr)}, unseated ${unseatedFr} called ${pct(unseatedHit, unseatedFr)}; mean return ${(sumR / Math.max(1, blk.length)).toFixed(2)}; versions ${[...versions].join(',')}`,
    );
  }
  // Evaluations: offline II, offline I, P II, P I, then one scenario II point per block.
  const evals = eps.filter((e) => e.kind === 'eval');
  const points = [evals.slice(0, TRIALS), ...Array.from({ length: Math.ceil((evals.length - 4 * TRIALS) / TRIALS) }, (_, k) => evals.slice((4 + k) * TRIALS, (5 + k) * TRIALS))];
  points.forEach((pt, k) => {
    const fails = pt.filter((e) => e.gt !== 1);
    // Mean tip offset from the seated tip over the trials' last 10 logged steps (mm): where the policy holds the plug.
    let sx = 0, sy = 0, n = 0;
    for (const e of pt) {
      const seat = (JSON.parse(e.ss) as { goal: number[] }).goal;
      for (const t of (trs.all(e.id) as Tr[]).slice(-10)) {
        const q = vec(t.ee_pos, 3);
        sx += (q[0]! - seat[0]!) * 1000; sy += (q[1]! - seat[1]!) * 1000; n++;
      }
    }
    const hold = n ? `held at (${(sx / n).toFixed(2)}, ${(sy / n).toFixed(2)}) mm from seated, ${Math.hypot(sx / n, sy / n).toFixed(2)} mm off` : '';
    const desc = fails.map((e) => {
      const seat = (JSON.parse(e.ss) as { goal: number[] }).goal;
      const l = (trs.all(e.id) as Tr[]).at(-1);
      if (!l) return '?';
      const p = vec(l.ee_pos, 3);
      const lat = Math.hypot(p[0]! - seat[0]!, p[1]! - seat[1]!) * 1000;
      return `${lat.toFixed(1)}/${((p[2]! - seat[2]!) * 1000).toFixed(1)}`;
    });
    console.log(`  eval ${k === 0 ? 'offline' : `after ${k * BLOCK}`} (${pt[0]?.pv ?? '?'}): ${pt.length - fails.length}/${pt.length}; ${hold}; failures' last tip lateral/height mm: ${desc.join(' ')}`);
  });
  db.close();
}
