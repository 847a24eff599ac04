/**
 * E-stop under load: the daemon at 10 Hz on the simulated cell with the shipped models practising, the background
 * trainer training flat out (UTD 8), and a second process hammering the API over loopback (load-child.ts). E-stops
 * come from REST (POST /estop, no token) and from the robot's own state (the simulated cell's e-stop button, the
 * path a robot's state topic takes through the backend). Measured per trial: motion commands that reached the robot
 * after the request was sent (target: at most the tick already under way), the time from sending to the last of
 * them, the latch holding for a second, a reset refused while the robot's button is still pressed (REST and
 * in-process), and accepted once released. The ROS topic path is tested in test/ros2/daemon-estop.test.ts.
 */
import { join } from 'node:path';
import { startLearning } from '../app/learning.ts';
import { Rng } from '../util/rng.ts';
import { ROOT, startTs } from './proc.ts';
import { campaignRig, CAMPAIGN_TOKEN, rigTrainer } from './rig.ts';
import { pct, RowBuilder, sleep, until, type Row } from './report.ts';

export interface EstopLoadOptions {
  dir: string;
  trials: number;
  seed: number;
  trainer?: boolean;
  /** Fail the row on missed control ticks and on e-stops answered later than the tick under way (both depend on the
   *  control loop having its own thread, issue 12); otherwise they are measured and reported only. */
  strictTicks?: boolean;
  /** Clients of the load process (default 16). */
  concurrency?: number;
  log?: (s: string) => void;
}

export async function estopUnderLoad(o: EstopLoadOptions): Promise<Row> {
  const row = new RowBuilder('e-stop under load (REST + robot state)');
  const log = o.log ?? (() => undefined);
  const r = await campaignRig({ dir: o.dir, modelsDir: join(ROOT, 'models'), overrides: { episodeSteps: 20, realtime: true } });
  const d = r.app.daemon;
  const url = r.app.url ?? '';
  const period = 1000 / r.config.tickHz;
  const learning =
    (o.trainer ?? true)
      ? startLearning(r.app, {
          trainer: rigTrainer(r, o.dir, { utd: 8, seed: 2 }),
        })
      : null;
  const load = startTs('src/campaign/load-child.ts', [url, String(o.concurrency ?? 16), String(Math.max(30, o.trials * 2 * 6 + 40))]);
  const rng = new Rng(o.seed);
  const latency: number[] = [];
  const afterSend: number[] = [];
  let deadmanTrips = 0;
  const late: string[] = [];
  const t0timing = d.status().timing;
  const post = (path: string, token: boolean): Promise<Response> =>
    fetch(`${url}${path}`, { method: 'POST', headers: token ? { authorization: `Bearer ${CAMPAIGN_TOKEN}` } : {} });
  const running = async (): Promise<void> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (d.currentState === 'estopped') {
        if (d.status().safety.estop.source === 'internal:missed-ticks') deadmanTrips++;
        d.resetEstop();
      }
      if (d.status().practice === null) d.startPractice({ count: 1000, scenario: 'II', explorationNoise: 0.001 });
      try {
        const n = r.commands.length;
        await until(() => d.currentState === 'running' && r.commands.length >= n + 2, 20_000, 'practice to be moving', 5);
        return;
      } catch (e) {
        if (attempt === 2) throw e;
      }
    }
  };
  try {
    if (learning) await until(() => learning.supervisor.status().state === 'running', 120_000, 'the trainer', 100);
    await load.line(/^TICK \d+/, 30_000);
    for (let i = 0; i < o.trials * 2; i++) {
      const source = i % 2 === 0 ? 'rest' : 'robot';
      const label = `${source} e-stop ${Math.floor(i / 2) + 1}`;
      const problems: string[] = [];
      try {
        await running();
        await sleep(rng.uniform(0, period * 3)); // any phase of the tick
        const tSend = performance.now();
        if (source === 'rest') {
          const res = await post('/estop', false);
          if (res.status !== 200) problems.push(`POST /estop answered ${res.status}`);
        } else {
          r.sim.pressEstop('campaign-button');
        }
        const tAck = performance.now();
        await sleep(1000); // the latch must hold: ticks go on, nothing moves
        const after = r.commands.filter((c) => c.t >= tSend);
        afterSend.push(after.length);
        latency.push(after.length ? (after[after.length - 1] as { t: number }).t - tSend : 0);
        if (after.length > 1) (o.strictTicks ? problems : late).push(`${label}: ${after.length} motion commands after the e-stop was sent`);
        if (after.some((c) => c.t > tAck + 1)) problems.push('a motion command after the e-stop was acknowledged');
        if (d.currentState !== 'estopped') problems.push(`state ${d.currentState} a second later, not estopped`);
        if (source === 'robot') {
          const refused = await post('/estop/reset', true);
          if (refused.status < 400) problems.push(`REST reset accepted (${refused.status}) while the robot's e-stop is engaged`);
          if (d.resetEstop().ok) problems.push("reset accepted while the robot's e-stop is engaged");
          r.sim.releaseEstop();
        }
        const ok = await post('/estop/reset', true);
        if (ok.status !== 200) problems.push(`REST reset answered ${ok.status} once the source was clear`);
      } catch (e) {
        problems.push((e as Error).message);
      }
      row.check(label, problems);
      if (problems.length) log(`  ${label}: ${problems.join('; ')}`);
    }
  } finally {
    d.stopPractice();
    load.proc.kill('SIGTERM');
    await load.exited;
    await learning?.close();
  }
  const loadLine = load.lines.find((l) => l.startsWith('LOAD')) ?? load.lines.filter((l) => l.startsWith('TICK')).pop() ?? '';
  const tm = d.status().timing;
  const missed = tm.missedControl - t0timing.missedControl;
  const ticks = tm.controlTicks - t0timing.controlTicks;
  row.data.latencyMs = latency.map((x) => Math.round(x * 10) / 10);
  row.data.commandsAfterSend = afterSend;
  row.data.load = loadLine;
  row.data.missedControlTicks = missed;
  row.data.controlTicks = ticks;
  row.data.deadmanTrips = deadmanTrips;
  row.data.lateStops = late;
  if (o.strictTicks && missed > 0) row.failures.push(`${missed} missed control ticks of ${ticks}`);
  await r.close();
  const f = (x: number): string => (Number.isNaN(x) ? '-' : x.toFixed(1));
  return row.done(
    `send -> last motion command p50 ${f(pct(latency, 50))} ms, p99 ${f(pct(latency, 99))} ms, max ${f(Math.max(0, ...latency))} ms ` +
      `(tick ${period} ms); commands after send max ${Math.max(0, ...afterSend)} (${late.length ? `${late.length} late, not failed: not strict` : 'none late'}); latch held, reset refused while engaged; ` +
      `API load ${loadLine.replace(/^(LOAD|TICK) /, '')} req; missed control ticks ${missed} of ${ticks}`,
  );
}
