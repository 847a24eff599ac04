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
import { parseArgs } from 'node:util';
import { importBag, type ImportOptions, type LabelSource, type SplitRule } from '../export/import-bag.ts';
import { ExportError } from '../export/select.ts';
import type { Vec3 } from '../core/types.ts';
import { StoreOpenError } from '../store/index.ts';
import { UsageError, int, num, runIfMain, STDIO, type Io } from '../util/args.ts';

const USAGE = `usage: import-bag --bag FILE.mcap --db FILE.db --domain CONNECTOR --labels topic:/T | json:FILE | final-z:METRES
  [--image-topic /camera/image/compressed] [--wrench-topic /wrist/wrench] [--pose-topic /ee/pose]
  [--goal-topic /goal | --goal X,Y,Z] [--split gap:SECONDS | marker:/TOPIC] (default gap:1.0)
  [--image-size 64] [--hz HZ] [--max-skew 0.2] [--label-grace 0.5] [--kp 1,1,0.3] [--min-ticks 2] [--no-rezero] [--controller ros2-bag] [--note TEXT]
  Topic defaults are the names 'npm run export' writes; pass the recording's own.`;

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

function labels(s: string | undefined): LabelSource {
  if (s === undefined)
    throw new UsageError('--labels: name the success-label source: topic:/T (std_msgs/Bool), json:FILE (per-episode labels) or final-z:METRES');
  const m = /^(topic|json|final-z):(.+)$/.exec(s);
  if (!m) throw new UsageError(`--labels: expected topic:/T, json:FILE or final-z:METRES, got "${s}"`);
  if (m[1] === 'topic') return { kind: 'topic', topic: m[2]! };
  if (m[1] === 'json') return { kind: 'json', file: m[2]! };
  return { kind: 'final-z', below: num('--labels final-z', m[2]!) };
}

export function parseImportArgs(argv: string[]): ImportOptions | 'help' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        bag: { type: 'string' },
        db: { type: 'string' },
        domain: { type: 'string' },
        labels: { type: 'string' },
        split: { type: 'string' },
        'image-topic': { type: 'string' },
        'wrench-topic': { type: 'string' },
        'pose-topic': { type: 'string' },
        'goal-topic': { type: 'string' },
        goal: { type: 'string' },
        'image-size': { type: 'string' },
        hz: { type: 'string' },
        'max-skew': { type: 'string' },
        'label-grace': { type: 'string' },
        kp: { type: 'string' },
        'min-ticks': { type: 'string' },
        'no-rezero': { type: 'boolean' },
        controller: { type: 'string' },
        note: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (v.help) return 'help';
  if (!v.bag) throw new UsageError('--bag: the MCAP recording to import is required');
  if (!v.db) throw new UsageError('--db: the database to import into is required (created if missing)');
  if (!v.domain) throw new UsageError('--domain: the connector name of the recording is required');
  if (v['goal-topic'] && v.goal) throw new UsageError('--goal-topic and --goal: give one of them');
  const hz = v.hz === undefined ? null : num('--hz', v.hz);
  if (hz !== null && !(hz > 0)) throw new UsageError(`--hz: must be > 0, got "${v.hz}"`);
  const maxSkew = v['max-skew'] === undefined ? 0.2 : num('--max-skew', v['max-skew']);
  if (!(maxSkew >= 0)) throw new UsageError(`--max-skew: must be >= 0 s, got "${v['max-skew']}"`);
  const grace = v['label-grace'] === undefined ? 0.5 : num('--label-grace', v['label-grace']);
  if (!(grace >= 0)) throw new UsageError(`--label-grace: must be >= 0 s, got "${v['label-grace']}"`);
  return {
    bag: v.bag,
    db: v.db,
    domain: v.domain,
    topics: {
      image: v['image-topic'] ?? '/camera/image/compressed',
      wrench: v['wrench-topic'] ?? '/wrist/wrench',
      pose: v['pose-topic'] ?? '/ee/pose',
      goal: v['goal-topic'] ?? null,
    },
    goal: v.goal ? vec3('--goal', v.goal) : null,
    split: split(v.split ?? 'gap:1.0'),
    labels: labels(v.labels),
    imageSize: v['image-size'] === undefined ? 64 : int('--image-size', v['image-size'], 8, 1024),
    hz,
    maxSkewS: maxSkew,
    labelGraceS: grace,
    kp: v.kp ? vec3('--kp', v.kp) : [1, 1, 0.3],
    minTicks: v['min-ticks'] === undefined ? 2 : int('--min-ticks', v['min-ticks'], 2, 1_000_000),
    rezero: !v['no-rezero'],
    controller: v.controller ?? 'ros2-bag',
    note: v.note ?? null,
  };
}

export async function main(argv: string[], io: Io = STDIO): Promise<number> {
  let o: ImportOptions | 'help';
  try {
    o = parseImportArgs(argv);
  } catch (e) {
    io.err(`import-bag: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (o === 'help') {
    io.out(`${USAGE}\n`);
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
