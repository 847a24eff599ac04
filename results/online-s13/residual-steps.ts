// How much the policy's lateral residual changes from one step to the next in contact (steps 8-19), per episode of
// each run's last evaluation (its last 20 eval episodes), split by ground-truth outcome; prints the medians per arm, and
// how many failed episodes ended with the tip more than 5 mm above the seated goal (resting on the socket face).
//   cd data/runs/s13 && npx tsx ../../../results/online-s13/residual-steps.ts ship base base2
import Database from 'better-sqlite3';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const vec = (b: Buffer): number[] => {
  const n = b.length === 24 ? 8 : 4;
  return [0, 1, 2].map((i) => (n === 8 ? b.readDoubleLE(i * n) : b.readFloatLE(i * n)));
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor(s.length / 2)] as number) : NaN;
};

for (const arm of process.argv.slice(2)) {
  const byOutcome: Record<0 | 1, number[]> = { 0: [], 1: [] };
  let onFace = 0;
  for (const run of readdirSync(arm).filter((d) => d.startsWith('seed-') && !d.endsWith('.log'))) {
    const conn = run.split('-').slice(2).join('-');
    const dir = join(arm, run, conn);
    const file = existsSync(dir) ? readdirSync(dir).find((f) => /^daemon-.*\.db$/.test(f)) : undefined;
    if (!file) continue;
    const db = new Database(join(dir, file), { readonly: true });
    const eps = db.prepare("SELECT id, gt_success, start_state_json AS s FROM episodes WHERE kind = 'eval' ORDER BY id DESC LIMIT 20").all() as {
      id: number;
      gt_success: 0 | 1;
      s: string;
    }[];
    const last = db.prepare('SELECT ee_pos AS p FROM transitions WHERE episode_id = ? ORDER BY step DESC LIMIT 1');
    const steps = db.prepare('SELECT action_residual AS r FROM transitions WHERE episode_id = ? AND step >= 8 ORDER BY step');
    for (const e of eps) {
      const rs = (steps.all(e.id) as { r: Buffer }[]).map((row) => vec(row.r));
      if (rs.length < 3) continue;
      let sum = 0;
      for (let i = 1; i < rs.length; i++) {
        const [a, b] = [rs[i] as number[], rs[i - 1] as number[]];
        sum += Math.hypot((a[0] as number) - (b[0] as number), (a[1] as number) - (b[1] as number)) * 1e3;
      }
      byOutcome[e.gt_success].push(sum / (rs.length - 1));
      const goalZ = (JSON.parse(e.s) as { goal: number[] }).goal[2] as number;
      const tipZ = vec((last.get(e.id) as { p: Buffer }).p)[2] as number;
      if (e.gt_success === 0 && tipZ - goalZ > 0.005) onFace++;
    }
    db.close();
  }
  const f = byOutcome[0];
  const s = byOutcome[1];
  console.log(`${arm}: failures median ${median(f).toFixed(2)} mm (${f.length} episodes, ${onFace} ending on the face), seated median ${median(s).toFixed(2)} mm (${s.length})`);
}
