/**
 * Trainer faults beside a practising daemon (real simulated cell at 10 Hz, real SQLite, the real trainer child from
 * the shipped offline checkpoint, the real hot-swap path): the trainer crashes (SIGKILL), hangs (SIGSTOP: it keeps
 * its process and stops answering), and exports bad models (corrupt, truncated, wrong output shape, NaN outputs,
 * huge actions). The bad exports enter where the trainer's own exports do (the supervisor's 'export' event, which
 * app/learning.ts turns into a swap offer). Expected: practice goes on under the last good policy, every bad model is
 * refused with a recorded reason, the trainer is restarted after the crash and the hang. Missed control ticks are
 * counted over the whole row (they fail it only with `strictTicks`). `threaded`: the control loop in its own thread, as
 * `npm start` runs it (threadedRig); otherwise the in-process loop of the campaign rig.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startLearning } from '../app/learning.ts';
import { BAD_MODEL_KINDS, makeBadModel } from './bad-models.ts';
import { alive, ROOT } from './proc.ts';
import { DaemonThread } from '../daemon/thread.ts';
import { campaignRig, rigTrainer, threadedRig } from './rig.ts';
import { RowBuilder, sleep, until, type Row } from './report.ts';

export interface TrainerFaultOptions {
  dir: string;
  strictTicks?: boolean;
  /** The control loop in its own thread (the product); default: in process. */
  threaded?: boolean;
  log?: (s: string) => void;
}

