/**
 * The fleet demo: N simulated arms (each its own daemon process on its own connector), one fleet learner process and
 * one throw-away PostgreSQL on loopback. Measures transitions/s ingested, ship lag p50/p99, the time from a published
 * version to live on every arm, the learner's update rate; optionally injects faults (PostgreSQL stopped and
 * restarted, the learner killed and restarted, an arm killed and restarted) and then counts that no committed
 * transition was lost or duplicated; with --bad-versions it publishes the fault campaign's five bad policies, which
 * each arm must refuse. Each fault's recovery is measured (the backlog shipped, the learner's next version live
 * everywhere, the killed arm practising and shipped), and each arm's practice through it. Writes <out>/fleet.json,
 * <out>/fleet.md and <out>/success.png, and from the arms' own logs <out>/windows.md (success per window) and, with
 * faults, <out>/stalls.md (each arm through each fault): src/cli/fleet-report.ts.
 *
 * `--report DIR[,DIR...]` runs nothing: it rewrites windows.md (and stalls.md) of finished runs from their logs, and
 * over several runs (seeds) writes <out>/seeds.md and <out>/seeds.png (per arm and window: each run, mean, worst).
 *
 *   npx tsx src/cli/fleet-demo.ts [--arms 3] [--connectors europlug,megablock,dt12] [--seconds 120] [--faults]
 *       [--free-run] [--no-fleet] [--no-learner] [--export-every 100] [--batch-size 64] [--checkpoint models/iql-offline] [--out data/runs/fleet-demo]
 *       [--goal-error-mm 1.5] [--offline-db data/prior.db|none] [--settle 20] [--learner-nice 10] [--bad-versions] [--online-fraction F] [--seed K]
 *   npx tsx src/cli/fleet-demo.ts --report DIR[,DIR...] [--window 150] [--t0 MS] [--out DIR]
 *
 * --goal-error-mm gives every arm's socket calibration that x* error (as the online experiment does), so that the
 * P-controller alone misses and there is something to learn. Steady-state figures (ingest rate, ship lag) are taken
 * from `--settle` seconds after the last arm started practising, so that start-up (processes, migrations, the first
 * connection) does not count as lag.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { command, fromArgv, T, UsageError } from './flags.ts';
import { svgToPngFile } from '../robot/image-codec.ts';
import { runIfMain } from '../util/args.ts';
import { frame, points, polyline, SVG_CLOSE } from '../util/svg-chart.ts';
import { Store } from '../store/index.ts';
import { FleetStore, startPgCluster, pgTarget, type PgCluster } from '../store/pg/index.ts';
import { BAD_MODEL_KINDS, makeBadModel } from '../campaign/bad-models.ts';
import { cardPathFor, sha256Hex } from '../policy/card.ts';
import { faultStallsMd, readArmLogs, runWindows, seedsSvg, seedsTable, successWindows, successWindowsMd } from './fleet-report.ts';

const root = resolve(import.meta.dirname, '../..');
/** How long an arm's daemon may take to start and begin practising. */
const START_MS = 900_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Arm {
  robotId: string;
  connector: string;
  config: string;
  db: string;
  proc: ChildProcess | null;
  url: string | null;
  log: string;
  starts: number;
  dir: string;
}

export type FaultKind = 'bad' | 'pg' | 'learner' | 'arm';

/** A fault as it happened: when, and what its recovery measured (filled in when the fault's run ends). */
export interface FaultRecord {
  t: number;
  kind: FaultKind;
  what: string;
  recovery: Record<string, unknown> | null;
}

/** The faults of a run and when they come, as fractions of its length: one at a time, each well after the last. */
export function faultPlan(o: { faults: boolean; badVersions: boolean; lastArm?: string }): Array<{ at: number; kind: FaultKind; what: string }> {
  return [
    ...(o.badVersions ? [{ at: 0.2, kind: 'bad' as const, what: `${BAD_MODEL_KINDS.length} bad versions published (${BAD_MODEL_KINDS.join(', ')})` }] : []),
    ...(o.faults
      ? [
          { at: 0.3, kind: 'pg' as const, what: 'PostgreSQL stopped for 10 s' },
          { at: 0.5, kind: 'learner' as const, what: 'learner killed (SIGKILL) and restarted' },
          { at: 0.7, kind: 'arm' as const, what: `${o.lastArm ?? 'the last arm'} killed (SIGKILL) and restarted` },
        ]
      : []),
  ];
}

/** An arm's missed control ticks over the run: the largest count seen in each start of its process, summed. */
export function missedTicks(samples: Sample[], robotId: string): number {
  const perStart = new Map<number, number>();
  for (const sm of samples) {
    const r = sm.arms.find((x) => x.robotId === robotId);
    if (r?.missedControl != null) perStart.set(r.start, Math.max(perStart.get(r.start) ?? 0, r.missedControl));
  }
  return [...perStart.values()].reduce((a, b) => a + b, 0);
}

/**
 * Each arm through each fault, from the samples in [t, t + windowS]: episodes begun, the longest time its episode
 * counter stood still (an arm down counts as still), missed ticks (summed over process starts) and deadman trips
 * there, against the arm's missed ticks per `windowS` over the whole run.
 */
