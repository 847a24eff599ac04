// Scratch: which lateral direction the critics prefer on one run's practice states, against the calibration error.
//   npx tsx results/online-s19/critic-probe.ts RUN_CONNECTOR_DIR CHECKPOINT_DIR [DELTA_MM]
// RUN_CONNECTOR_DIR: an experiment run's <out>/<connector> (its daemon-*.db holds the practice rows and their cached
// features); CHECKPOINT_DIR: a trainer checkpoint directory or models/iql-offline. The x* error puts the calibrated goal
// +1.06 mm in x and y, so the residual must add about -1.06 mm: a critic that knows it prefers -x and -y.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { observationOf } from '../../src/data/dataset.ts';
import { DEFAULT_PROPRIO_SPEC, ProprioBuilder } from '../../src/policy/inputs.ts';
import { initBackend } from '../../src/learn/backend.ts';
import { IqlAgent } from '../../src/learn/iql.ts';
import { sha256Hex } from '../../src/policy/card.ts';
import { Store } from '../../src/store/index.ts';
import { checkpointConfig, DEFAULT_ONLINE, onlineAgentConfig } from '../../src/online/trainer.ts';

const [runDir, ckpt, deltaS] = process.argv.slice(2) as [string, string, string | undefined];
const delta = Number(deltaS ?? 0.5) / 1000;
await initBackend({});
// The checkpoint's own critics: growing the offline one's 2 to 10 would add 8 fresh random output layers to the mean.
const agent = new IqlAgent(onlineAgentConfig(checkpointConfig(ckpt), { ...DEFAULT_ONLINE, critics: null, targetCritics: null }));
await agent.loadCheckpoint(ckpt);
const dbFile = readdirSync(runDir).find((f) => /^daemon-.*\.db$/.test(f));
if (!dbFile) throw new Error(`${runDir}: no daemon-*.db`);
const db = join(runDir, dbFile);
const store = Store.openReadOnly(db);
const version = `iql-encoders:${sha256Hex(readFileSync('models/iql-offline/latest.json')).slice(0, 16)}:${checkpointConfig(ckpt).daib?.encoder.inputShape[0]}`;
const ids = store.transitionIds({ kind: 'practice', endedOnly: true, afterId: 0 });
const recs = store.getTransitions(ids, { images: false }).filter((r) => r.actionResidual);
const feats = store.getFeatures(version, recs.map((r) => r.id));
const dims = agent.featureDims;
const builder = new ProprioBuilder(DEFAULT_PROPRIO_SPEC, db);
// Blocks of 25 practice episodes, in order.
const eps = [...new Set(recs.map((r) => r.episodeId))].sort((a, b) => a - b);
const block = (ep: number) => Math.floor(eps.indexOf(ep) / 25);
for (let b = 0; b <= Math.max(...eps.map(block)); b++) {
  const rows = recs.filter((r) => block(r.episodeId) === b && feats.has(r.id));
  const n = rows.length;
  const pi = new Float32Array(n * dims.pi);
  const q = new Float32Array(n * dims.q);
  const prop = new Float32Array(n * DEFAULT_PROPRIO_SPEC.layout.length);
  rows.forEach((r, i) => {
    const f = feats.get(r.id) as Float32Array;
    pi.set(f.subarray(0, dims.pi), i * dims.pi);
    q.set(f.subarray(dims.pi, dims.pi + dims.q), i * dims.q);
    prop.set(builder.build(observationOf(r)), i * DEFAULT_PROPRIO_SPEC.layout.length);
  });
  const a0 = agent.actFeatures(pi, prop);
  const ad = a0.length / n;
  const meanQ = (a: Float32Array) => {
    const qs = agent.criticValues(q, prop, a);
    let s = 0;
    for (const c of qs) for (const v of c) s += v;
    return s / (qs.length * n);
  };
  const shifted = (axis: number, d: number) => {
    const a = Float32Array.from(a0);
    for (let i = 0; i < n; i++) a[i * ad + axis] = (a[i * ad + axis] as number) + d;
    return a;
  };
  const mean = (axis: number, a: Float32Array) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i * ad + axis] as number;
    return (s / n) * 1000;
  };
  const logged = Float32Array.from(rows.flatMap((r) => Array.from(r.actionResidual as ArrayLike<number>)));
  const line = [0, 1, 2].map((k) => {
    const pref = meanQ(shifted(k, -delta)) - meanQ(shifted(k, delta));
    return `${'xyz'[k]}: policy ${mean(k, a0).toFixed(2)} mm (logged ${mean(k, logged).toFixed(2)}), Q(-d)-Q(+d) ${pref.toFixed(4)}`;
  });
  console.log(`episodes ${b * 25}-${b * 25 + 24} (${n} rows, Q ${meanQ(a0).toFixed(3)}): ${line.join('; ')}`);
}
store.close();
