/**
 * The flat .npz dataset read by an independent reader: Python's NumPy (np.load, no pickle), compared array by
 * array with the daemon's log (a real session on the simulated cell, test/export/fixture.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { exportNpz, NPZ_ARRAYS, NPZ_FORMAT } from '../../src/export/npz.ts';
import { Store } from '../../src/store/index.ts';
import type { TransitionRecord } from '../../src/store/types.ts';
import { tempDir } from '../daemon/helpers.ts';
import { loggedSession } from './fixture.ts';
import { teardown } from '../teardown.ts';

const tmp = tempDir('export-npz-');
const closeFile = teardown();
closeFile(tmp.cleanup);
const fx = await loggedSession(tmp.dir, { episodes: 3, steps: 5 });
const store = Store.openReadOnly(fx.db);
closeFile(() => store.close());

/** np.load in a Python process; arrays come back as JSON (NaN -> null), images as per-row sha256 of their bytes. */
const LOADER = `
import sys, json, hashlib, numpy as np
d = np.load(sys.argv[1], allow_pickle=False)
out = {'files': sorted(d.files), 'dtypes': {}, 'shapes': {}, 'values': {}}
for k in d.files:
    a = d[k]
    out['dtypes'][k] = a.dtype.str
    out['shapes'][k] = list(a.shape)
    if k == 'image':
        assert a.flags['C_CONTIGUOUS']
        out['values'][k] = [hashlib.sha256(a[i].tobytes()).hexdigest() for i in range(a.shape[0])]
    elif k == 'meta':
        out['values'][k] = json.loads(str(a))
    elif a.dtype.kind == 'U':
        out['values'][k] = a.tolist()
    else:
        v = a.astype(np.float64) if a.dtype.kind == 'f' else a
        out['values'][k] = [[None if x != x else x for x in r] if isinstance(r, list) else (None if r != r else r) for r in v.tolist()]
print(json.dumps(out))
`;

interface Loaded {
  files: string[];
  dtypes: Record<string, string>;
  shapes: Record<string, number[]>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON from Python, shape per member
  values: Record<string, any>;
}

function npLoad(file: string): Loaded {
  return JSON.parse(execFileSync('python3', ['-c', LOADER, file], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Loaded;
}

const f32 = (v: number | null | undefined): number | null => (v == null ? null : Math.fround(v));
const vec = (v: readonly number[] | null): (number | null)[] => (v == null ? [null, null, null] : v.map((x) => Math.fround(x)));

for (const compress of [false, true]) {
  test(`npz (${compress ? 'deflated' : 'stored'}) loads in NumPy and every array equals the log`, async () => {
    const out = join(tmp.dir, `s${compress ? 'c' : ''}.npz`);
    const s = await exportNpz({ store, sessionId: fx.sessionId, out, compress });
    const d = npLoad(out);
    const eps = store.listEpisodes({ sessionId: fx.sessionId, order: 'asc' });
    const rows: (TransitionRecord & { ep: number })[] = eps.flatMap((e) =>
      store.getEpisode(e.id, { transitions: true, images: true })!.transitions!.map((t) => ({ ...t, ep: e.id })),
    );
    const n = rows.length;
    assert.equal(s.rows, n);
    assert.deepEqual(d.files, Object.keys(NPZ_ARRAYS).sort());
    assert.deepEqual(d.shapes.image, [n, 64, 64, 3]);
    assert.equal(d.dtypes.image, '|u1');
    for (const k of ['wrench', 'ee_pos', 'ee_quat', 'goal', 'proprio', 'action_p', 'action_residual', 'action_executed', 'reward_prob'])
      assert.equal(d.dtypes[k], '<f4', k);
    assert.deepEqual(
      [d.dtypes.episode_id, d.dtypes.transition_id, d.dtypes.step, d.dtypes.next_index, d.dtypes.gt_success, d.dtypes.done, d.dtypes.tick_time],
      ['<i8', '<i8', '<i4', '<i4', '|i1', '|u1', '<f8'],
    );
    const v = d.values;
    rows.forEach((r, i) => {
      assert.equal(v.image[i], createHash('sha256').update(r.image!.data).digest('hex'), `image row ${i}`);
      assert.deepEqual(v.wrench[i], r.wrench.map(Math.fround));
      assert.deepEqual(v.ee_pos[i], vec(r.eePos));
      assert.deepEqual(v.ee_quat[i], r.eeQuat.map(Math.fround));
      assert.deepEqual(v.goal[i], vec(r.goal));
      // proprio = dx dy dz fx fy fz tx ty tz, computed in float64 and stored as float32.
      assert.deepEqual(v.proprio[i], [...[0, 1, 2].map((j) => Math.fround(r.eePos[j]! - r.goal[j]!)), ...r.wrench.map(Math.fround)]);
      assert.deepEqual(v.action_p[i], vec(r.actionP));
      assert.deepEqual(v.action_residual[i], vec(r.actionResidual));
      assert.deepEqual(v.action_executed[i], vec(r.actionExecuted));
      assert.equal(v.reward_prob[i], f32(r.rewardProb));
      assert.equal(v.gt_success[i], r.gtSuccess == null ? -1 : r.gtSuccess ? 1 : 0);
      assert.equal(v.done[i], r.done ? 1 : 0);
      assert.equal(v.is_transition[i], r.actionExecuted ? 1 : 0);
      assert.equal(v.episode_id[i], r.ep);
      assert.equal(v.step[i], r.step);
      assert.equal(v.transition_id[i], r.id);
      assert.equal(v.tick_time[i], r.tickTime);
      assert.equal(v.domain_names[v.domain_index[i]], eps.find((e) => e.id === r.ep)!.domain);
      const next = rows[i + 1];
      assert.equal(v.next_index[i], next && next.ep === r.ep && next.step === r.step + 1 ? i + 1 : -1);
    });
    assert.ok(rows.some((r) => r.rewardProb != null) && rows.some((r) => r.actionResidual?.some((x) => x !== 0)), 'the fixture logs rewards and residuals');
    const meta = v.meta;
    assert.equal(meta.format, NPZ_FORMAT);
    assert.equal(meta.session.id, fx.sessionId);
    assert.deepEqual(
      meta.episodes.map((e: { id: number }) => e.id),
      eps.map((e) => e.id),
    );
    assert.deepEqual(
      meta.episodes.map((e: { outcome: string }) => e.outcome),
      eps.map((e) => e.outcome),
    );
    assert.deepEqual(Object.keys(meta.arrays).sort(), d.files);
  });
}

test('npz: chosen episodes; an unknown session is refused', async () => {
  const eps = store.listEpisodes({ sessionId: fx.sessionId, order: 'asc' });
  const out = join(tmp.dir, 'two.npz');
  await exportNpz({ store, sessionId: fx.sessionId, episodeIds: [eps[0]!.id, eps[2]!.id], out });
  const d = npLoad(out);
  assert.deepEqual([...new Set(d.values.episode_id)], [eps[0]!.id, eps[2]!.id]);
  await assert.rejects(exportNpz({ store, sessionId: 7, out }), /no session 7/);
});
