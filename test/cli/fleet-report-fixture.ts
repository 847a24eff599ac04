/** A finished fleet run made by hand (two arms' real SQLite logs and fleet.json) for the report's test. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../src/store/index.ts';

export const T0 = 1_796_000_000_000;
export const FAULTS = [
  { t: 12.5, kind: 'pg' },
  { t: 47.5, kind: 'learner' },
];

/** Episode starts (ms after T0), ground truth and outcome per arm: exact halves (5/8, 3/8, 2.25 s) on purpose. */
export function writeRun(dir: string): void {
  const arms: Array<Array<[number, boolean | null, string, string | null]>> = [
    // arm-1: 8 episodes in the first 30 s window, 5 successes (0.625); then gaps 2.25 s and 2.35 s (median 2.3),
    // a tripped one, and one without a ground truth.
    [
      ...Array.from({ length: 8 }, (_, i): [number, boolean | null, string, string | null] => [
        1000 + 2000 * i,
        i < 5,
        i < 3 ? 'policy-iql-offline@1' : 'policy-iql-online@20',
        'success',
      ]),
      [31_000, true, 'policy-iql-online@40', 'success'],
      [33_250, false, 'policy-iql-online@40', 'tripped'],
      [35_600, null, 'policy-iql-online@40', 'aborted'],
      [70_000, true, 'policy-iql-online@60', 'success'],
    ],
    // arm-2: 8 in the first window, 3 successes (0.375); gaps of 2.25 s, even count.
    [
      ...Array.from({ length: 8 }, (_, i): [number, boolean | null, string, string | null] => [
        2000 + 2250 * i,
        i % 3 === 0,
        'policy-iql-online@20',
        i === 4 ? 'tripped' : 'failure',
      ]),
      [50_000, false, 'policy-iql-online@60', 'failure'],
      [52_250, true, 'policy-iql-online@60', 'success'],
    ],
  ];
  arms.forEach((eps, a) => {
    const s = Store.open(join(dir, `arm-${a + 1}.db`));
    const session = s.openSession({ robot: `arm-${a + 1}`, backend: 'sim', config: {}, calibration: {}, startedAt: T0 });
    // An eval episode: not practice, the report leaves it out.
    const ev = s.beginEpisode({ sessionId: session, kind: 'eval', domain: a ? 'dt12' : 'europlug', startedAt: T0 + 500 });
    s.endEpisode(ev, { outcome: 'success', gtSuccess: true, endedAt: T0 + 600 });
    for (const [at, gt, policy, outcome] of eps) {
      const ep = s.beginEpisode({ sessionId: session, kind: 'practice', domain: a ? 'dt12' : 'europlug', policyVersion: policy, startedAt: T0 + at });
      s.endEpisode(ep, { outcome: outcome as 'success', gtSuccess: gt, endedAt: T0 + at + 1500 });
    }
    s.close();
  });
  writeFileSync(join(dir, 'fleet.json'), JSON.stringify({ startedAt: T0, seconds: 60, faults: FAULTS }));
}
