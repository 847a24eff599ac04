/** The dashboard's API routes on a real fastify server (port 0), a real daemon on the simulator and a real SQLite log. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { LiveStep } from '../../src/api/dashboard.ts';
import { loadConnectors } from '../../src/sim/connectors.ts';
import { logged, rig, tickUntil, type Rig } from '../daemon/helpers.ts';
import { readSse, type SseEvent } from './helpers.ts';

async function practice(r: Rig, episodes: number): Promise<void> {
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: episodes, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 400);
  await logged(r);
}

test('/live/steps and /live/frame.png show what the loop logged: same actions, same pixels', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  const none = await fetch(`${r.app.url}/live/frame.png`);
  assert.equal(none.status, 404);
  assert.match(((await none.json()) as { message: string }).message, /no control step logged yet/);
  await practice(r, 2);
  const live = (await (await fetch(`${r.app.url}/live/steps`)).json()) as { seq: number; steps: LiveStep[] };
  assert.equal(live.steps.length, 12, '2 episodes x 6 steps');
  assert.equal(live.seq, 12);
  const last = live.steps[live.steps.length - 1] as LiveStep;
  assert.equal(last.done, true);
  const ep = r.app.log.store.getEpisode(last.episodeId, { transitions: true, images: true });
  const row = ep?.transitions?.find((x) => x.step === last.step);
  assert.ok(row);
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs((last.actionP[i] as number) - (row.actionP?.[i] as number)) < 1e-6);
    assert.ok(Math.abs((last.actionExecuted[i] as number) - (row.actionExecuted?.[i] as number)) < 1e-6);
    assert.ok(Math.abs((last.wrench[i] as number) - (row.wrench[i] as number)) < 1e-4);
  }
  // Steps after a seq: only newer ones.
  const after = (await (await fetch(`${r.app.url}/live/steps?after=10`)).json()) as { steps: LiveStep[] };
  assert.deepEqual(
    after.steps.map((s) => s.seq),
    [11, 12],
  );
  assert.equal((await fetch(`${r.app.url}/live/steps?after=-1`)).status, 400);

  const res = await fetch(`${r.app.url}/live/frame.png`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  assert.equal(res.headers.get('x-live-seq'), '12');
  assert.equal(res.headers.get('x-episode-id'), String(last.episodeId));
  assert.equal(res.headers.get('x-step'), String(last.step));
  const png = await sharp(Buffer.from(await res.arrayBuffer()))
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.ok(row.image);
  assert.equal(png.info.width, row.image.width);
  assert.ok(Buffer.from(row.image.data).equals(png.data), 'the frame is the logged policy input, pixel for pixel');
});

test('/live: one stream carries status, step batches and episodes; many pages get the same serialised batches', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  const d = r.app.daemon;
  const url = `${r.app.url}/live`;
  const enough = (_e: string, _d: unknown, seen: SseEvent[]): boolean =>
    seen.some((e) => e.event === 'episode') &&
    seen.some((e) => e.event === 'frame') &&
    seen.filter((e) => e.event === 'steps').flatMap((e) => e.data).length >= 6 &&
    seen.some((e) => e.event === 'status' && e.data.lastEpisode !== null && e.data.state === 'idle');
  const readers = Array.from({ length: 5 }, () => readSse(url, enough));
  await new Promise((res) => setTimeout(res, 300)); // all five connected
  await practice(r, 1);
  const all = await Promise.all(readers);
  for (const seen of all) {
    assert.equal(seen[0]?.event, 'hello');
    assert.equal(seen[1]?.event, 'status', 'the current status right away');
    const steps = seen.filter((e) => e.event === 'steps').flatMap((e) => e.data as LiveStep[]);
    assert.deepEqual(
      steps.map((s) => s.step),
      [0, 1, 2, 3, 4, 5],
    );
    assert.ok(steps.every((s) => s.actionP.length === 3 && s.wrench.length === 6 && !('image' in s)));
    // Throttled to 5/s, but the newest status always goes out: the page sees the episode's end and 'idle'.
    assert.ok(seen.some((e) => e.event === 'status' && e.data.lastEpisode?.id === steps[0]?.episodeId && e.data.state === 'idle'));
  }
  assert.deepEqual(
    all.map((s) => s.filter((e) => e.event === 'steps').length),
    Array(5).fill(all[0]?.filter((e) => e.event === 'steps').length),
  );
  // The camera frame rides along as raw RGB, byte-equal to the logged policy input of its step.
  const frame = all[0]?.filter((e) => e.event === 'frame').at(-1)?.data as
    { episodeId: number; step: number; width: number; height: number; rgb: string } | undefined;
  assert.ok(frame, `a frame event in ${all[0]?.map((e) => e.event).join(' ')}`);
  await logged(r);
  const row = r.app.log.store.getEpisode(frame.episodeId, { transitions: true, images: true })?.transitions?.find((x) => x.step === frame.step);
  assert.ok(row?.image);
  assert.equal(frame.width * frame.height * 3, row.image.data.length);
  assert.ok(Buffer.from(frame.rgb, 'base64').equals(Buffer.from(row.image.data)));
  // The last page gone, the stream stops listening to the daemon.
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(d.listenerCount('episode'), 0);
});

test('/event-log lists what happened newest first; /connectors lists the cell connectors with the split', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  r.app.daemon.estop('test');
  await logged(r);
  const events = (await (await fetch(`${r.app.url}/event-log?limit=5`)).json()) as Array<{ id: number; kind: string; message: string }>;
  assert.ok(events.length >= 1);
  assert.equal(events[0]?.kind, 'estop');
  const only = (await (await fetch(`${r.app.url}/event-log?kind=estop`)).json()) as Array<{ kind: string }>;
  assert.ok(only.every((e) => e.kind === 'estop'));
  assert.equal((await fetch(`${r.app.url}/event-log?limit=0`)).status, 400);
  assert.equal((await fetch(`${r.app.url}/event-log?nope=1`)).status, 400);
  const c = (await (await fetch(`${r.app.url}/connectors`)).json()) as { connectors: Array<{ name: string; family: string; heldOut: boolean | null }> };
  assert.equal(c.connectors.length, loadConnectors().length);
  assert.ok(c.connectors.some((x) => x.name === 'europlug' && x.heldOut === true));
  assert.ok(c.connectors.some((x) => x.name === 'square16' && x.heldOut === false));
});
