/**
 * Runs of the label experiment with and without fine-tuning on the same seed, episode by episode (the reward does not
 * act: the same episodes are practised, which the ground truth of each index checks). For each connector: the episodes
 * judged by a label-tuned reward version in the tuned run, and the errors of the original and the tuned reward on
 * exactly those episodes (errors as learning sees them: a labelled episode counts as right).
 *
 *   npx tsx results/labels-depth/compare.ts <no-tune labels.json> <tuned labels.json> [more pairs...]
 */
import { readFileSync } from 'node:fs';

interface Ep {
  index: number;
  learned: boolean;
  gt: boolean;
  reward: string | null;
  asked: boolean;
}
interface Row {
  connector: string;
  perEpisode: Ep[];
  rewardVersions: string[];
}

const load = (f: string): Row[] => (JSON.parse(readFileSync(f, 'utf8')) as { rows: Row[] }).rows;
const errs = (eps: Ep[], labels: boolean): { fp: number; fn: number } => ({
  fp: eps.filter((e) => !(labels && e.asked) && e.learned && !e.gt).length,
  fn: eps.filter((e) => !(labels && e.asked) && !e.learned && e.gt).length,
});

const args = process.argv.slice(2);
console.log('| run | connector | versions swapped in | episodes judged by a tuned version | FP / FN, original reward | FP / FN, tuned reward | same, with the requested labels: original / tuned |');
console.log('|---|---|---|---|---|---|---|');
for (let k = 0; k + 1 < args.length; k += 2) {
  const [base, tuned] = [load(args[k]!), load(args[k + 1]!)];
  const tot = { n: 0, o: { fp: 0, fn: 0 }, t: { fp: 0, fn: 0 }, ol: { fp: 0, fn: 0 }, tl: { fp: 0, fn: 0 } };
  for (const t of tuned) {
    const b = base.find((x) => x.connector === t.connector);
    if (!b) continue;
    const byIndex = new Map(b.perEpisode.map((e) => [e.index, e]));
    const first = t.perEpisode[0]?.reward ?? null;
    const later = t.perEpisode.filter((e) => e.reward !== first);
    const same = later.map((e) => byIndex.get(e.index)).filter((e): e is Ep => e !== undefined);
    const mismatch = later.filter((e) => byIndex.get(e.index)?.gt !== e.gt).length;
    if (mismatch > 0) throw new Error(`${args[k + 1]} ${t.connector}: ${mismatch} episodes differ in ground truth from ${args[k]}: not the same episodes`);
    const [o, n, ol, nl] = [errs(same, false), errs(later, false), errs(same, true), errs(later, true)];
    tot.n += later.length;
    for (const [a, x] of [
      [tot.o, o],
      [tot.t, n],
      [tot.ol, ol],
      [tot.tl, nl],
    ] as const) {
      a.fp += x.fp;
      a.fn += x.fn;
    }
    console.log(`| ${args[k + 1]} | ${t.connector} | ${t.rewardVersions.length} | ${later.length} | ${o.fp} / ${o.fn} | ${n.fp} / ${n.fn} | ${ol.fp}+${ol.fn} / ${nl.fp}+${nl.fn} |`);
  }
  console.log(`| ${args[k + 1]} | all | | ${tot.n} | ${tot.o.fp} / ${tot.o.fn} | ${tot.t.fp} / ${tot.t.fn} | ${tot.ol.fp}+${tot.ol.fn} / ${tot.tl.fp}+${tot.tl.fn} |`);
}
