/**
 * Import a ROS 2 MCAP recording (`ros2 bag record -s mcap`) as prior data in the daemon's schema.
 *
 *   npm run import:bag -- --bag run1.mcap --db data/prior.db --domain europlug \
 *     --image-topic /camera/image_raw --wrench-topic /ft/wrench --pose-topic /ee_pose --goal 0.62,0.16,0.01 \
 *     --split gap:1.0 --labels topic:/insertion/success
 *
 * Rules (ticks, episodes, labels, rows): src/export/README.md. Exit codes: 0 imported, 2 bad input (missing bag or
 * topic, corrupt MCAP, unusable labels, refused database), 1 an unexpected failure.
 */
import { importBag, type ImportOptions, type LabelSource, type SplitRule } from '../export/import-bag.ts';
import { ExportError } from '../export/select.ts';
import type { Vec3 } from '../core/types.ts';
import { StoreOpenError } from '../store/index.ts';
import { num, runIfMain, STDIO, type Io } from '../util/args.ts';
import { command, commandUsage, optionalText, parseCommand, T, UsageError } from './flags.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const IMPORT_BAG = command({
  name: 'import-bag',
  usage: 'npm run import:bag -- --bag FILE.mcap --db FILE.db --domain CONNECTOR --labels SOURCE [flags]',
  about: "Import a ROS 2 MCAP recording (ros2 bag record -s mcap) as prior data in the daemon's schema.",
  notes: "Topic defaults are the names 'npm run export' writes; pass the recording's own. Rules: src/export/README.md.",
  flags: T.object({
    bag: T.string({ minLength: 1, description: 'the MCAP recording to import', cli: { arg: 'FILE.mcap' } }),
    db: T.string({ minLength: 1, description: 'the database to import into (created if missing)', cli: { arg: 'FILE.db' } }),
    domain: T.string({ minLength: 1, description: 'the connector name of the recording', cli: { arg: 'CONNECTOR' } }),
    labels: T.string({
      minLength: 1,
      description: 'name the success-label source: topic:/T (std_msgs/Bool), json:FILE (per-episode labels) or final-z:METRES',
      cli: { arg: 'SOURCE' },
    }),
    imageTopic: T.string({ minLength: 1, default: '/camera/image/compressed', description: 'camera topic', cli: { arg: 'TOPIC' } }),
    wrenchTopic: T.string({ minLength: 1, default: '/wrist/wrench', description: 'wrist wrench topic', cli: { arg: 'TOPIC' } }),
    poseTopic: T.string({ minLength: 1, default: '/ee/pose', description: 'end-effector pose topic', cli: { arg: 'TOPIC' } }),
    goalTopic: optionalText('topic of the goal x*', 'TOPIC', 'none: --goal'),
    goal: T.optional(T.string({ description: 'the goal x* (m, base frame) when no topic carries it', cli: { arg: 'X,Y,Z', defaultText: 'none' } })),
    split: T.string({ default: 'gap:1.0', description: 'where episodes end', cli: { arg: 'gap:SECONDS|marker:/TOPIC' } }),
    imageSize: T.integer({ minimum: 8, maximum: 1024, default: 64, description: 'logged image side (px)' }),
    hz: T.optional(T.number({ exclusiveMinimum: 0, description: 'tick rate', cli: { arg: 'HZ', defaultText: "the recording's" } })),
    maxSkew: T.number({ minimum: 0, default: 0.2, description: 'largest time between a tick and its samples (s)', cli: { arg: 'S' } }),
    labelGrace: T.number({ minimum: 0, default: 0.5, description: 'time after an episode in which its label may arrive (s)', cli: { arg: 'S' } }),
    kp: T.string({ default: '1,1,0.3', description: 'P-controller gains, to log u_H', cli: { arg: 'X,Y,Z' } }),
    minTicks: T.integer({ minimum: 2, maximum: 1_000_000, default: 2, description: 'shorter episodes are dropped' }),
    rezero: T.boolean({ default: true, description: 'do not re-zero the wrench at episode starts', cli: { flag: '--no-rezero', sets: false } }),
    controller: T.string({ minLength: 1, default: 'ros2-bag', description: 'controller name logged with the episodes' }),
    note: T.optional(T.string({ description: 'a note on the session', cli: { arg: 'TEXT', defaultText: 'none' } })),
  }),
});

function vec3(flag: string, s: string): Vec3 {
  const xs = s.split(',').map((x) => num(flag, x));
  if (xs.length !== 3) throw new UsageError(`${flag}: expected three comma-separated numbers, got "${s}"`);
  return xs as Vec3;
}

function split(s: string): SplitRule {
  const m = /^(gap|marker):(.+)$/.exec(s);
  if (!m) throw new UsageError(`--split: expected gap:SECONDS or marker:/TOPIC, got "${s}"`);
  if (m[1] === 'gap') {
    const seconds = num('--split gap', m[2]!);
    if (!(seconds > 0)) throw new UsageError(`--split gap: seconds must be > 0, got "${m[2]}"`);
    return { kind: 'gap', seconds };
  }
  return { kind: 'marker', topic: m[2]! };
}

function labels(s: string): LabelSource {
  const m = /^(topic|json|final-z):(.+)$/.exec(s);
  if (!m) throw new UsageError(`--labels: expected topic:/T, json:FILE or final-z:METRES, got "${s}"`);
  if (m[1] === 'topic') return { kind: 'topic', topic: m[2]! };
  if (m[1] === 'json') return { kind: 'json', file: m[2]! };
  return { kind: 'final-z', below: num('--labels final-z', m[2]!) };
}

export function parseImportArgs(argv: string[]): ImportOptions | 'help' {
  const { values: v, help } = parseCommand(IMPORT_BAG, argv);
  if (help) return 'help';
  if (v.goalTopic && v.goal) throw new UsageError('--goal-topic and --goal: give one of them');
  return {
    bag: v.bag,
    db: v.db,
    domain: v.domain,
    topics: { image: v.imageTopic, wrench: v.wrenchTopic, pose: v.poseTopic, goal: v.goalTopic ?? null },
    goal: v.goal ? vec3('--goal', v.goal) : null,
    split: split(v.split),
    labels: labels(v.labels),
    imageSize: v.imageSize,
    hz: v.hz ?? null,
    maxSkewS: v.maxSkew,
    labelGraceS: v.labelGrace,
    kp: vec3('--kp', v.kp),
    minTicks: v.minTicks,
    rezero: v.rezero,
    controller: v.controller,
    note: v.note ?? null,
  };
}

export async function main(argv: string[], io: Io = STDIO): Promise<number> {
  let o: ImportOptions | 'help';
  try {
    o = parseImportArgs(argv);
  } catch (e) {
    io.err(`import-bag: ${(e as Error).message}\n`);
    return 2;
  }
  if (o === 'help') {
    io.out(`${commandUsage(IMPORT_BAG)}\n`);
    return 0;
  }
  try {
    const r = await importBag(o);
    io.out(`${JSON.stringify(r)}\n`);
    const ok = r.episodes.filter((e) => e.success).length;
    io.err(
      `import-bag: ${o.bag} -> ${o.db} session ${r.sessionId}: ${r.episodes.length} episodes (${ok} successful by ${r.labelSource}), ${r.transitions} transitions; ${r.frames.used} of ${r.frames.total} frames used\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof ExportError || e instanceof StoreOpenError || e instanceof UsageError) {
      io.err(`import-bag: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

runIfMain(import.meta.url, 'import-bag', () => main(process.argv.slice(2)));
