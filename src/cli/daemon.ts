/**
 * The main job: the control daemon on the simulated cell, with the models the project ships (P-controller alone when
 * models/ has none), its REST API on 127.0.0.1, running until SIGINT/SIGTERM.
 *
 *   npx tsx src/cli/daemon.ts [--config config/daemon.yaml] [--port N] [--db FILE] [--tick-hz HZ] [--free-run] ...
 *
 * The bearer token comes from $DAEMON_TOKEN (config api.tokenEnv); without one, a random token is made for this run
 * and printed, so the operator can still drive it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_WEB_DIR } from '../api/dashboard.ts';
import { ConfigError, DAEMON_USAGE, loadCalibration, loadDaemonConfig, parseDaemonArgs, resolveToken } from '../config/load.ts';
import { startDaemonApp } from '../daemon/app.ts';
import { learningFromEnv } from '../trainer/attach.ts';

const DEFAULT_CONFIG = resolve(import.meta.dirname, '../../config/daemon.yaml');

async function main(): Promise<number> {
  let app: Awaited<ReturnType<typeof startDaemonApp>>;
  let token: string;
  let generated = false;
  try {
    const args = parseDaemonArgs(process.argv.slice(2), DEFAULT_CONFIG);
    if (args.help) {
      console.log(DAEMON_USAGE);
      return 0;
    }
    const config = loadDaemonConfig(args.configFile, args.overrides);
    const calibration = loadCalibration(config.calibrationDir);
    const fromEnv = resolveToken(config);
    generated = fromEnv === null;
    token = fromEnv ?? randomBytes(18).toString('base64url');
    console.log(`config: ${args.configFile}; calibration: ${config.calibrationDir}; log: ${config.db}`);
    app = await startDaemonApp({ config, calibration, token });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`daemon: ${e.message}`);
      return 2;
    }
    console.error(`daemon: cannot start: ${(e as Error).message}`);
    return 1;
  }
  for (const n of app.notes) console.log(n);
  // Background trainer (online IQL + hot-swap) when $TRAINER_CHECKPOINT names an offline IQL checkpoint.
  const learning = learningFromEnv(app, process.env);
  if (learning) {
    console.log(`background trainer: started from ${process.env.TRAINER_CHECKPOINT}`);
    const close = app.close;
    app.close = async () => {
      await learning.close();
      await close();
    };
  }
  const s = app.daemon.status();
  console.log(`backend: ${s.backend} (${s.realtime ? `${s.tickHz} Hz real time` : 'free-running'}); policy: ${s.policy.version ?? 'none (P-controller alone)'}; reward: ${s.reward.version ?? 'none'}`);
  console.log(`API: ${app.url}  (OpenAPI: ${app.url}/openapi.json, status: ${app.url}/status, events: ${app.url}/events)`);
  console.log(`dashboard: ${app.url}/${existsSync(join(DEFAULT_WEB_DIR, 'index.html')) ? '' : '  (not built: run npm run build:web)'}`);
  if (generated) console.log(`token for this run (set ${'$'}DAEMON_TOKEN to choose one): ${token}`);
  console.log(`try: curl -X POST -H 'authorization: Bearer <token>' -H 'content-type: application/json' -d '{"count":5}' ${app.url}/practice/start`);
  app.daemon.on('episode', (e: { id: number; domain: string; outcome: string; reason: string | null; learnedSuccessProb: number | null; gtSuccess: boolean | null }) => {
    const p = e.learnedSuccessProb === null ? '-' : e.learnedSuccessProb.toFixed(2);
    console.log(`episode ${e.id} ${e.domain}: ${e.outcome}${e.reason ? ` (${e.reason})` : ''}; reward p=${p}; ground truth ${e.gtSuccess === null ? '-' : e.gtSuccess ? 'seated' : 'not seated'}`);
  });
  app.daemon.on('fault', (m: string) => console.error(`fault: ${m}`));

  await new Promise<void>((done) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
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
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

process.exitCode = await main();
