/**
 * The main job: the control daemon on the simulated cell, with the models the project ships (P-controller alone when
 * models/ has none), its REST API on 127.0.0.1, running until SIGINT/SIGTERM.
 *
 *   npx tsx src/cli/daemon.ts [--config config/daemon.yaml] [--port N] [--db FILE] [--tick-hz HZ] [--free-run] ...
 *
 * The bearer token comes from $DAEMON_TOKEN (config api.tokenEnv); without one, a random token is made for this run
 * and written to <db>.token (mode 600, removed at shutdown), so the operator can still drive it. It is never printed:
 * stdout ends up in journals and CI logs.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { dashboardBuild } from '../api/dashboard.ts';
import { ConfigError, loadCalibration, loadDaemonConfig, resolveToken } from '../config/load.ts';
import { daemonUsage, parseDaemonArgs } from './daemon-args.ts';
import { startDaemonApp } from '../app/daemon-app.ts';
import { startFleet, type Fleet } from '../app/fleet.ts';
import { learningFromConfig, learningPlan, type Learning } from '../app/learning.ts';
import type { DaemonApp } from '../app/daemon-app.ts';
import type { RunningDaemon } from '../daemon/types.ts';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import type { RobotBackend } from '../robot/backend.ts';
import type { ThreadRos2Backend } from '../daemon/thread-protocol.ts';
import { runIfMain } from '../util/args.ts';

const DEFAULT_CONFIG = resolve(import.meta.dirname, '../../config/daemon.yaml');

/** Another robot backend than the simulated cell (the ROS 2 entry point, src/cli/ros2-daemon.ts, passes one). */
export interface BackendHook {
  /** Extra lines for --help. */
  usage: string;
  /** Either a backend on this thread (`backend`), or one the control thread builds itself (`threadBackend`). */
  create(
    config: DaemonConfig,
    calibration: Calibration,
  ): Promise<{
    backend?: RobotBackend;
    threadBackend?: ThreadRos2Backend;
    describe: string;
    attach(app: DaemonApp<RunningDaemon>): void;
    close(): Promise<void>;
  }>;
  /** Startup failures that are the operator's to fix (exit 2, like a config error). */
  refusal(e: unknown): boolean;
}

/** Tests: see the running daemon, and stop it without a signal. */
export interface RunHooks {
  started?(running: { app: DaemonApp<RunningDaemon>; learning: Learning | null }): void;
  /** Aborting it shuts the daemon down as SIGINT would. */
  stop?: AbortSignal;
}