export async function trainerFaults(o: TrainerFaultOptions): Promise<Row> {
  const row = new RowBuilder(`trainer faults (crash, hang, 5 bad exports; ${o.threaded ? 'control thread' : 'in-process loop'})`);
  const log = o.log ?? (() => undefined);
  const r = o.threaded
    ? await threadedRig({ dir: o.dir, overrides: { episodeSteps: 10 } })
    : await campaignRig({ dir: o.dir, modelsDir: join(ROOT, 'models'), overrides: { episodeSteps: 10, realtime: true } });
  const d = r.app.daemon;
  const learning = startLearning(r.app, {
    trainer: rigTrainer(r, o.dir, { seed: 1 }),
    supervisor: { backoffBaseMs: 300, backoffMaxMs: 2000, hangMs: 4000, startupMs: 90_000 },
  });
  const sup = learning.supervisor;
  const practice = { count: 100_000, scenario: 'II' as const, explorationNoise: 0.001 };
  let deadmanTrips = 0;
  let otherStops = 0;
  // Keeps practice going: a missed-tick deadman trip (a starved loop) is counted, reset and practice resumed.
  let keep = true;
  const keeper = (async () => {
    while (keep) {
      if (d.currentState === 'estopped') {
        const src = d.status().safety.estop.source ?? '';
        if (src === 'internal:missed-ticks') deadmanTrips++;
        else otherStops++;
        d.resetEstop();
      }
      if (d.currentState === 'idle' && d.status().practice === null) d.startPractice(practice);
      await sleep(100);
    }
  })();
  const goodVersion = d.policyVersion;
  const bad = new Set<string>();
  const timing0 = d.status().timing;
  try {
    await until(() => d.status().practice !== null, 10_000, 'practice to start');
    await until(() => sup.status().state === 'running', 120_000, 'the trainer to be ready', 100);
    await until(() => r.app.log.store.countTransitions() >= 40, 60_000, 'practice data for the swap probes', 100);

    // Crash.
    {
      const c0 = sup.status().crashes;
      const pid = sup.status().pid;
      sup.kill();
      const problems: string[] = [];
      try {
        await until(
          () => sup.status().crashes > c0 && sup.status().state === 'running' && sup.status().pid !== pid,
          120_000,
          'the restart after the crash',
          100,
        );
      } catch (e) {
        problems.push((e as Error).message);
      }
      row.check('trainer crash', problems);
      log(`  trainer crash: ${problems.length ? problems.join('; ') : `restarted (pid ${pid} -> ${sup.status().pid})`}`);
    }
    // Hang: SIGSTOP keeps the process and stops every answer.
    {
      const h0 = sup.hangs;
      const pid = sup.status().pid;
      const problems: string[] = [];
      if (pid === null) problems.push('no trainer pid to stop');
      else {
        process.kill(pid, 'SIGSTOP');
        try {
          await until(
            () => sup.hangs > h0 && sup.status().state === 'running' && sup.status().pid !== pid,
            150_000,
            'the hung trainer to be detected and restarted',
            100,
          );
          if (alive(pid)) problems.push(`the hung trainer ${pid} is still alive`);
          await r.app.log.flush();
          const ev = r.app.log.store.listEvents({ kind: 'trainer' }).filter((e) => /hung, killed/.test(e.message));
          if (ev.length === 0) problems.push('no trainer event records the hang');
        } catch (e) {
          problems.push((e as Error).message);
          if (alive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
      row.check('trainer hang (SIGSTOP)', problems);
      log(`  trainer hang: ${problems.length ? problems.join('; ') : `detected, restarted (pid ${pid} -> ${sup.status().pid})`}`);
    }
    // Bad exports.
    const good = join(ROOT, 'models/policy.onnx');
    const reasons: Record<string, string> = {};
    for (const [i, kind] of BAD_MODEL_KINDS.entries()) {
      const m = makeBadModel(good, join(o.dir, 'bad'), kind, 9000 + i);
      bad.add(m.version);
      const before = learning.swaps.stats.rejected;
      const swapsBefore = learning.swaps.stats.swaps;
      const problems: string[] = [];
      sup.emit('export', { path: m.path, version: m.version, modelId: -1 });
      try {
        await until(() => learning.swaps.stats.rejected > before || learning.swaps.stats.swaps > swapsBefore, 60_000, `the verdict on ${kind}`, 50);
        if (learning.swaps.stats.rejected === before) problems.push('accepted');
        reasons[kind] = learning.swaps.stats.lastRejection ?? '';
        await r.app.log.flush();
        const ev = r.app.log.store.listEvents({ kind: 'swap_rejected' }).filter((e) => e.message.includes(m.path) || e.message.includes(m.version));
        if (ev.length === 0) problems.push('no swap_rejected event names it');
        if (d.policyVersion !== null && bad.has(d.policyVersion)) problems.push(`${d.policyVersion} is driving`);
        if (d.status().policy.pendingSwap && bad.has(String((d.status().policy.pendingSwap as { version?: string }).version)))
          problems.push('a bad version is pending');
      } catch (e) {
        problems.push((e as Error).message);
      }
      row.check(`bad export: ${kind}`, problems);
      log(`  bad export ${kind}: ${problems.length ? problems.join('; ') : `refused: ${reasons[kind]?.slice(0, 120)}`}`);
    }
    row.data.reasons = reasons;
    // A few more episodes: nothing bad ever drove, control went on.
    const epsBefore = r.app.log.store.countTransitions();
    await until(() => r.app.log.store.countTransitions() >= epsBefore + 20, 60_000, 'practice to go on after the faults', 100);
  } catch (e) {
    row.crashed('trainer faults', e);
  } finally {
    keep = false;
    await keeper;
    d.stopPractice();
    await learning.close();
    await (d instanceof DaemonThread ? d.flushLog() : r.app.log.flush());
  }
  const eps = r.app.log.store.listEpisodes({ limit: 10_000 });
  const drivenByBad = eps.filter((e) => e.policyVersion !== null && bad.has(e.policyVersion));
  const timing = d.status().timing;
  const missed = timing.missedControl - timing0.missedControl;
  const ticks = timing.controlTicks - timing0.controlTicks;
  row.data.goodVersion = goodVersion;
  row.data.finalVersion = d.policyVersion;
  row.data.episodes = eps.length;
  row.data.missedControlTicks = missed;
  row.data.controlTicks = ticks;
  row.data.deadmanTrips = deadmanTrips;
  row.data.otherStops = otherStops;
  // Which ticks were missed and what they waited through (GC, model loads, the thread on or off its core): the row
  // alone says only how many.
  if (d instanceof DaemonThread) row.data.lateTicks = d.lateTicks().lateTicks;
  row.data.loadavg = loadavg();
  row.data.trainer = { starts: sup.status().starts, crashes: sup.status().crashes, hangs: sup.hangs, lastError: sup.status().lastError };
  row.data.swaps = learning.swaps.stats;
  if (drivenByBad.length) row.failures.push(`${drivenByBad.length} episode(s) driven by a bad model`);
  if (otherStops) row.failures.push(`${otherStops} e-stop(s) other than the missed-tick deadman`);
  if (o.strictTicks && missed > 0) row.failures.push(`${missed} missed control ticks of ${ticks} (deadman trips ${deadmanTrips})`);
  await r.close();
  return row.done(
    `bad models refused ${BAD_MODEL_KINDS.length - drivenByBad.length}/${BAD_MODEL_KINDS.length}; trainer restarts ${sup.status().starts - 1} (crash + hang); ` +
      `${eps.length} episodes, none by a bad model; missed control ticks ${missed} of ${ticks} (deadman trips ${deadmanTrips})`,
  );
}