export function faultWindows(
  samples: Sample[],
  faults: Array<Pick<FaultRecord, 't' | 'kind'>>,
  windowS = 30,
): Array<{
  kind: FaultKind;
  t: number;
  arms: Array<{ robotId: string; episodes: number | null; longestStallS: number; missedTicks: number; missedPerWindowInRun: number; deadmanTrips: number }>;
}> {
  const robots = samples[0]?.arms.map((a) => a.robotId) ?? [];
  const runS = Math.max(1, (samples.at(-1)?.t ?? 0) - (samples[0]?.t ?? 0));
  return faults.map((f) => {
    const inWin = samples.filter((sm) => sm.t >= f.t - 1e-9 && sm.t <= f.t + windowS);
    return {
      kind: f.kind,
      t: f.t,
      arms: robots.map((robotId) => {
        const rows = inWin.map((sm) => ({ t: sm.t, r: sm.arms.find((x) => x.robotId === robotId) }));
        let last: { t: number; ep: number | null } | null = null;
        let stall = 0;
        let stallFrom = rows[0]?.t ?? f.t;
        let first: number | null = null;
        let episodes = 0;
        for (const { t, r } of rows) {
          const ep = r?.up ? r.episodes : null;
          // Progress: the episode counter moved, or an arm that was down reports an episode again (a restarted
          // arm counts from 0: a counter that went down counts its new episodes).
          const moved = ep !== null && last !== null && last.ep !== null && ep !== last.ep;
          const back = ep !== null && last !== null && last.ep === null;
          if (moved || back) {
            stall = Math.max(stall, t - stallFrom);
            stallFrom = t;
          }
          if (moved) episodes += ep > last!.ep! ? ep - last!.ep! : ep;
          if (ep !== null && first === null) first = ep;
          last = { t, ep };
        }
        if (last) stall = Math.max(stall, last.t - stallFrom);
        const resumes = rows.map((x) => x.r?.resumes ?? 0);
        return {
          robotId,
          episodes: first === null ? null : episodes,
          longestStallS: stall,
          missedTicks: missedIn(samples, robotId, f.t, f.t + windowS),
          missedPerWindowInRun: (missedTicks(samples, robotId) * windowS) / runS,
          deadmanTrips: resumes.length ? Math.max(...resumes) - Math.min(...resumes) : 0,
        };
      }),
    };
  });
}

/** Missed ticks counted in (from, to]: per process start, its count at the end less its count before `from`. */
function missedIn(samples: Sample[], robotId: string, from: number, to: number): number {
  const before = new Map<number, number>();
  const end = new Map<number, number>();
  for (const sm of samples) {
    const r = sm.arms.find((x) => x.robotId === robotId);
    if (r?.missedControl == null) continue;
    const m = sm.t < from ? before : sm.t <= to ? end : null;
    m?.set(r.start, Math.max(m.get(r.start) ?? 0, r.missedControl));
  }
  return [...end].reduce((a, [start, v]) => a + Math.max(0, v - (before.get(start) ?? 0)), 0);
}

/** The campaign's bad policies (src/campaign/bad-models.ts) as fleet versions: bytes and card as the learner publishes. */
export function badFleetVersions(good: string, dir: string): Array<Parameters<FleetStore['publishModel']>[0]> {
  return BAD_MODEL_KINDS.map((kind, i) => {
    const m = makeBadModel(good, dir, kind, 9000 + i);
    const onnx = readFileSync(m.path);
    return {
      kind: 'policy',
      version: m.version,
      onnx,
      card: JSON.parse(readFileSync(cardPathFor(m.path), 'utf8')) as unknown,
      sha256: sha256Hex(onnx),
      rollout: { mode: 'all' },
    };
  });
}

export interface Sample {
  t: number;
  arms: Array<{
    robotId: string;
    up: boolean;
    /** Which start of this arm's process (a killed arm is started again). */
    start: number;
    practising: boolean;
    /** Practice resumed by the demo after a deadman trip, so far. */
    resumes: number;
    episodes: number | null;
    gtSuccess: number | null;
    learned: number | null;
    missedControl: number | null;
    policy: string | null;
    shipped: number | null;
    shipError: string | null;
  }>;
  pg: Array<{ robotId: string; transitions: number; lagP50: number | null; lagP99: number | null }> | null;
  /** pulled and pullMs: by the running learner process; kept: the rows its mirror held when it started (a restart). */
  learner: { updates: number | null; ups: number | null; pulled: number | null; pullMs: number | null; kept?: number | null; published: number } | null;
}

