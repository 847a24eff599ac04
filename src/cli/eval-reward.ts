/**
 * Evaluate an exported reward classifier (ONNX, through onnxruntime as the daemon runs it) on labelled logged
 * observations: accuracy rebalanced 50/50 per connector, as in table 8, and where it errs by tip height above seated.
 *
 *   npx tsx src/cli/eval-reward.ts --model models/reward.onnx --db data/heldout.db            # held-out prior data
 *   npx tsx src/cli/eval-reward.ts --db data/daemon.db --kinds practice --connectors europlug  # the daemon's own log (sim: gt labels)
 *
 * Labels are ground truth (gtSuccess), so a daemon log qualifies only where the simulator wrote them; heights above
 * seated need the true socket in the episode's start state (simulated prior data), other samples are left out of that
 * breakdown. Exit codes: 0 done, 2 bad arguments or unusable model/database.
 */
import { loadLabelledImages } from '../data/dataset.ts';
import { evaluateBalanced, formatAccuracyTable, type BalancedEvaluation } from '../learn/daib.ts';
import { inputSpecOf, scaleImageBytes } from '../policy/inputs.ts';
import { RewardModel } from '../policy/onnx-model.ts';
import { Store } from '../store/index.ts';
import type { EpisodeKind } from '../store/types.ts';
import { TrainArgError, splitFrom, writeJson } from '../offline/common.ts';
import { command, existingFile, fromArgv, nameList, splitFlag, T } from './flags.ts';
import { errorsByHeight, formatDomainAccuracy, formatHeightErrors, type HeightErrors } from '../offline/reward.ts';
import { runIfMain } from '../util/args.ts';

const KINDS = ['prior', 'practice', 'eval'] as const satisfies readonly EpisodeKind[];

/** The command line, declared once (src/cli/flags.ts). */
export const EVAL_REWARD = command({
  name: 'eval-reward',
  usage: 'eval-reward [flags]   (npm run eval:reward -- [flags])',
  about: `Evaluate an exported reward classifier (through onnxruntime, fed as the daemon feeds it) on labelled logged
observations: accuracy rebalanced 50/50 per connector (table 8), per connector, and where it errs by tip height
above seated.`,
  notes: 'exit codes: 0 done, 2 bad arguments or an unusable model or log',
  flags: T.object({
    model: T.string({ default: 'models/reward.onnx', description: 'the classifier (.onnx with its card)', cli: { arg: 'FILE' } }),
    db: T.string({ default: 'data/heldout.db', description: "the log to read; labels are the simulator's ground truth", cli: { arg: 'FILE' } }),
    connectors: nameList("connector names, or 'heldout' (the split's held-out set)", 'every connector the log holds episodes of, for the kinds asked'),
    split: splitFlag("the split 'heldout' refers to"),
    kinds: T.array(T.enum(KINDS), { uniqueItems: true, default: ['prior'], description: 'episode kinds' }),
    maxPerDomain: T.optional(T.integer({ minimum: 2, maximum: 10_000_000, description: 'at most N observations per connector', cli: { defaultText: 'all' } })),
    controllers: nameList("only prior episodes of these controllers (e.g. face-press,seat-lift: the hard negatives' collectors)", 'every episode'),
    andModel: T.optional(
      T.string({
        description: 'a second classifier that must agree: an observation is called seated only when both say so (the smaller probability)',
        cli: { arg: 'FILE' },
      }),
    ),
    out: T.optional(T.string({ description: 'the report as JSON', cli: { arg: 'FILE.json' } })),
  }),
});

export interface RewardEvalReport {
  tool: 'eval-reward';
  createdAt: string;
  model: { path: string; name: string; version: number; sha256: string };
  /** The second classifier of a judgement both must agree on (--and-model), if any. */
  andModel?: { path: string; name: string; version: number; sha256: string };
  db: string;
  controllers: string[] | null;
  kinds: EpisodeKind[];
  /** Connectors evaluated that the model was trained on (its card's training.connectors): not held-out figures. */
  trainedOn: string[];
  evaluation: BalancedEvaluation;
  errorsByHeight: HeightErrors[];
}

/** Probabilities of `count` uint8 NHWC images (and their proprio vectors, as the loader built them by the card)
 *  through the ONNX model, in chunks, scaled as its card says (policy/inputs.ts, as the tick does). */
async function probabilities(
  model: RewardModel,
  images: Uint8Array,
  count: number,
  image: { width: number; height: number; scale: number; offset: number },
  proprio: { values: Float32Array; dim: number } | null,
  chunk = 256,
): Promise<Float32Array> {
  const px = image.width * image.height * 3;
  const out = new Float32Array(count);
  for (let s = 0; s < count; s += chunk) {
    const m = Math.min(chunk, count - s);
    const x = scaleImageBytes(images.subarray(s * px, (s + m) * px), image, new Float32Array(m * px));
    out.set(await model.probabilities(m, x, proprio ? proprio.values.slice(s * proprio.dim, (s + m) * proprio.dim) : undefined), s);
  }
  return out;
}

