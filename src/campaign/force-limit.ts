/**
 * Force limit: a policy that pushes straight down as hard as the action rule lets it (residual -bound in z every
 * tick) toward a goal calibrated 3 cm below the socket and 4 mm beside it, so that the connector lands on the socket's
 * face and keeps pushing (a blocked socket). The force the wrist sensor reads after every motion command is recorded
 * (the daemon's own measure: |F| of the bias-corrected wrench); the limit must not be exceeded by more than 10 % for
 * more than one tick in a row, and the largest overshoot is reported. The simulated arm cannot push harder than about
 * 50 N, so the row runs with a tighter limit (30 N by default) that the push reaches.
 */
import type { Vec3 } from '../core/types.ts';
import type { ResidualPolicy } from '../daemon/interfaces.ts';
import { forceMagnitude } from '../daemon/safety.ts';
import { campaignRig } from './rig.ts';
import { RowBuilder, type Row } from './report.ts';

export function pushDownPolicy(boundM: number): ResidualPolicy {
  return {
    version: 'campaign-push-down@1',
    input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
    run: async (): Promise<Vec3> => [0, 0, -boundM],
  };
}

export async function forceLimit(o: { dir: string; episodes: number; limitN?: number; log?: (s: string) => void }): Promise<Row> {
  const row = new RowBuilder('force limit (pushing into a blocked socket)');
  const log = o.log ?? (() => undefined);
  const r = await campaignRig({
    dir: o.dir,
    startLoop: false,
    listen: false,
    overrides: { episodeSteps: 30, realtime: false },
    calibration: (c) => {
      c.socket.offset = [0.004, 0.004, -0.03];
      // The simulated arm's push saturates near 50 N, below the shipped 250 N: a tighter limit it can reach.
      c.limits.forceLimitN = o.limitN ?? 30;
    },
  });
  const d = r.app.daemon;
  const limit = r.calibration.limits.forceLimitN;
  // The wrench after every motion command, per episode (what the next tick's safety check will read).
  const forces: number[][] = [];
  let episodeId: number | null = null;
  const command = r.sim.command.bind(r.sim);
  r.sim.command = (delta: Vec3): void => {
    command(delta);
    const id = d.status().episode?.id ?? null;
    if (id !== episodeId || forces.length === 0) {
      forces.push([]);
      episodeId = id;
    }
    forces[forces.length - 1]?.push(forceMagnitude(r.sim.observe()));
  };
  try {
    await d.setPolicy(pushDownPolicy(r.calibration.limits.residualBoundM));
    if (!d.startPractice({ count: o.episodes, scenario: 'II', explorationNoise: 0 }).ok) throw new Error('practice did not start');
    for (let k = 0; k < o.episodes * 80 && d.status().practice !== null; k++) {
      await d.settle();
      await d.tick();
    }
    await r.app.log.flush();
  } catch (e) {
    row.crashed('force limit', e);
  }
  const eps = r.app.log.store.listEpisodes({ limit: 1000 });
  const tripped = eps.filter((e) => /force/.test(e.reason ?? '')).length;
  let maxF = 0;
  for (const [i, fs] of forces.entries()) {
    let run = 0;
    let worst = 0;
    for (const f of fs) {
      maxF = Math.max(maxF, f);
      run = f > 1.1 * limit ? run + 1 : 0;
      worst = Math.max(worst, run);
    }
    const peak = Math.max(0, ...fs);
    row.check(`episode ${i + 1}`, worst > 1 ? [`force above ${(1.1 * limit).toFixed(0)} N for ${worst} ticks in a row (peak ${peak.toFixed(0)} N)`] : []);
    log(`  episode ${i + 1}: peak ${peak.toFixed(1)} N over ${fs.length} commands`);
  }
  const overshoot = maxF / limit - 1;
  row.data.limitN = limit;
  row.data.maxForceN = maxF;
  row.data.maxOvershoot = overshoot;
  row.data.forceTrips = tripped;
  row.data.episodes = eps.map((e) => ({ outcome: e.outcome, reason: e.reason }));
  if (tripped === 0) row.failures.push('no episode reached the force limit: the push did not load the socket (test set-up)');
  await r.close();
  return row.done(
    `limit ${limit} N: peak ${maxF.toFixed(0)} N, maximum overshoot ${(overshoot * 100).toFixed(1)} % (allowed: > 10 % for at most one tick); ` +
      `${tripped}/${eps.length} episodes ended by the force limit`,
  );
}