function startNode(script: string, args: string[], env: NodeJS.ProcessEnv, nice: number, logFile: string): ChildProcess {
  const p = spawn('nice', ['-n', String(nice), process.execPath, '--import', 'tsx', join(root, script), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const keep = (b: Buffer): void => {
    out.push(b.toString());
    writeFileSync(logFile, out.join(''));
  };
  p.stdout?.on('data', keep);
  p.stderr?.on('data', keep);
  return p;
}

async function startArm(a: Arm, env: NodeJS.ProcessEnv, token: string): Promise<void> {
  // A fresh log file per start: the URL is read from it, and a restarted arm must not find its predecessor's.
  a.starts++;
  a.log = join(a.dir, `${a.robotId}.start${a.starts}.log`);
  // The fleet learner trains for every arm: no learner of its own on the arm (learning is on by default).
  a.proc = startNode('src/cli/daemon.ts', ['--config', a.config, '--no-learning'], { ...env, DAEMON_TOKEN: token }, 0, a.log);
  const t0 = Date.now();
  // Eight daemons starting at once on two loaded cores can take minutes.
  // Six daemons starting at a load of 50 took over 300 s; eight at a load of 60-70, over 600 s.
  while (Date.now() - t0 < START_MS) {
    const m = /API: (http:\/\/\S+)/.exec(safeRead(a.log));
    if (m) {
      a.url = m[1] as string;
      break;
    }
    if (a.proc.exitCode !== null) throw new Error(`${a.robotId} exited (${a.proc.exitCode}); see ${a.log}`);
    await sleep(200);
  }
  if (!a.url) throw new Error(`${a.robotId}: no API within ${START_MS / 1000} s; see ${a.log}`);
  // At a load of 60 the control thread may not answer within the API's 5 s: an operator would try again.
  for (let i = 0; ; i++) {
    try {
      await practise(a, token);
      return;
    } catch (e) {
      if (Date.now() - t0 > START_MS) throw e;
      console.error(`${a.robotId}: ${(e as Error).message}; trying again (${i + 1})`);
      await sleep(2000);
    }
  }
}

/** Starts (or, after a trip of the deadman on this shared machine, resumes) practice: the operator's job, scripted. */
async function practise(a: Arm, token: string): Promise<void> {
  if (!a.url) return;
  await fetch(`${a.url}/estop/reset`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
  const r = await fetch(`${a.url}/practice/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ count: 100000, domain: a.connector, scenario: 'II', explorationNoise: 0.001 }),
  });
  if (!r.ok && r.status !== 409) throw new Error(`${a.robotId}: practice/start: HTTP ${r.status} ${await r.text()}`);
}

function safeRead(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

async function stopProc(p: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill(signal);
  await Promise.race([done, sleep(20_000).then(() => p.kill('SIGKILL'))]);
  await done;
}

const pct = (xs: number[], q: number): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? null;
};

/** The command line, declared once (src/cli/flags.ts); keys are the flags' own names. */
export const FLEET_DEMO = command({
  name: 'fleet-demo',
  usage: 'npx tsx src/cli/fleet-demo.ts [flags]',
  about: 'N simulated arms, one fleet learner and one throw-away PostgreSQL on loopback: ingest rate, ship lag, publish-to-live time, faults.',
  flags: T.object({
    arms: T.integer({ minimum: 1, maximum: 64, default: 3, description: 'simulated arms, each its own daemon process' }),
    connectors: T.array(T.string({ minLength: 1 }), { default: ['europlug', 'megablock', 'dt12'], description: 'connectors, one per arm in turn' }),
    seconds: T.number({
      exclusiveMinimum: 0,
      maximum: 86400,
      default: 120,
      description: 'length of the run, from the moment every arm practises (start-up comes on top)',
      cli: { arg: 'S' },
    }),
    faults: T.boolean({ description: 'stop and restart PostgreSQL, kill and restart the learner and an arm, then count rows lost or doubled' }),
    'bad-versions': T.boolean({
      description: `publish ${BAD_MODEL_KINDS.length} bad policy versions (${BAD_MODEL_KINDS.join(', ')}) at 20% of the run; each arm must refuse each`,
    }),
    'free-run': T.boolean({ description: 'the arms free-run instead of ticking at 10 Hz' }),
    'export-every': T.integer({ minimum: 0, maximum: 1e6, default: 100, description: "the learner's updates between exports" }),
    'batch-size': T.integer({ minimum: 2, maximum: 4096, default: 64, description: "the learner's batch size" }),
    'no-fleet': T.boolean({ description: 'arms on SQLite alone (no shipping)' }),
    'no-learner': T.boolean({ description: 'no fleet learner' }),
    checkpoint: T.string({ minLength: 1, default: 'models/iql-offline', description: 'offline checkpoint the learner starts from', cli: { arg: 'DIR' } }),
    'goal-error-mm': T.number({
      minimum: 0,
      maximum: 20,
      default: 0,
      description: "every arm's x* calibration error, M mm along (1,1,0)/sqrt2, so that the P-controller alone misses",
      cli: { arg: 'M' },
    }),
    'offline-db': T.string({
      minLength: 1,
      default: 'data/prior.db',
      description: "the learner's prior data ('none': practice alone)",
      cli: { arg: 'FILE|none' },
    }),
    settle: T.number({
      minimum: 0,
      maximum: 3600,
      default: 20,
      description: 'steady-state figures start this long after the last arm started practising',
      cli: { arg: 'S' },
    }),
    // The learner is niced so that the arms keep their ticks; on a machine loaded by others a niced learner gets
    // almost no CPU (its start-up on the prior data then takes minutes).
    'online-fraction': T.optional(
      T.number({
        minimum: 0,
        maximum: 1,
        description: "the learner's share of each batch from the pooled practice (the rest: prior data)",
        cli: { defaultText: "the learner's own" },
      }),
    ),
    // A run's seed: without it the arms keep the declared practice.seed and the learner its own (the recorded runs).
    seed: T.optional(
      T.integer({
        minimum: 0,
        maximum: 1e6,
        description: "every arm's practice.seed (start poses, exploration noise) and the learner's --seed",
        cli: { defaultText: 'the declared ones' },
      }),
    ),
    'learner-nice': T.integer({ minimum: -20, maximum: 19, default: 10, description: 'nice value of the learner process' }),
    out: T.string({
      minLength: 1,
      default: 'data/runs/fleet-demo',
      description: 'output directory (emptied first; with --report over several runs: where seeds.md and seeds.png go, not emptied)',
      cli: { arg: 'DIR' },
    }),
    report: T.optional(
      T.array(T.string({ minLength: 1 }), {
        minItems: 1,
        description: "run nothing: rewrite these finished runs' windows.md (and stalls.md) from their arms' logs; over several runs also seeds.md/.png",
        cli: { arg: 'DIR,...', defaultText: 'none' },
      }),
    ),
    window: T.number({ exclusiveMinimum: 0, maximum: 86400, default: 150, description: 'length of the success windows', cli: { arg: 'S' } }),
    t0: T.optional(
      T.integer({
        minimum: 0,
        description: "--report of one run: wall time (ms) of its faults' t = 0 (runs before fleet.json had startedAt)",
        cli: { arg: 'MS', defaultText: "fleet.json's startedAt" },
      }),
    ),
  }),
});

async function main(): Promise<number> {
  const values = fromArgv(FLEET_DEMO, process.argv.slice(2), (v) => v);
  if (typeof values === 'number') return values;
  if (values.report) return report(values.report, values.window, values.t0, resolve(values.out));
  const n = values.arms;
  const seconds = values.seconds;
  const connectors = values.connectors;
  const out = resolve(values.out);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const token = randomBytes(18).toString('base64url');
  const goalErrorMm = values['goal-error-mm'];
  const settleS = values.settle;
  // The arms' calibration: the shipped one, with the x* error split over x and y as the online experiment does.
  const calibrationDir = join(out, 'calibration');
  cpSync(join(root, 'calibration'), calibrationDir, { recursive: true });
  const e = goalErrorMm / 1000 / Math.SQRT2;
  writeFileSync(join(calibrationDir, 'socket.yaml'), `goal: null\noffset: [${e.toFixed(6)}, ${e.toFixed(6)}, 0]\n`);
  const loadAtStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  console.log(`fleet demo: ${n} arms, ${seconds} s${values.faults ? ', with faults' : ''}; output ${out}; load average ${loadAtStart.join(' ')}`);
  const cluster: PgCluster = await startPgCluster();
  const env = { ...process.env, ...cluster.env };
  const arms: Arm[] = Array.from({ length: n }, (_, i) => {
    const robotId = `arm-${i + 1}`;
    const connector = connectors[i % connectors.length] as string;
    const config = join(out, `${robotId}.yaml`);
    const db = join(out, `${robotId}.db`);
    writeFileSync(
      config,
      [
        `db: ${db}`,
        `modelsDir: ${join(root, 'models')}`,
        `calibrationDir: ${calibrationDir}`,
        'api: {port: 0}',
        `realtime: ${!values['free-run']}`,
        `robotId: ${robotId}`,
        `lockDir: ${join(out, 'locks')}`,
        `backend: {sim: {connector: ${connector}}}`,
        `fleet: {enabled: ${!values['no-fleet']}}`,
        ...(values.seed === undefined ? [] : [`practice: {seed: ${values.seed}}`]),
        '',
      ].join('\n'),
    );
    return { robotId, connector, config, db, proc: null, url: null, log: '', starts: 0, dir: out };
  });
  let learner: ChildProcess | null = null;
  const learnerStats = join(out, 'learner.json');
  const startLearner = (): ChildProcess =>
    startNode(
      'src/cli/fleet-learner.ts',
      [
        '--checkpoint',
        values.checkpoint,
        '--work-dir',
        join(out, 'learner'),
        '--stats',
        learnerStats,
        '--export-every',
        String(values['export-every']),
        '--batch-size',
        String(values['batch-size']),
        '--rollout',
        'all',
        '--offline-db',
        values['offline-db'],
        ...(values['online-fraction'] === undefined ? [] : ['--online-fraction', String(values['online-fraction'])]),
        ...(values.seed === undefined ? [] : ['--seed', String(values.seed)]),
      ],
      env,
      values['learner-nice'],
      join(out, `learner-${Date.now()}.log`),
    );
  const samples: Sample[] = [];
  const faults: FaultRecord[] = [];
  let fleet: FleetStore | null = null;
  const since = (t: number): number => (Date.now() - t) / 1000;
  const localCount = (a: Arm): number => {
    const s = Store.openReadOnly(a.db);
    try {
      return s.countTransitions();
    } finally {
      s.close();
    }
  };
  /** An arm's rows in PostgreSQL; null while it does not answer (a fault). */
  const pgCount = async (robotId: string): Promise<number | null> => {
    try {
      const r = await fleet!.query<{ n: number }>('SELECT count(*)::int AS n FROM fleet_transitions WHERE robot_id = $1', [robotId]);
      return r[0]!.n;
    } catch {
      return null;
    }
  };
  /** Seconds after `from` at which each arm's rows in PostgreSQL reach the given count (null: not within 5 min). */
  const caughtUp = async (targets: Map<Arm, number>, from: number): Promise<Record<string, number | null>> => {
    const out: Record<string, number | null> = {};
    const left = new Map(targets);
    while (left.size && Date.now() - from < 300_000) {
      for (const [a, target] of [...left]) {
        const c = await pgCount(a.robotId);
        if (c !== null && c >= target) {
          out[a.robotId] = since(from);
          left.delete(a);
        }
      }
      if (left.size) await sleep(250);
    }
    for (const a of left.keys()) out[a.robotId] = null;
    return out;
  };
  const newestPolicyId = async (): Promise<number | null> => {
    try {
      return (await fleet!.query<{ m: number | null }>("SELECT max(id)::int AS m FROM fleet_models WHERE kind = 'policy'"))[0]?.m ?? 0;
    } catch {
      return null;
    }
  };
  /** Seconds after `from` until every arm drives `modelId` or a later version (null: not within 5 min). */
  const liveEverywhere = async (modelId: number, from: number): Promise<number | null> => {
    while (Date.now() - from < 300_000) {
      const r = await fleet!
        .query<{ n: number }>('SELECT count(DISTINCT robot_id)::int AS n FROM fleet_model_status WHERE model_id >= $1 AND live_at IS NOT NULL', [modelId])
        .catch(() => [{ n: 0 }]);
      if ((r[0]?.n ?? 0) >= n) return since(from);
      await sleep(500);
    }
    return null;
  };
  const faultRuns: Record<FaultKind, () => Promise<Record<string, unknown>>> = {
    // PostgreSQL down for 10 s. Recovery: the server answers again, then each arm's rows logged meanwhile are shipped.
    pg: async () => {
      const before = Object.fromEntries(await Promise.all(arms.map(async (a) => [a.robotId, await pgCount(a.robotId)] as const)));
      cluster.stop();
      const down = Date.now();
      await sleep(10_000);
      const backlog = new Map(arms.map((a) => [a, localCount(a)]));
      cluster.start();
      const up = Date.now();
      let answersAfterS: number | null = null;
      while (answersAfterS === null && Date.now() - up < 120_000) {
        if ((await pgCount(arms[0]!.robotId)) !== null) answersAfterS = since(up);
        else await sleep(250);
      }
      return {
        downS: (up - down) / 1000,
        answersAfterS,
        backlogRows: Object.fromEntries(arms.map((a) => [a.robotId, backlog.get(a)! - (before[a.robotId] ?? 0)])),
        caughtUpAfterRestartS: await caughtUp(backlog, up),
      };
    },
    // The learner SIGKILLed and restarted at once. Recovery: its first new version, then that version live on every arm.
    learner: async () => {
      const before = await newestPolicyId();
      await stopProc(learner, 'SIGKILL');
      const k = Date.now();
      learner = startLearner();
      let firstVersionAfterS: number | null = null;
      let id: number | null = null;
      while (id === null && Date.now() - k < 600_000) {
        const m = await newestPolicyId();
        if (m !== null && before !== null && m > before) {
          id = m;
          firstVersionAfterS = since(k);
        } else await sleep(500);
      }
      return { firstVersionAfterS, liveOnEveryArmAfterS: id === null ? null : await liveEverywhere(id, k) };
    },
    // The last arm SIGKILLed and restarted. Recovery: practising again, its rows committed before the kill all shipped.
    arm: async () => {
      const a = arms[arms.length - 1]!;
      await stopProc(a.proc, 'SIGKILL');
      const k = Date.now();
      a.url = null;
      const committed = localCount(a);
      const shipped = await pgCount(a.robotId);
      await startArm(a, env, token);
      const practisingAfterS = since(k);
      return {
        robotId: a.robotId,
        committedAtKill: committed,
        inPgAtKill: shipped,
        practisingAfterS,
        shippedAllAfterS: (await caughtUp(new Map([[a, committed]]), k))[a.robotId],
      };
    },
    // Bad versions published as the learner's are: each arm must refuse each, with its reason, and keep its policy.
    bad: async () => {
      const dir = join(out, 'bad-versions');
      const ids: number[] = [];
      const p = Date.now();
      for (const m of badFleetVersions(join(root, 'models/policy.onnx'), dir)) ids.push(await fleet!.publishModel(m));
      let rows: Array<{ model_id: number; robot_id: string; state: string; reason: string | null }> = [];
      while (Date.now() - p < 300_000) {
        rows = await fleet!
          .query<{ model_id: number; robot_id: string; state: string; reason: string | null }>(
            'SELECT model_id, robot_id, state, reason FROM fleet_model_status WHERE model_id = ANY($1::int[])',
            [ids],
          )
          .catch(() => rows);
        if (rows.length >= ids.length * n) break;
        await sleep(500);
      }
      return {
        published: ids.length,
        decidedAfterS: rows.length >= ids.length * n ? since(p) : null,
        perArm: Object.fromEntries(
          arms.map((a) => {
            const mine = rows.filter((r) => r.robot_id === a.robotId);
            return [
              a.robotId,
              {
                refused: mine.filter((r) => r.state === 'rejected').length,
                accepted: mine.filter((r) => r.state === 'accepted' || r.state === 'live').length,
                undecided: ids.length - mine.length,
                reasons: mine.map((r) => `${r.state}: ${(r.reason ?? '').replace(/\S*\.fleet-models\//g, '').slice(0, 300)}`),
              },
            ];
          }),
        ),
      };
    },
  };
  const restarts: Record<string, number> = {};
  const t0 = Date.now();
  let steadyAt = Infinity;
  try {
    await Promise.all(arms.map((a) => startArm(a, env, token)));
    // The run's length and its faults count from here: starting eight daemons at a load of 50 takes minutes.
    const practisingAt = Date.now();
    steadyAt = practisingAt + settleS * 1000;
    // --no-fleet: the same arms on SQLite alone (the control run for the missed-tick count); no learner.
    if (!values['no-fleet'] && !values['no-learner']) learner = startLearner();
    fleet = await FleetStore.connect(pgTarget({}, cluster.env), { applicationName: 'fleet-demo' });
    const plan = faultPlan({ faults: values.faults, badVersions: values['bad-versions'], lastArm: arms.at(-1)?.robotId }).map((f) => ({
      ...f,
      run: faultRuns[f.kind],
    }));
    const pending = [...plan];
    const runs: Array<Promise<void>> = [];
    while (Date.now() - practisingAt < seconds * 1000) {
      const t = (Date.now() - t0) / 1000;
      const f = pending[0];
      if (f && Date.now() - practisingAt >= f.at * seconds * 1000) {
        pending.shift();
        const rec: FaultRecord = { t, kind: f.kind, what: f.what, recovery: null };
        faults.push(rec);
        console.log(`${t.toFixed(0)} s: fault: ${f.what}`);
        runs.push(
          f
            .run()
            .then((r) => {
              rec.recovery = r;
              console.log(`fault '${f.what}': ${JSON.stringify(r)}`);
            })
            .catch((e: unknown) => console.error(`fault '${f.what}': ${(e as Error).message}`)),
        );
      }
      const armRows = await Promise.all(
        arms.map(async (a) => {
          try {
            if (!a.url) throw new Error('down');
            const s = (await (await fetch(`${a.url}/status`)).json()) as {
              practice: unknown;
              episode: { index: number } | null;
              recent: { gtSuccessRate: number | null; learnedSuccessRate: number | null };
              timing: { missedControl: number };
              policy: { version: string | null };
              extra?: { fleet?: { shipper: { inserted: number; lastError: string | null } } };
            };
            if (s.practice === null) {
              restarts[a.robotId] = (restarts[a.robotId] ?? 0) + 1;
              await practise(a, token).catch(() => undefined);
            }
            return {
              robotId: a.robotId,
              up: true,
              start: a.starts,
              practising: s.practice !== null,
              resumes: restarts[a.robotId] ?? 0,
              episodes: s.episode?.index ?? null,
              gtSuccess: s.recent.gtSuccessRate,
              learned: s.recent.learnedSuccessRate,
              missedControl: s.timing.missedControl,
              policy: s.policy.version,
              shipped: s.extra?.fleet?.shipper.inserted ?? null,
              shipError: s.extra?.fleet?.shipper.lastError ?? null,
            };
          } catch {
            return {
              robotId: a.robotId,
              up: false,
              start: a.starts,
              practising: false,
              resumes: restarts[a.robotId] ?? 0,
              episodes: null,
              gtSuccess: null,
              learned: null,
              missedControl: null,
              policy: null,
              shipped: null,
              shipError: null,
            };
          }
        }),
      );
      let pgRows: Sample['pg'] = null;
      try {
        pgRows = (await fleet.counts(500, Date.now() >= steadyAt ? steadyAt : 0)).map((c) => ({
          robotId: c.robotId,
          transitions: c.transitions,
          lagP50: c.lagP50,
          lagP99: c.lagP99,
        }));
      } catch {
        // PostgreSQL down (a fault): the sample says so
      }
      let ls: Sample['learner'] = null;
      try {
        const j = JSON.parse(readFileSync(learnerStats, 'utf8')) as {
          progress: { updates: number; updatesPerSec: number | null } | null;
          learner: { pulled: number; pullMs: number; kept?: number } | null;
          published: unknown[];
        };
        ls = {
          updates: j.progress?.updates ?? null,
          ups: j.progress?.updatesPerSec ?? null,
          pulled: j.learner?.pulled ?? null,
          pullMs: j.learner?.pullMs ?? null,
          kept: j.learner?.kept ?? null,
          published: j.published.length,
        };
      } catch {
        // not written yet
      }
      samples.push({ t, arms: armRows, pg: pgRows, learner: ls });
      console.log(
        `${t.toFixed(0)} s: ${armRows.map((r) => `${r.robotId} ${r.up ? `ep ${r.episodes ?? '-'} gt ${r.gtSuccess?.toFixed(2) ?? '-'} missed ${r.missedControl} ${r.policy ?? 'p-only'}` : 'down'}`).join(' | ')} | pg ${pgRows ? pgRows.map((p) => p.transitions).join('/') : 'down'} | learner ${ls ? `${ls.updates ?? '-'} upd, ${ls.pulled ?? '-'} pulled, ${ls.published} published` : '-'}`,
      );
      await sleep(3000);
    }
    // A fault's recovery still being measured (the learner's first version after a restart can take minutes).
    // (The time limit is cleared after: a pending timer kept the finished demo alive for up to 3 minutes.)
    let limit: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(runs), new Promise<void>((r) => (limit = setTimeout(r, 180_000)))]);
    clearTimeout(limit);
    // Wind down: stop practising, let every shipper catch up, then count local rows against PostgreSQL.
    await Promise.all(
      arms.map(async (a) => {
        if (a.url) await fetch(`${a.url}/practice/stop`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
      }),
    );
    await sleep(3000);
    const drained = Date.now();
    const counts = async (): Promise<Array<{ robotId: string; local: number; pg: number; distinct: number }>> =>
      Promise.all(
        arms.map(async (a) => {
          const s = Store.openReadOnly(a.db);
          const local = s.countTransitions();
          s.close();
          const r = await fleet!.query<{ n: number; d: number }>(
            'SELECT count(*)::int AS n, count(DISTINCT local_id)::int AS d FROM fleet_transitions WHERE robot_id = $1',
            [a.robotId],
          );
          return { robotId: a.robotId, local, pg: r[0]!.n, distinct: r[0]!.d };
        }),
      );
    let final = await counts();
    while (!values['no-fleet'] && final.some((c) => c.pg < c.local) && Date.now() - drained < 60_000) {
      await sleep(1000);
      final = await counts();
    }
    // Publish-to-live per version: created_at in PostgreSQL to each arm's 'live' report.
    const versions = await fleet.query<{ id: number; version: string; created_at: number }>('SELECT id, version, created_at FROM fleet_models ORDER BY id');
    const status = await fleet.query<{ model_id: number; robot_id: string; state: string; reason: string | null; live_at: number | null }>(
      'SELECT model_id, robot_id, state, reason, live_at FROM fleet_model_status',
    );
    const perVersion = versions.map((v) => {
      const st = status.filter((s) => s.model_id === v.id);
      const live = st.filter((s) => s.live_at !== null);
      return {
        id: v.id,
        version: v.version,
        live: live.length,
        rejected: st.filter((s) => s.state === 'rejected').length,
        toLiveMs: live.map((s) => s.live_at! - v.created_at),
        toAllMs: live.length === n ? Math.max(...live.map((s) => s.live_at! - v.created_at)) : null,
      };
    });
    const lastPg = [...samples].reverse().find((s) => s.pg)?.pg ?? [];
    const lastLearner = [...samples].reverse().find((s) => s.learner)?.learner ?? null;
    const durationS = (drained - t0) / 1000;
    // Steady state: from the first sample after the settle time to the last sample while practising.
    const pgTotal = (sm: Sample): number | null => (sm.pg ? sm.pg.reduce((a, p) => a + p.transitions, 0) : null);
    const steady = samples.filter((sm) => t0 + sm.t * 1000 >= steadyAt && pgTotal(sm) !== null);
    const s0 = steady[0];
    const s1 = steady.at(-1);
    const steadyRate = s0 && s1 && s1.t > s0.t ? (pgTotal(s1)! - pgTotal(s0)!) / (s1.t - s0.t) : null;
    const updatesOf = (sm: Sample | undefined): number | null => sm?.learner?.updates ?? null;
    const steadyUpdates =
      s0 && s1 && updatesOf(s0) !== null && updatesOf(s1) !== null && s1.t > s0.t ? (updatesOf(s1)! - updatesOf(s0)!) / (s1.t - s0.t) : null;
    const result = {
      // Wall time (ms) of the samples' t = 0: the faults' windows can be read from the arms' logs.
      startedAt: t0,
      arms: n,
      seconds,
      freeRun: values['free-run'],
      faults,
      goalErrorMm,
      offlineDb: values['offline-db'],
      loadAverage: { start: loadAtStart, end: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number) },
      steady: { fromS: Number.isFinite(steadyAt) ? (steadyAt - t0) / 1000 : null, toS: s1?.t ?? null },
      ingest: {
        transitionsPerSec: final.reduce((a, c) => a + c.pg, 0) / durationS,
        steadyTransitionsPerSec: steadyRate,
        // A restarted learner pulls only what its kept mirror lacks: the rows it holds are the kept and the pulled.
        learnerPulledPerSec: lastLearner?.pulled != null ? (lastLearner.pulled + (lastLearner.kept ?? 0)) / durationS : null,
        learnerPullCapacityPerSec: lastLearner?.pulled && lastLearner.pullMs ? (lastLearner.pulled * 1000) / lastLearner.pullMs : null,
      },
      shipLagMs: { p50: pct(lastPg.map((p) => p.lagP50 ?? NaN).filter(Number.isFinite), 0.5), p99: Math.max(...lastPg.map((p) => p.lagP99 ?? 0)) },
      learner: {
        updates: lastLearner?.updates ?? null,
        updatesPerSec: pct(samples.map((s) => s.learner?.ups ?? NaN).filter(Number.isFinite), 0.5),
        steadyUpdatesPerSec: steadyUpdates,
        published: lastLearner?.published ?? 0,
      },
      publishToLiveMs: {
        everyArmP50: pct(
          perVersion.flatMap((v) => (v.toAllMs === null ? [] : [v.toAllMs])),
          0.5,
        ),
        anyArmP50: pct(
          perVersion.flatMap((v) => v.toLiveMs),
          0.5,
        ),
        versions: perVersion,
      },
      practiceRestarts: restarts,
      missedControlTicks: arms.map((a) => missedTicks(samples, a.robotId)),
      faultWindows: faultWindows(samples, faults),
      counts: final.map((c) => ({ ...c, lost: c.local - c.pg, duplicated: c.pg - c.distinct })),
      samples,
    };
    writeFileSync(join(out, 'fleet.json'), JSON.stringify(result, null, 2));
    const md = [
      `Fleet demo: ${n} arms (${arms.map((a) => `${a.robotId} ${a.connector}`).join(', ')}), ${seconds} s, ${values['free-run'] ? 'free-running' : '10 Hz real time'}, x* error ${goalErrorMm} mm, prior data ${values['offline-db']}${faults.length ? `, faults: ${faults.map((f) => `${f.what} at ${f.t.toFixed(0)} s`).join('; ')}` : ''}`,
      '',
      '| figure | value |',
      '|---|---|',
      `| load average (1 min) at start / end (2 cores, shared) | ${loadAtStart[0]} / ${result.loadAverage.end[0]} |`,
      `| transitions/s into PostgreSQL (all arms), whole run / steady state (from ${result.steady.fromS?.toFixed(0) ?? '-'} s) | ${result.ingest.transitionsPerSec.toFixed(1)} / ${steadyRate?.toFixed(1) ?? '-'} |`,
      `| transitions/s the learner pulled (mean over the run) / its pull capacity | ${result.ingest.learnerPulledPerSec?.toFixed(1) ?? '-'} / ${result.ingest.learnerPullCapacityPerSec?.toFixed(0) ?? '-'} |`,
      `| ship lag p50 / p99 (ms, newest 500 rows per arm logged in the steady state) | ${result.shipLagMs.p50?.toFixed(0) ?? '-'} / ${result.shipLagMs.p99.toFixed(0)} |`,
      `| learner updates/s (median sample / steady state) | ${result.learner.updatesPerSec?.toFixed(1) ?? '-'} / ${steadyUpdates?.toFixed(1) ?? '-'} |`,
      `| versions published / live on every arm / refused by some arm | ${perVersion.length} / ${perVersion.filter((v) => v.live === n).length} / ${perVersion.filter((v) => v.rejected > 0).length} |`,
      `| publish -> live on every arm, median (ms) | ${result.publishToLiveMs.everyArmP50?.toFixed(0) ?? '-'} |`,
      `| missed control ticks per arm (summed over each arm's process starts) | ${result.missedControlTicks.join(', ')} |`,
      `| practice resumed after a deadman trip (machine load) | ${arms.map((a) => `${a.robotId} ${restarts[a.robotId] ?? 0}`).join(', ')} |`,
      `| local / PostgreSQL / lost / duplicated rows per arm | ${result.counts.map((c) => `${c.robotId}: ${c.local} / ${c.pg} / ${c.lost} / ${c.duplicated}`).join('; ')} |`,
      '',
      ...faultTables(faults, result.faultWindows),
    ].join('\n');
    writeFileSync(join(out, 'fleet.md'), md);
    writeRunReport(out, values.window, t0, faults);
    await svgToPngFile(
      successSvg(
        samples,
        arms.map((a) => `${a.robotId} (${a.connector})`),
        faults,
      ),
      join(out, 'success.png'),
    );
    console.log(md);
    return 0;
  } finally {
    await Promise.all([...arms.map((a) => stopProc(a.proc)), stopProc(learner)]);
    await fleet?.close().catch(() => undefined);
    cluster.destroy();
  }
}

