// The seated end's frame count k from the prior data (the 15 training connectors, ground-truth labels), not from the
// held-out connectors: every logged observation of every prior episode through the shipped reward as the daemon feeds it
// (the card's input pipeline), then the lift and height checks in episode order (daemon/scoring.ts checkedReward, with
// the daemon's default tolerances and the episode's logged x*), then the seated end (SeatedEnd) for k = 1..5. The daemon
// scores observations 1..L (observation 0 has no transition before it); here the same. Per k: episodes the rule ends
// before the step limit, ends on an observation that is not seated (false ends), of those the episodes that were
// seated at the step limit (a success the end would lose), seated-at-the-limit episodes it never ends (missed: they run
// to the limit as today), and the steps saved.
// Usage: npx tsx results/online-hold/seated-runs.ts MODEL.onnx DB [controller]
import { loadLabelledImages } from '../../src/data/dataset.ts';
import { inputSpecOf, scaleImageBytes } from '../../src/policy/inputs.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { Store } from '../../src/store/index.ts';
import { openReadOnly } from '../../src/store/open.ts';
import { checkedReward, heightAboveGoalM, LowestTip, SeatedEnd } from '../../src/daemon/scoring.ts';
import { PracticeConfigSchema } from '../../src/config/schema.ts';
import { defaultsOf } from '../../src/config/declare.ts';
import type { Vec3 } from '../../src/core/types.ts';

const [modelPath, dbPath, controller] = process.argv.slice(2);
if (!modelPath || !dbPath) throw new Error('usage: seated-runs.ts MODEL.onnx DB [controller]');
const vec = (b: Buffer, n: number): number[] => Array.from({ length: n }, (_, i) => (b.length === n * 8 ? b.readDoubleLE(i * 8) : b.readFloatLE(i * 4)));
// The daemon's defaults for the checks (src/config/schema.ts), not copies of them.
const d0 = defaultsOf(PracticeConfigSchema);
const settings = {
  successThreshold: d0.successThreshold,
  liftToleranceM: d0.liftToleranceM,
  heightToleranceM: d0.heightToleranceM,
  useGroundTruthReward: false,
};
const K = [1, 2, 3, 4, 5];

const model = await RewardModel.load(modelPath);
const spec = inputSpecOf(model.card, modelPath);
const img = spec.image!;
const store = Store.openReadOnly(dbPath);
const domains = [...new Set(store.listEpisodes({ kind: 'prior', limit: 1_000_000 }).map((e) => e.domain))].sort();
const prob = new Map<number, number>();
const seated = new Map<number, boolean>();
for (const d of domains) {
  const data = loadLabelledImages(store, {
    domains: [d],
    imageSize: img.width,
    kinds: ['prior'],
    seed: 0,
    ...(controller ? { policyVersions: [controller] } : {}),
    ...(spec.proprio ? { proprio: spec.proprio } : {}),
  });
  const px = img.width * img.height * 3;
  const dim = spec.proprio?.layout.length ?? 0;
  for (let s = 0; s < data.count; s += 256) {
    const m = Math.min(256, data.count - s);
    const x = scaleImageBytes((data.images as Uint8Array).subarray(s * px, (s + m) * px), img, new Float32Array(m * px));
    const p = await model.probabilities(m, x, spec.proprio && data.proprio ? data.proprio.slice(s * dim, (s + m) * dim) : undefined);
    for (let i = 0; i < m; i++) {
      prob.set(data.transitionId[s + i]!, p[i]!);
      seated.set(data.transitionId[s + i]!, data.success[s + i] === 1);
    }
  }
  process.stderr.write(`${d}: ${data.count} observations\n`);
}
store.close();
await model.dispose();

const db = openReadOnly(dbPath);
const eps = db
  .prepare(`SELECT id, domain FROM episodes WHERE kind = 'prior' ${controller ? 'AND policy_version = ?' : ''} ORDER BY id`)
  .all(...(controller ? [controller] : [])) as { id: number; domain: string }[];
