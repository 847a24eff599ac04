// The trainer's updates at each evaluation point, reference runs against runs with the seated end (the trainer owes
// `utd` updates per logged transition, and ended episodes log fewer).
// Usage: npx tsx results/online-hold/updates.ts REFERENCE_DIR CANDIDATE_DIR
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [ref, cand] = process.argv.slice(2);
if (!ref || !cand) throw new Error('usage: updates.ts REFERENCE_DIR CANDIDATE_DIR');
type R = { results: Array<{ curve: Array<{ trainerUpdates: number }> }> };
const updates = (f: string): string =>
  existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as R).results[0]!.curve.slice(1).map((p) => p.trainerUpdates).join(' / ') : '-';
console.log('| run | updates at 25 / 50 / 75 / 100 episodes, reference | with the seated end |');
console.log('|---|---|---|');
for (const r of readdirSync(cand).filter((d) => /^seed-\d+-/.test(d) && existsSync(join(cand, d, 'results.json'))).sort())
  console.log(`| ${r} | ${updates(join(ref, r, 'results.json'))} | ${updates(join(cand, r, 'results.json'))} |`);
