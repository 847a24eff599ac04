/**
 * Sensor faults through the simulator (src/robot/sim-backend.ts injectFault) into the real daemon, ticks driven one
 * by one so that "within one tick" is counted in ticks: a stopped camera, a stopped wrench, frozen stamps with data
 * flowing, a NaN wrench, frames of the wrong size and of the wrong encoding. Each must latch the e-stop with a reason
 * that names it; motion commands after the fault is detectable must be at most one tick's; the latch must hold (no
 * motion, reset refused) while the fault persists, and after it clears hold until an explicit reset, after which
 * practice moves again.
 *
 * "Detectable": a NaN or a malformed frame at once; a stream that stops only once its age passes
 * `staleSensorMaxAgeS` (the watchdog cannot know earlier), so its reaction is counted from that moment.
 */
import type { SimFaults } from '../robot/sim-backend.ts';
import { campaignRig } from './rig.ts';
import { RowBuilder, type Row } from './report.ts';

interface Case {
  name: string;
  fault: SimFaults;
  /** Detectable only after the stale limit. */
  stale: boolean;
  reason: RegExp;
}

const CASES: Case[] = [
  { name: 'camera stops', fault: { freezeCamera: true }, stale: true, reason: /stale-camera/ },
  { name: 'wrench stops', fault: { freezeWrench: true }, stale: true, reason: /stale-wrench/ },
  { name: 'stamps freeze (data flowing)', fault: { frozenStamps: true }, stale: true, reason: /stale-(camera|wrench)/ },
  { name: 'NaN wrench', fault: { nanWrench: true }, stale: false, reason: /non-finite/ },
  { name: 'image of the wrong size', fault: { wrongImage: 'size' }, stale: false, reason: /observation.*camera frame is 32x32/ },
  {
    name: 'image of the wrong encoding (4 bytes/pixel)',
    fault: { wrongImage: 'encoding' },
    stale: false,
    reason: /observation.*camera frame 64x64 has 16384 bytes/,
  },
];

export async function sensorFaults(o: { dir: string; log?: (s: string) => void }): Promise<Row> {
  const row = new RowBuilder('sensor faults (simulator)');
  const log = o.log ?? (() => undefined);
  const reactions: Record<string, { ticksToLatch: number; commandsAfterDetectable: number; reason: string }> = {};
  for (const [i, c] of CASES.entries()) {
    const r = await campaignRig({ dir: `${o.dir}/s${i}`, startLoop: false, listen: false, overrides: { episodeSteps: 40, realtime: false } });
    const d = r.app.daemon;
    const state = (): string => d.currentState; // (read afresh: ticks change it)
    const problems: string[] = [];
    try {
      const tickHz = r.config.tickHz;
      const maxAge = r.calibration.limits.staleSensorMaxAgeS;
      if (!d.startPractice({ count: 3, scenario: 'II', explorationNoise: 0 }).ok) throw new Error('practice did not start');
      for (let k = 0; k < 100 && !(d.status().episode && (d.status().episode?.step ?? 0) >= 3); k++) {
        await d.settle();
        await d.tick();
      }
      if (state() !== 'running') throw new Error(`not running before the fault (${d.currentState})`);
      r.sim.injectFault(c.fault);
      const c0 = r.sim.commandsExecuted;
      const t0 = r.sim.clock();
      let ticks = 0;
      let afterDetectable = 0;
      while (state() !== 'estopped' && ticks < 50) {
        const before = r.sim.commandsExecuted;
        const detectable = !c.stale || r.sim.clock() - t0 > maxAge + 1e-9;
        await d.tick();
        ticks++;
        if (detectable) afterDetectable += r.sim.commandsExecuted - before;
      }
      const est = d.status().safety.estop;
      const reason = `${est.source ?? ''}: ${est.detail ?? ''}`;
      if (state() !== 'estopped') problems.push(`not stopped after ${ticks} ticks`);
      if (!c.reason.test(reason)) problems.push(`reason '${reason}' does not say ${String(c.reason)}`);
      // Within one tick of the fault being detectable: at most that tick's command, none for an instant fault.
      const allowed = c.stale ? 1 : 0;
      if (afterDetectable > allowed) problems.push(`${afterDetectable} motion command(s) after the fault was detectable (allowed ${allowed})`);
      if (!c.stale && ticks > 1) problems.push(`${ticks} ticks to latch`);
      const moved0 = r.sim.commandsExecuted;
      for (let k = 0; k < 5; k++) {
        await d.settle();
        await d.tick();
      }
      if (r.sim.commandsExecuted !== moved0) problems.push('moved while latched');
      const refused = d.resetEstop();
      if (refused.ok) problems.push('reset accepted while the fault persists');
      r.sim.clearFaults();
      for (let k = 0; k < 5; k++) {
        await d.settle();
        await d.tick();
      }
      if (r.sim.commandsExecuted !== moved0 || state() !== 'estopped') problems.push('resumed by itself once the fault cleared');
      const reset = d.resetEstop();
      if (!reset.ok) problems.push(`reset refused after the fault cleared: ${reset.reason}`);
      if (!d.startPractice({ count: 1, scenario: 'II', explorationNoise: 0 }).ok) problems.push('practice refused after the reset');
      for (let k = 0; k < 20 && r.sim.commandsExecuted === moved0; k++) {
        await d.settle();
        await d.tick();
      }
      if (r.sim.commandsExecuted === moved0) problems.push('did not move again after the reset');
      reactions[c.name] = { ticksToLatch: ticks, commandsAfterDetectable: afterDetectable, reason };
      log(
        `  ${c.name}: latched after ${ticks} tick(s) (${afterDetectable} commands once detectable, ${r.sim.commandsExecuted - c0} in all; tick ${1000 / tickHz} ms): ${reason}`,
      );
    } catch (e) {
      problems.push((e as Error).message);
    } finally {
      await r.close();
    }
    row.check(c.name, problems);
  }
  row.data.reactions = reactions;
  const maxAfter = Math.max(0, ...Object.values(reactions).map((x) => x.commandsAfterDetectable));
  return row.done(
    `${row.passed}/${row.tried} caught and latched with the reason; at most ${maxAfter} motion command after a fault was detectable ` +
      `(instant faults: same tick; stopped streams: the tick their age passes staleSensorMaxAgeS); reset refused while engaged, no self-resume`,
  );
}