const rows = db.prepare('SELECT id, step, ee_pos, goal FROM transitions WHERE episode_id = ? ORDER BY step');
type Tally = { ends: number; early: number; falseEnds: number; lost: number; missed: number; saved: number[] };
const tally = new Map<number, Tally>(K.map((k) => [k, { ends: 0, early: 0, falseEnds: 0, lost: 0, missed: 0, saved: [] }]));
let seatedAtLimit = 0;
let bounced = 0; // seated at some observation, not seated at a later one (ground truth): what a k-frame end must ride over
const falseRuns: number[] = []; // lengths of runs of checked-seated observations that are not seated
let checkedSeatedObs = 0;
let checkedSeatedWrong = 0;
for (const e of eps) {
  const rs = rows.all(e.id) as { id: number; step: number; ee_pos: Buffer; goal: Buffer }[];
  const L = rs.length - 1;
  const gtAt = rs.map((r) => seated.get(r.id) ?? false);
  const atLimit = gtAt[L] === true;
  if (atLimit) seatedAtLimit++;
  const first = gtAt.findIndex(Boolean);
  if (first >= 0 && gtAt.slice(first).some((g) => !g)) bounced++;
  const lowest = new LowestTip();
  const calls: boolean[] = [];
  rs.forEach((r, s) => {
    const ee = vec(r.ee_pos, 3) as Vec3;
    const lift = lowest.observe(ee);
    if (s === 0) return calls.push(false);
    const c = checkedReward(prob.get(r.id) ?? null, lift, heightAboveGoalM(ee, vec(r.goal, 3) as Vec3), settings);
    const yes = c.prob !== null && c.prob >= settings.successThreshold;
    calls.push(yes);
    if (yes) {
      checkedSeatedObs++;
      if (!gtAt[s]) checkedSeatedWrong++;
    }
  });
  let run = 0;
  calls.forEach((c, s) => {
    if (c && !gtAt[s]) run++;
    else {
      if (run > 0) falseRuns.push(run);
      run = 0;
    }
  });
  if (run > 0) falseRuns.push(run);
  for (const k of K) {
    const t = tally.get(k)!;
    const end = new SeatedEnd({ ...settings, endSeatedFrames: k });
    const at = calls.findIndex((c) => end.observe({ prob: c ? 1 : 0 }));
    if (at < 0) {
      if (atLimit) t.missed++;
      continue;
    }
    t.ends++;
    if (at < L) t.early++;
    if (!gtAt[at]) {
      t.falseEnds++;
      if (atLimit) t.lost++;
    }
    t.saved.push(L - at);
  }
}
db.close();
const hist = new Map<number, number>();
for (const r of falseRuns) hist.set(r, (hist.get(r) ?? 0) + 1);
console.log(`${dbPath}${controller ? ` (${controller})` : ''}: ${eps.length} prior episodes of ${domains.length} connectors, ${seatedAtLimit} seated at the step limit`);
console.log(`reward ${model.card.name}@${model.card.version}; checks: lift ${settings.liftToleranceM} m, height ${settings.heightToleranceM} m, threshold ${settings.successThreshold}`);
console.log(`checked reward says seated on ${checkedSeatedObs} observations, ${checkedSeatedWrong} of them not seated`);
console.log(`runs of consecutive not-seated observations the checked reward calls seated, by length: ${[...hist].sort((a, b) => a[0] - b[0]).map(([l, n]) => `${l}: ${n}`).join(', ') || 'none'}`);
console.log(`episodes seated and later not seated again (ground truth): ${bounced}`);
console.log('\n| k | episodes ended | before the step limit | ended not seated (false ends) | of those seated at the limit (lost) | seated at the limit, never ended (missed) | steps saved, median / mean |');
console.log('|---|---|---|---|---|---|---|');
for (const k of K) {
  const t = tally.get(k)!;
  const sv = [...t.saved].sort((a, b) => a - b);
  const med = sv.length ? sv[sv.length >> 1]! : 0;
  const mean = sv.length ? sv.reduce((a, b) => a + b, 0) / sv.length : 0;
  console.log(`| ${k} | ${t.ends} | ${t.early} | ${t.falseEnds} | ${t.lost} | ${t.missed} | ${med} / ${mean.toFixed(1)} |`);
}
