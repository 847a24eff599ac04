// False and missed successes of a run's practice episodes against the simulator's ground truth, as the daemon judged
// them (the outcome), and as the classifier alone would have (its probability >= 0.5: the episode's learned success
// probability, or, where the lift check refused it, the classifier's probability in the reason). Lists every episode
// the lift check refused, with its ground truth, and every false or missed success with the last logged observation
// (the judged final one is not logged) and the last commanded move. For runs without the checks (results/reward-depth-hardneg/)
// the judged and the classifier-alone counts are the same.
// Usage: npx tsx results/reward-lift-check/false-successes.ts RUN_DIR...
import { openReadOnly } from '../../src/store/open.ts';
import { runLogs } from '../../src/experiment/compare.ts';

/** A little-endian vector stored as float64 (or, in older logs, float32). */
function vec(blob: Buffer | null, n: number): number[] {
  if (!blob) return new Array<number>(n).fill(0);
  const f64 = blob.length === n * 8;
  return Array.from({ length: n }, (_, i) => (f64 ? blob.readDoubleLE(i * 8) : blob.readFloatLE(i * 4)));
}

for (const run of process.argv.slice(2)) {
  const file = runLogs(run)[0]?.db;
  if (!file) throw new Error(`${run}: no daemon-*.db in a subfolder`);
  const db = openReadOnly(file);
  type Ep = { id: number; outcome: string; reason: string | null; p: number | null; gt: number | null; ss: string };
  const eps = db
    .prepare("SELECT id, outcome, reason, learned_success_prob AS p, gt_success AS gt, start_state_json AS ss FROM episodes WHERE kind = 'practice' ORDER BY id")
    .all() as Ep[];
  const last = db.prepare('SELECT ee_pos, goal, action_executed, wrench, step FROM transitions WHERE episode_id = ? ORDER BY step DESC LIMIT 1');
  const aboveX = (e: Ep): number => {
    const r = last.get(e.id) as { ee_pos: Buffer; goal: Buffer } | undefined;
    return r ? 1000 * (vec(r.ee_pos, 3)[2]! - vec(r.goal, 3)[2]!) : Number.NaN;
  };
  const lowest = db.prepare('SELECT ee_pos FROM transitions WHERE episode_id = ?');
  const where = (e: Ep): string => {
    const st = JSON.parse(e.ss) as { socketPos?: number[]; goal: number[] };
    const seatedZ = st.socketPos?.[2] ?? st.goal[2]!;
    const r = last.get(e.id) as { ee_pos: Buffer; action_executed: Buffer | null; wrench: Buffer };
    const [ee, a, w] = [vec(r.ee_pos, 3), vec(r.action_executed, 3), vec(r.wrench, 6)];
    const minZ = Math.min(...(lowest.all(e.id) as { ee_pos: Buffer }[]).map((x) => vec(x.ee_pos, 3)[2]!));
    return (
      `last logged obs: tip ${((ee[2]! - seatedZ) * 1000).toFixed(1)} mm above seated (lowest logged ${((minZ - seatedZ) * 1000).toFixed(1)}), ` +
      `last commanded dz ${(a[2]! * 1000 >= 0 ? '+' : '') + (a[2]! * 1000).toFixed(1)} mm, fz ${w[2]!.toFixed(0)} N`
    );
  };
  const judged = eps.filter((e) => (e.outcome === 'success' || e.outcome === 'failure') && e.gt !== null);
  const raw = (e: Ep): number | null => {
    const m = e.reason ? /check: tip .*classifier ([\d.]+)/.exec(e.reason) : null;
    return m ? Number(m[1]) : e.p;
  };
  const count = (succ: (e: Ep) => boolean): { f: number; m: number } => ({
    f: judged.filter((e) => succ(e) && !e.gt).length,
    m: judged.filter((e) => !succ(e) && e.gt).length,
  });
  const judgedAs = count((e) => e.outcome === 'success');
  const classifier = count((e) => (raw(e) ?? 0) >= 0.5);
  const seated = judged.filter((e) => e.gt).length;
  console.log(
    `${run}: ${judged.length} practice episodes, ${seated} seated; judged (with the check if on): false ${judgedAs.f} missed ${judgedAs.m}; classifier alone on the same episodes: false ${classifier.f} missed ${classifier.m}`,
  );
  const heightMm = Number(process.env.HEIGHT_MM ?? 4);
  const would = judged.filter((e) => e.outcome === 'success' && aboveX(e) > heightMm);
  const byCheck = (re: RegExp): Ep[] => judged.filter((e) => e.reason !== null && re.test(e.reason));
  const [lift, height] = [byCheck(/lift check/), byCheck(/height check/)];
  console.log(
    `  refused by the lift check ${lift.length} (seated ${lift.filter((e) => e.gt).length}), by the height check ${height.length} (seated ${height.filter((e) => e.gt).length}); ` +
      `learned successes whose last logged tip is > ${heightMm} mm above x*: ${would.length} (seated ${would.filter((e) => e.gt).length}, tips ${would.map((e) => aboveX(e).toFixed(1)).join(' ')} mm)`,
  );
  eps.forEach((e, i) => {
    if (e.reason && /(lift|height) check/.test(e.reason)) console.log(`  refused ep#${i} gt ${e.gt ? 'SEATED' : 'not seated'}: ${e.reason}`);
    else if (e.outcome === 'success' && e.gt === 0) console.log(`  F ep#${i} p=${e.p?.toFixed(2)} ${where(e)}`);
    else if (e.outcome === 'failure' && e.gt === 1) console.log(`  M ep#${i} p=${e.p?.toFixed(2)} ${where(e)}`);
  });
  db.close();
}