/** The daemon until SIGINT/SIGTERM: token, models, learning, API and dashboard; the exit code. */
export async function runDaemon(argv: string[], hook: BackendHook | null = null, hooks: RunHooks = {}): Promise<number> {
  let app: Awaited<ReturnType<typeof startDaemonApp>>;
  let token: string;
  let tokenFile: string | null = null;
  let tokenEnv: string;
  let fleetCfg: { config: DaemonConfig['fleet']; robotId: string | null };
  let cfg: DaemonConfig;
  try {
    const args = parseDaemonArgs(argv, DEFAULT_CONFIG);
    if (args.help) {
      console.log(`${daemonUsage()}${hook ? `\n${hook.usage}` : ''}`);
      return 0;
    }
    const config = loadDaemonConfig(args.configFile, args.overrides);
    // backend.kind: ros2 in the config runs the ROS 2 node (as src/cli/ros2-daemon.ts does, with the config's backend.ros2).
    if (!hook && config.backend.kind === 'ros2') hook = (await import('./ros2-daemon.ts')).ros2Hook(null, process.env, args.configFile);
    learningPlan(config); // a bad learning section is refused before anything starts
    cfg = config;
    const calibration = loadCalibration(config.calibrationDir);
    tokenEnv = config.api.tokenEnv;
    fleetCfg = { config: config.fleet, robotId: config.robotId };
    const fromEnv = resolveToken(config);
    token = fromEnv ?? randomBytes(18).toString('base64url');
    console.log(`config: ${args.configFile}; calibration: ${config.calibrationDir}; log: ${config.db}`);
    const made = hook ? await hook.create(config, calibration) : null;
    try {
      app = await startDaemonApp({
        config,
        calibration,
        token,
        ...(made?.backend ? { backend: made.backend } : {}),
        ...(made?.threadBackend ? { threadBackend: made.threadBackend } : {}),
      });
    } catch (e) {
      await made?.close();
      throw e;
    }
    if (made) {
      made.attach(app);
      console.log(made.describe);
      const close = app.close.bind(app);
      app.close = async () => {
        await close();
        await made.close();
      };
    }
    if (fromEnv === null) {
      tokenFile = `${config.db === ':memory:' ? 'daemon' : config.db}.token`;
      try {
        // 'wx' never follows or overwrites a file someone planted; a stale one from a killed run is replaced.
        rmSync(tokenFile, { force: true });
        writeFileSync(tokenFile, `${token}\n`, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        await app.close();
        throw new Error(`cannot write the token file ${tokenFile}: ${(e as Error).message} (or set ${tokenEnv})`);
      }
    }
  } catch (e) {
    if (e instanceof ConfigError || hook?.refusal(e)) {
      console.error(`daemon: ${(e as Error).message}`);
      return 2;
    }
    console.error(`daemon: cannot start: ${(e as Error).message}`);
    return 1;
  }
  for (const n of app.notes) (n.startsWith('WARNING') ? console.error : console.log)(n);
  // Learning on the job (online IQL + hot-swap): on by default from the shipped offline checkpoint; --no-learning.
  const { learning, note } = learningFromConfig(app, cfg);
  console.log(note);
  if (learning) {
    const close = app.close.bind(app);
    app.close = async () => {
      await learning.close();
      await close();
    };
  }
  // Fleet (config fleet.enabled): ship the log to PostgreSQL, take the fleet learner's versions. Credentials from the
  // environment or fleet.credentialsFile; only user@host:port/database is printed.
  if (fleetCfg.config.enabled && fleetCfg.robotId !== null) {
    let fleet: Fleet;
    try {
      fleet = startFleet(app, { config: fleetCfg.config, robotId: fleetCfg.robotId });
    } catch (e) {
      console.error(`daemon: fleet: ${(e as Error).message}`);
      await app.close();
      return 1;
    }
    console.log(`fleet: shipping to ${fleet.view().target} (${fleet.view().source}) as robot ${fleetCfg.robotId}`);
    const close = app.close.bind(app);
    app.close = async () => {
      await fleet.close();
      await close();
    };
  }
  if (tokenFile) {
    const close = app.close.bind(app);
    const file = tokenFile;
    app.close = async () => {
      await close();
      rmSync(file, { force: true });
    };
  }
  const s = app.daemon.status();
  console.log(
    `backend: ${s.backend} (${s.realtime ? `${s.tickHz} Hz real time` : 'free-running'}); policy: ${s.policy.version ?? 'none (P-controller alone)'}; reward: ${s.reward.version ?? 'none'}`,
  );
  console.log(`API: ${app.url}  (OpenAPI: ${app.url}/openapi.json, status: ${app.url}/status, events: ${app.url}/events)`);
  if (app.estopUrl) console.log(`e-stop: curl -X POST ${app.estopUrl}   (its own thread; also POST ${app.url}/estop)`);
  const web = dashboardBuild();
  console.log(`dashboard: ${app.url}/${web.state === 'missing' ? '  (not built: run npm run build:web)' : ''}`);
  if (web.state === 'stale') console.warn(`warning: ${web.note}`);
  if (tokenFile) console.log(`token for this run: in ${tokenFile} (mode 600, removed at shutdown; set ${'$'}${tokenEnv} to choose one)`);
  const t = tokenFile ? `$(cat ${tokenFile})` : `$${'{'}${tokenEnv}${'}'}`;
  console.log(`try: curl -X POST -H "authorization: Bearer ${t}" -H 'content-type: application/json' -d '{"count":5}' ${app.url}/practice/start`);
  app.daemon.on(
    'episode',
    (e: { id: number; domain: string; outcome: string; reason: string | null; learnedSuccessProb: number | null; gtSuccess: boolean | null }) => {
      const p = e.learnedSuccessProb === null ? '-' : e.learnedSuccessProb.toFixed(2);
      console.log(
        `episode ${e.id} ${e.domain}: ${e.outcome}${e.reason ? ` (${e.reason})` : ''}; reward p=${p}; ground truth ${e.gtSuccess === null ? '-' : e.gtSuccess ? 'seated' : 'not seated'}`,
      );
    },
  );
  app.daemon.on('fault', (m: string) => console.error(`fault: ${m}`));

  let onSignal: ((sig: NodeJS.Signals) => void) | null = null;
  await new Promise<void>((done) => {
    let signals = 0;
    onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        console.error(`${sig} again: exiting without a clean shutdown`);
        process.exit(130);
      }
      console.log(`${sig}: stopping the arm, closing the episode, flushing the log...`);
      app
        .close()
        .then(() => {
          console.log('daemon stopped cleanly');
          done();
        })
        .catch((e: unknown) => {
          console.error(`shutdown error: ${(e as Error).message}`);
          process.exitCode = 1;
          done();
        });
    };
    const stop = onSignal;
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    hooks.started?.({ app, learning });
    if (hooks.stop?.aborted) stop('SIGINT');
    else hooks.stop?.addEventListener('abort', () => stop('SIGINT'), { once: true });
  });
  if (onSignal) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

runIfMain(import.meta.url, 'daemon', () => runDaemon(process.argv.slice(2)));