/** A finished run's tables from its arms' logs: windows.md, and stalls.md when it had faults. */
function writeRunReport(dir: string, windowS: number, t0: number, faults: Array<{ t: number; kind: string }>): void {
  const arms = readArmLogs(dir);
  writeFileSync(join(dir, 'windows.md'), successWindowsMd(successWindows(arms, windowS)));
  if (faults.length) writeFileSync(join(dir, 'stalls.md'), faultStallsMd(arms, faults, t0));
}

/** --report: finished runs' tables again, and over several runs the seeds table and plot. */
async function report(dirs: string[], windowS: number, t0: number | undefined, out: string): Promise<number> {
  const runs = dirs.map((d) => {
    const dir = resolve(d);
    const fj = JSON.parse(readFileSync(join(dir, 'fleet.json'), 'utf8')) as { startedAt?: number; seconds: number; faults: Array<{ t: number; kind: string }> };
    const w = runWindows(dir, windowS);
    if (w.from === 'logs') {
      const start = t0 ?? fj.startedAt;
      if (fj.faults.length && start === undefined) throw new UsageError(`${dir}/fleet.json has no startedAt: give --t0`);
      writeRunReport(dir, windowS, start ?? 0, fj.faults);
      console.log(`${dir}: windows.md${fj.faults.length ? ', stalls.md' : ''} from the arms' logs`);
    } else console.log(`${dir}: no arm logs; its recorded windows.md is used`);
    return { label: basename(dir), names: w.names, windows: w.windows, seconds: fj.seconds };
  });
  if (runs.length > 1) {
    mkdirSync(out, { recursive: true });
    // Windows that start within the shortest run (the last one of a run holds only its wind-down).
    const s = Math.min(...runs.map((r) => r.seconds));
    const t = seedsTable(runs, s);
    writeFileSync(join(out, 'seeds.md'), t.md);
    await svgToPngFile(seedsSvg(runs, s), join(out, 'seeds.png'));
    console.log(t.md);
    console.log(`wrote ${join(out, 'seeds.md')} and seeds.png`);
  }
  return 0;
}