export async function evaluateRewardModel(o: {
  model: string;
  db: string;
  connectors: string[] | null;
  kinds: EpisodeKind[];
  maxPerDomain?: number;
  controllers?: string[];
  andModel?: string;
}): Promise<RewardEvalReport> {
  const first = await scoreWith(o.model, o);
  // Both loads read the same rows in the same order (sorted ids, the same seeded cap): only the inputs differ.
  const second = o.andModel === undefined ? null : await scoreWith(o.andModel, o);
  const { data } = first;
  let prob = first.prob;
  if (second) {
    const same = second.data.count === data.count && second.data.transitionId.every((id, i) => id === data.transitionId[i]);
    if (!same) throw new TrainArgError(`${o.andModel}: its inputs select other observations than ${o.model}'s (image sizes differ?)`);
    prob = prob.map((p, i) => Math.min(p, second.prob[i] as number));
  }
  const evaluation = evaluateBalanced(prob, data.success, data.domain, 0.5, data.domainNames);
  const trained = new Set([...first.card.training.connectors, ...(second?.card.training.connectors ?? [])]);
  return {
    tool: 'eval-reward',
    createdAt: new Date().toISOString(),
    model: first.ref,
    ...(second ? { andModel: second.ref } : {}),
    db: o.db,
    controllers: o.controllers ?? null,
    kinds: o.kinds,
    trainedOn: data.domainNames.filter((d) => trained.has(d)),
    evaluation,
    errorsByHeight: errorsByHeight(prob, data),
  };
}

/** One classifier's probabilities on the log's labelled observations, fed as its card says. */
async function scoreWith(
  path: string,
  o: Parameters<typeof evaluateRewardModel>[0],
): Promise<{ prob: Float32Array; data: ReturnType<typeof loadLabelledImages>; card: RewardModel['card']; ref: RewardEvalReport['model'] }> {
  const model = await RewardModel.load(path);
  try {
    // The one input pipeline decides what the card may ask for (policy/inputs.ts); the loader resizes by it.
    const spec = inputSpecOf(model.card, path);
    const img = spec.image;
    if (!img || img.width !== img.height) throw new TrainArgError(`${path}: its card does not describe a square RGB image input`);
    const store = Store.openReadOnly(o.db);
    let data;
    try {
      const wanted = o.connectors ?? [...new Set(o.kinds.flatMap((kind) => store.listEpisodes({ kind, limit: 1_000_000 }).map((e) => e.domain)))].sort();
      const domains = wanted.filter((d) => o.kinds.some((kind) => store.countTransitions({ domain: d, kind }) > 0));
      if (domains.length === 0) throw new TrainArgError(`${o.db}: no ${o.kinds.join('/')} episodes${o.connectors ? ` of ${o.connectors.join(', ')}` : ''}`);
      data = loadLabelledImages(store, {
        domains,
        imageSize: img.width,
        kinds: o.kinds,
        seed: 0,
        ...(o.maxPerDomain === undefined ? {} : { maxPerDomain: o.maxPerDomain }),
        ...(o.controllers === undefined ? {} : { policyVersions: o.controllers }),
        ...(spec.proprio ? { proprio: spec.proprio } : {}),
      });
    } finally {
      store.close();
    }
    if (!(data.images instanceof Uint8Array)) throw new Error('eval-reward: expected 8-bit logged images');
    const prob = await probabilities(
      model,
      data.images,
      data.count,
      img,
      spec.proprio && data.proprio ? { values: data.proprio, dim: spec.proprio.layout.length } : null,
    );
    const c = model.card;
    return { prob, data, card: c, ref: { path, name: c.name, version: c.version, sha256: c.onnx.sha256 } };
  } finally {
    await model.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  const a = fromArgv(EVAL_REWARD, argv, (a) => {
    const c = a.connectors;
    const o: Parameters<typeof evaluateRewardModel>[0] = {
      model: existingFile('--model', a.model),
      db: existingFile('--db', a.db),
      connectors: c === undefined ? null : c.length === 1 && c[0] === 'heldout' ? splitFrom(a.split).heldOut : c,
      kinds: a.kinds,
      ...(a.maxPerDomain === undefined ? {} : { maxPerDomain: a.maxPerDomain }),
      ...(a.controllers === undefined ? {} : { controllers: a.controllers }),
      ...(a.andModel === undefined ? {} : { andModel: existingFile('--and-model', a.andModel) }),
    };
    return { o, out: a.out };
  });
  if (typeof a === 'number') return a;
  const { o, out } = a;
  let r: RewardEvalReport;
  try {
    r = await evaluateRewardModel(o);
  } catch (err) {
    console.error(`eval-reward: ${(err as Error).message}`);
    return 2;
  }
  const name = `${r.model.name} v${r.model.version}${r.andModel ? ` and ${r.andModel.name} v${r.andModel.version}` : ''}`;
  console.log(formatAccuracyTable([{ method: name, evaluation: r.evaluation }]));
  if (r.trainedOn.length > 0)
    console.log(`note: the model was trained on ${r.trainedOn.join(', ')} (its card's training.connectors): their accuracy is not a held-out figure`);
  console.log(`\nper connector (accuracy rebalanced 50/50; seated / unseated samples):\n${formatDomainAccuracy(r.evaluation)}\n`);
  console.log(`errors by tip height above seated (samples: share wrong):\n${formatHeightErrors(r.errorsByHeight)}`);
  if (out) {
    writeJson(out, r);
    console.log(`written to ${out}`);
  }
  return 0;
}

runIfMain(import.meta.url, 'eval-reward', () => main(process.argv.slice(2)), { exit: true });
