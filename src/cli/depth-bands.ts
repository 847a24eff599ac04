/**
 * What the wrist depth image says near seated, per connector and tip height above seated, from a log collected with
 * `--depth` (simulated prior data: labels and heights from ground truth). For each band (seated, unseated 0-3, 3-6,
 * 6-10, >= 10 mm above seated): how many labelled frames, the median socket-face distance (the mean of the lower half
 * of the 8x8 cells: the face, seen past the plug) and the median largest vertical depth step (the 'depth-dy' cue's
 * largest value: the jump from the plug housing's lower edge to the face beyond it).
 *
 *   npx tsx src/cli/depth-bands.ts --db data/heldout.db --connectors heldout
 *
 * Why: the face distance is how deep the tip is in the socket, which is "seated" only at a connector's own insertion
 * depth; the step grows with the exposed pin length, the same for every connector (results/reward-depth-relative/).
 * Exit codes: 0 done, 2 bad arguments or a log without depth.
 */
import { loadLabelledImages } from '../data/dataset.ts';
import { splitFrom } from '../offline/common.ts';
import { rewardCueSpec } from '../policy/inputs.ts';
import { Store } from '../store/index.ts';
import { runIfMain } from '../util/args.ts';
import { command, existingFile, fromArgv, nameList, splitFlag, T } from './flags.ts';
import { median } from '../util/stats.ts';

export const DEPTH_BANDS = command({
  name: 'depth-bands',
  usage: 'npx tsx src/cli/depth-bands.ts [flags]',
  about: `Per connector and tip height above seated: labelled frames, the median socket-face distance and the median
largest vertical depth step of the wrist depth image, from a log collected with --depth.`,
  notes: 'exit codes: 0 done, 2 bad arguments or a log without depth',
  flags: T.object({
    db: T.string({ default: 'data/heldout.db', description: 'a log collected with --depth', cli: { arg: 'FILE' } }),
    connectors: nameList("connector names, or 'heldout' / 'train' (the split's sets)", 'every connector the log holds prior episodes of'),
    split: splitFlag("the split 'heldout' and 'train' refer to"),
  }),
});

const BANDS = ['seated', '0-3 mm', '3-6 mm', '6-10 mm', '>=10 mm'] as const;

export interface DepthBand {
  band: (typeof BANDS)[number];
  frames: number;
  /** Median socket-face distance (mm from the camera). */
  faceMm: number;
  /** Median largest vertical depth step (mm). */
  stepMm: number;
}

/** Per connector, the bands of its labelled prior frames. Throws when the log's rows have no depth image. */
export function depthBands(db: string, connectors: string[] | null): Array<{ name: string; bands: DepthBand[] }> {
  const cells = rewardCueSpec('depth')!;
  const steps = rewardCueSpec('depth-dy')!;
  const spec = { layout: [...cells.layout, ...steps.layout], mean: [...cells.mean, ...steps.mean], std: [...cells.std, ...steps.std] };
  const store = Store.openReadOnly(db);
  try {
    const all = connectors ?? [...new Set(store.listEpisodes({ kind: 'prior', limit: 1_000_000 }).map((e) => e.domain))].sort();
    const domains = all.filter((d) => store.countTransitions({ domain: d, kind: 'prior' }) > 0);
    if (domains.length === 0) throw new Error(`${db}: no prior episodes${connectors ? ` of ${connectors.join(', ')}` : ''}`);
    // 1 px images: only the depth is read here.
    const data = loadLabelledImages(store, { domains, imageSize: 1, proprio: spec });
    const p = data.proprio!;
    const dim = spec.layout.length;
    const nCells = cells.layout.length;
    return domains.map((name, d) => {
      const face: number[][] = BANDS.map(() => []);
      const step: number[][] = BANDS.map(() => []);
      for (let i = 0; i < data.count; i++) {
        if (data.domain[i] !== d) continue;
        const h = data.aboveSeated[i]! * 1000;
        if (!Number.isFinite(h)) continue;
        const b = data.success[i] === 1 ? 0 : h < 3 ? 1 : h < 6 ? 2 : h < 10 ? 3 : 4;
        const row = p.subarray(i * dim, (i + 1) * dim);
        // Cells back to metres (their spec's normalisation); the lower half of the 8x8 grid is rows 4-7.
        let f = 0;
        for (let k = nCells / 2; k < nCells; k++) f += row[k]! * cells.std[k]! + cells.mean[k]!;
        face[b]!.push((1000 * f) / (nCells / 2));
        let top = -Infinity;
        for (let k = nCells; k < dim; k++) top = Math.max(top, row[k]! * spec.std[k]!);
        step[b]!.push(1000 * top);
      }
      return { name, bands: BANDS.map((band, b) => ({ band, frames: face[b]!.length, faceMm: median(face[b]!), stepMm: median(step[b]!) })) };
    });
  } finally {
    store.close();
  }
}

export function formatDepthBands(rows: Array<{ name: string; bands: DepthBand[] }>): string {
  const head = `| connector | ${BANDS.map((b) => `${b}: frames, face mm, step mm`).join(' | ')} |`;
  const lines = rows.map(
    (r) => `| ${r.name} | ${r.bands.map((b) => (b.frames ? `${b.frames}, ${b.faceMm.toFixed(1)}, ${b.stepMm.toFixed(1)}` : '0')).join(' | ')} |`,
  );
  return [head, `|---|${BANDS.map(() => '---|').join('')}`, ...lines].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const a = fromArgv(DEPTH_BANDS, argv, (a) => {
    const c = a.connectors;
    const named = c?.length === 1 && (c[0] === 'heldout' || c[0] === 'train') ? splitFrom(a.split)[c[0] === 'heldout' ? 'heldOut' : 'train'] : c;
    return { db: existingFile('--db', a.db), connectors: named ?? null };
  });
  if (typeof a === 'number') return a;
  try {
    console.log(formatDepthBands(depthBands(a.db, a.connectors)));
  } catch (err) {
    console.error(`depth-bands: ${(err as Error).message}`);
    return 2;
  }
  return 0;
}

runIfMain(import.meta.url, 'depth-bands', () => main(process.argv.slice(2)), { exit: true });