/** The faults as markdown: what each recovery measured, and each arm through each fault (30 s from its start). */
function faultTables(faults: FaultRecord[], windows: ReturnType<typeof faultWindows>): string[] {
  if (!faults.length) return [];
  const out = ['| fault (at s) | recovery |', '|---|---|'];
  for (const f of faults)
    out.push(`| ${f.what} (${f.t.toFixed(0)}) | ${f.recovery ? JSON.stringify(f.recovery).replace(/\|/g, '/') : 'not measured (the run ended first)'} |`);
  out.push(
    '',
    '| fault | arm | episodes in the 30 s after | longest stall (s) | missed ticks in the 30 s (per 30 s over the run) | deadman trips |',
    '|---|---|---|---|---|---|',
  );
  for (const w of windows)
    for (const a of w.arms)
      out.push(
        `| ${w.kind} at ${w.t.toFixed(0)} s | ${a.robotId} | ${a.episodes ?? '-'} | ${a.longestStallS.toFixed(0)} | ${a.missedTicks} (${a.missedPerWindowInRun.toFixed(1)}) | ${a.deadmanTrips} |`,
      );
  out.push('');
  return out;
}

/** Ground-truth success over each arm's recent episodes against time, with the faults marked. */
export function successSvg(samples: Sample[], names: string[], faults: Array<{ t: number; what: string }>): string {
  const box = { W: 720, H: 360, L: 50, R: 190, T: 30, B: 40 };
  const { W, H, L, R, T, B } = box;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const { parts, x, y } = frame({
    box,
    xMax: tMax,
    root: ` viewBox="0 0 ${W} ${H}"`,
    title: { text: 'Success (simulator ground truth, recent episodes) per arm vs time; triangles: a new version live', x: L, y: 18, attrs: ' font-size="13"' },
    grid: { at: [0, 0.25, 0.5, 0.75, 1], label: String, stroke: '#eee', attrs: ' font-size="10" text-anchor="end"' },
    xTitle: { text: 'seconds', dy: 8, attrs: ' font-size="11" text-anchor="middle"' },
  });
  // The time axis is labelled at its ends only.
  parts.push(
    `<text x="${W - R}" y="${H - B + 14}" font-size="10" text-anchor="end">${tMax.toFixed(0)}</text><text x="${L}" y="${H - B + 14}" font-size="10">0</text>`,
  );
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  for (const f of faults)
    parts.push(
      `<line x1="${x(f.t)}" x2="${x(f.t)}" y1="${T}" y2="${H - B}" stroke="#999" stroke-dasharray="4 3"/><text x="${x(f.t) + 3}" y="${T + 10}" font-size="9" fill="#666">${f.what.split(' ')[0]}</text>`,
    );
  names.forEach((name, i) => {
    const c = colours[i % colours.length] as string;
    const pts = samples.flatMap((s): Array<[number, number]> => {
      const v = s.arms[i]?.gtSuccess;
      return v == null ? [] : [[x(s.t), y(v)]];
    });
    // A triangle where this arm's driving policy changed (a fleet version went live).
    samples.forEach((s, k) => {
      const prev = k > 0 ? samples[k - 1]?.arms[i]?.policy : undefined;
      const cur = s.arms[i]?.policy;
      if (k > 0 && cur && prev && cur !== prev) parts.push(`<path d="M${x(s.t).toFixed(1)},${y(0) - 2} l-4,-8 h8 z" fill="${c}"/>`);
    });
    parts.push(polyline(points(pts), c, 2), `<text x="${W - R + 10}" y="${T + 18 * i + 10}" fill="${c}" font-size="12">${name}</text>`);
  });
  parts.push(SVG_CLOSE);
  return parts.join('');
}

runIfMain(import.meta.url, 'fleet-demo', main);
