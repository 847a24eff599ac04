/**
 * The operator's dashboard in real headless Chromium against a real daemon (simulated cell at 10 Hz real time, shipped
 * ONNX policy and reward, SQLite log, fastify on port 0). Every check of what the arm did reads the daemon, not the page.
 * Writes the product's pictures: docs/dashboard.png (1440 px wide) and docs/dashboard-800.png, mid-practice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { PolicyModel, RewardModel } from '../../src/policy/onnx-model.ts';
import { policyFromModel, rewardFromModel, versionOf } from '../../src/daemon/models.ts';
import { cardPathFor, readCard, sha256Hex } from '../../src/policy/card.ts';
import { startDaemonApp, type DaemonApp } from '../../src/app/daemon-app.ts';
import { loadCalibration, loadDaemonConfig } from '../../src/config/load.ts';
import type { DaemonConfig } from '../../src/config/schema.ts';
import { DaemonThread } from '../../src/daemon/thread.ts';
import type { RunningDaemon } from '../../src/daemon/types.ts';
import { rig, root, tempDir, TOKEN } from '../daemon/helpers.ts';
import { ensureWebBuilt, launchBrowser } from './browser.ts';
import { teardown } from '../teardown.ts';

ensureWebBuilt();

async function until<T>(what: string, f: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The product's daemon: the control loop in its own thread at 10 Hz real time, the shipped models, port 0. */
interface LiveRig {
  app: DaemonApp<RunningDaemon>;
  config: DaemonConfig;
  close: () => Promise<void>;
}

/**
 * As `npm start` runs it: the loop in the control thread, with the shipped deadman (Chromium beside it on the same 2
 * cores cost an in-process loop bursts of late ticks; bench/dashboard.bench.ts measures both).
 */
/** The shipped config on the control thread, its log and models in tmp, no nuisance or practice noise. */
function threadConfig(tmp: string, o: { realtime: boolean; episodeSteps: number }): DaemonConfig {
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), {
    port: 0,
    db: join(tmp, 'log.db'),
    modelsDir: join(tmp, 'models'),
    priority: null,
    controlThread: true,
    ...o,
  });
  config.backend.sim.nuisance = false;
  config.practice.explorationNoise = 0;
  return config;
}

async function liveRig(): Promise<LiveRig> {
  const tmp = tempDir('dash-live-');
  const config = threadConfig(tmp.dir, { realtime: true, episodeSteps: 20 });
  config.practice.examEvery = 2; // every other practice episode without noise: the learning card shows their rate
  const app = await startDaemonApp({
    config,
    calibration: loadCalibration(join(root, 'calibration')),
    token: TOKEN,
    policy: policyFromModel(await PolicyModel.load(join(root, 'models/policy.onnx'))),
    reward: rewardFromModel(await RewardModel.load(join(root, 'models/reward.onnx'))),
  });
  return {
    app,
    config,
    close: async () => {
      try {
        await app.close();
      } finally {
        tmp.cleanup();
      }
    },
  };
}

test('/ tells how to build the page when dist/web is missing, and the API still answers', async (t) => {
  const empty = tempDir('dash-empty-');
  const r = await rig({ listen: true });
  t.after(async () => {
    await r.close();
    empty.cleanup();
  });
  // A second app on the same daemon config would need a second cell; rebuild the routes instead: register on a fresh server.
  const { default: Fastify } = await import('fastify');
  const { LiveTap, registerDashboard } = await import('../../src/api/dashboard.ts');
  const app = Fastify();
  await registerDashboard(app, { daemon: r.app.daemon, store: r.app.log.store, live: new LiveTap(r.app.log), webDir: empty.dir });
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.equal(res.statusCode, 503);
  assert.match(res.headers['content-type'] as string, /text\/html/);
  assert.match(res.body, /npm run build:web/);
  assert.match(res.body, /not built/);
  const asset = await app.inject({ method: 'GET', url: '/assets/../../package.json' });
  assert.equal(asset.statusCode, 404, 'no path out of the web dir');
  await app.close();
  // The daemon's own server serves the built page.
  const page = await fetch(`${r.app.url}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<div id="app">/);
});

test('the dashboard in Chromium: live values, practice from the page, token refusal, e-stop within a tick', async (t) => {
  const defer = teardown(t);
  // Chromium first: a process started after the daemon pinned its main thread (config controlCpu) would inherit that
  // thread's CPUs; an operator's browser is no child of the daemon.
  const b = await launchBrowser({ width: 1440, height: 900 });
  defer(() => b.close());
  const r = await liveRig();
  defer(() => r.close());
  assert.ok(r.app.daemon instanceof DaemonThread, 'the loop runs in its own thread');
  const d = r.app.daemon;
  const url = r.app.url as string;
  const consoleErrors: string[] = [];
  const page: Page = await b.context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));

  await t.test('loads with no console errors and shows the daemon state', async () => {
    await page.goto(url, { waitUntil: 'load' });
    await until('state badge says idle', async () => (await page.textContent('[data-testid=state]')) === 'idle');
    await until('connectors listed', async () => (await page.locator('[data-testid=domain] option').count()) > 10);
    assert.equal(await page.textContent('[data-testid=policy-version]'), d.policyVersion);
    assert.deepEqual(consoleErrors, []);
  });

  await t.test('a state-changing action with a wrong token is refused and the page says so', async () => {
    await page.click('[data-testid=start]');
    await page.waitForSelector('[data-testid=token-input]');
    await page.fill('[data-testid=token-input]', 'not-the-token');
    await page.click('[data-testid=token-ok]');
    await page.waitForSelector('.notice.error');
    const text = await page.textContent('[data-testid=notices]');
    assert.match(text ?? '', /Start practice refused by the daemon \(403\): wrong bearer token/);
    assert.equal(d.status().practice, null, 'nothing started');
    assert.equal(d.currentState, 'idle');
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('insertion-daemon.token')"), null, 'the refused token is forgotten');
    // Cancelling the prompt sends nothing, and says why.
    await page.click('[data-testid=start]');
    await page.click('[data-testid=token-cancel]');
    await until('not-sent notice', async () =>
      /not sent\. This action needs the daemon's API token/.test((await page.textContent('[data-testid=notices]')) ?? ''),
    );
    assert.equal(d.status().practice, null);
    for (const b of await page.$$('.notice button')) await b.click();
    // Only the expected refusal reached the console (Chromium logs every 4xx response).
    assert.deepEqual(
      consoleErrors.filter((e) => !/status of 403/.test(e)),
      [],
    );
  });

  await t.test('starting practice from the page starts it on the daemon; the token stays out of URLs', async () => {
    const requests: string[] = [];
    page.on('request', (q) => requests.push(q.url()));
    await page.selectOption('[data-testid=domain]', 'europlug');
    await page.fill('[data-testid=count]', '40');
    await page.click('[data-testid=start]');
    await page.fill('[data-testid=token-input]', TOKEN);
    await page.click('[data-testid=token-ok]');
    const run = await until('the daemon practising', () => d.status().practice);
    assert.equal(run.count, 40);
    assert.equal(run.domain, 'europlug');
    assert.equal(run.scenario, 'II');
    // The noise field left empty: the daemon's own default applies (the page keeps no copy of it).
    assert.equal(run.explorationNoise, r.config.practice.explorationNoise);
    assert.ok(requests.length > 0 && requests.every((u) => !u.includes(TOKEN)), 'token never in a URL');
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('insertion-daemon.token')"), TOKEN);
  });

  await t.test('live values update while the simulator practises', async () => {
    const firstFrame = await until('a live frame', () => page.evaluate<number | null>('window.__dashboard?.firstFrameMs ?? null'));
    const seen = new Set<string>();
    const steps = new Set<string>();
    await until(
      'several distinct frames and step values',
      async () => {
        const src = await page.getAttribute('[data-testid=frame]', 'data-seq');
        if (src) seen.add(src);
        steps.add((await page.textContent('#camera .card-aside')) ?? '');
        return seen.size >= 4 && steps.size >= 4;
      },
      15_000,
      100,
    );
    assert.match((await page.textContent('[data-testid=reward-now]')) ?? '', /^\d\.\d\d$/, 'predicted reward shown');
    // The episode counter follows the daemon.
    await until('an episode finished', () => (d.status().practice?.done ?? 0) >= 1, 30_000);
    await until(
      'page counter matches the daemon',
      async () => Number(await page.textContent('[data-testid=episode-counter]')) === d.status().practice?.done,
      5000,
    );
    assert.ok(parseFloat((await page.textContent('[data-testid=p50]')) ?? '') > 0, 'tick timing shown');
    // The exams' rate (every 2nd practice episode runs without noise) as the daemon reports it.
    await until('an exam judged', () => (d.status().exams?.n ?? 0) >= 1, 60_000);
    await until(
      'the learning card shows the exams',
      async () => {
        const e = d.status().exams;
        const shown = (await page.textContent('[data-testid=exam-rate]')) ?? '';
        return e !== null && e.learnedSuccessRate !== null && shown === `${(e.learnedSuccessRate * 100).toFixed(0)} %`;
      },
      10_000,
      200,
    );
    console.log(`# first live frame ${firstFrame.toFixed(0)} ms after navigation start (page opened before practice; bench/dashboard.bench.ts measures it)`);
  });

  await t.test('a registered policy is validated and activated from the page; the swap history shows the validation', async () => {
    await until('an episode logged (probe observations for validation)', () => (d.status().practice?.done ?? 0) >= 1, 30_000);
    const path = join(root, 'models/policy.onnx');
    const card = readCard(cardPathFor(path));
    const id = r.app.log.store.registerModel({ kind: 'policy', version: versionOf(card), path, card, sha256: sha256Hex(readFileSync(path)) });
    await until('the page lists it', async () => (await page.locator(`#policy select option[value="${id}"]`).count()) === 1, 15_000, 200);
    await page.selectOption('#policy select', String(id));
    await page.click('#policy button:has-text("Validate and activate")');
    await until('active in the registry', () => r.app.log.store.activeModel('policy')?.id === id, 15_000);
    await until(
      'swap history row with its validation',
      async () => /activate[\s\S]*passed · \d+ probes/.test((await page.textContent('[data-testid=swap-history]')) ?? ''),
      15_000,
      200,
    );
  });

  await t.test('screenshots mid-practice at 1440 and 800 px', async () => {
    await until('four episodes finished', () => (d.status().practice?.done ?? 0) >= 4, 60_000);
    // A finished episode open in the scrubber, as an operator would look at one.
    await page.click('[data-testid=episodes] tbody tr:nth-child(2)');
    await page.waitForSelector('[data-testid=episode-viewer] img');
    const before = await page.getAttribute('[data-testid=episode-viewer] img', 'src');
    await page.locator('[data-testid=scrubber]').fill('12');
    await until('the scrubber moved the frame', async () => (await page.getAttribute('[data-testid=episode-viewer] img', 'src')) !== before);
    await until('running mid-episode', () => d.currentState === 'running' && (d.status().episode?.step ?? 0) >= 8, 20_000, 20);
    for (const x of await page.$$('.notice button')) await x.click(); // toasts would cover a panel
    mkdirSync(join(root, 'docs'), { recursive: true });
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(root, 'docs/dashboard.png'), fullPage: true });
    await page.setViewportSize({ width: 800, height: 1000 });
    await new Promise((res) => setTimeout(res, 400));
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    const wide = await page.evaluate<string[]>(`[...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .slice(0, 5)
      .map((e) => e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`);
    assert.ok(overflow <= 0, `no horizontal scrolling at 800 px (overflow ${overflow} px: ${wide.join(', ')})`);
    await page.evaluate('window.scrollTo(0, 0)');
    await until('running mid-episode', () => d.currentState === 'running' && (d.status().episode?.step ?? 0) >= 8, 20_000, 20);
    await page.screenshot({ path: join(root, 'docs/dashboard-800.png'), fullPage: true });
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await t.test('a replay of the session with a reward audit is started from the page, and its results are shown', async () => {
    const path = join(root, 'models/reward.onnx');
    const card = readCard(cardPathFor(path));
    r.app.log.store.registerModel({ kind: 'reward', version: versionOf(card), path, card, sha256: sha256Hex(readFileSync(path)) });
    await until(
      'the page lists the reward version',
      async () => (await page.locator(`[data-testid=replay-reward] option[value="${versionOf(card)}"]`).count()) === 1,
      15_000,
      200,
    );
    await page.selectOption('[data-testid=replay-reward]', versionOf(card));
    await page.click('[data-testid=replay-start]');
    await until(
      'replay job done on the daemon',
      async () => {
        const jobs = (await (await fetch(`${url}/replays`)).json()) as Array<{ state: string; error: string | null }>;
        assert.ok(
          jobs.every((j) => j.state !== 'failed'),
          `replay failed: ${jobs.map((j) => j.error).join('; ')}`,
        );
        return jobs[0]?.state === 'done';
      },
      60_000,
      200,
    );
    const job = (await (await fetch(`${url}/replays/1`)).json()) as {
      result: { overall: { episodes: number; sameOutcome: number }; audit: { replayed: { samples: number; fp: number } | null } };
    };
    const o = job.result.overall;
    assert.ok(o.episodes >= 4, `replayed the finished episodes (${o.episodes})`);
    await until(
      'the page shows the comparison',
      async () => ((await page.textContent('[data-testid=replay-result]')) ?? '').includes(`${o.sameOutcome}/${o.episodes}`),
      10_000,
      100,
    );
    const audit = job.result.audit?.replayed;
    assert.ok(audit && audit.samples > 0, 'the reward was audited on the replayed frames');
    const shown = (await page.textContent('[data-testid=audit-replayed]')) ?? '';
    assert.match(shown, new RegExp(`frames${audit.samples}`), 'frames audited shown');
    assert.match(shown, new RegExp(`false positives${audit.fp}`), 'false positives shown');
    assert.match((await page.textContent('[data-testid=replay-jobs]')) ?? '', /done/);
  });

  await t.test('the e-stop button stops the arm within a tick (checked on the daemon)', async () => {
    // The 40 episodes started from the page can be over by now (the subtests before took 160 s at load 20): then more.
    if (d.status().practice === null && d.currentState === 'idle') assert.ok(d.startPractice({ count: 5, scenario: 'II' }).ok);
    await until(
      `running mid-episode (state ${d.currentState}, e-stop ${JSON.stringify(d.status().safety.estop)})`,
      () => d.currentState === 'running',
      20_000,
      5,
    );
    const period = 1000 / r.config.tickHz;
    let at: { wall: number; controlTicks: number } | null = null;
    const onState = (s: string): void => {
      if (s === 'estopped' && !at) at = { wall: Date.now(), controlTicks: d.status().timing.controlTicks };
    };
    d.on('state', onState);
    await page.click('[data-testid=estop]');
    const hit = await until('the daemon e-stopped', () => at, 5000, 1);
    d.off('state', onState);
    assert.equal(d.status().safety.estop.engaged, true);
    assert.equal(d.status().practice, null, 'practice cancelled');
    const pose = d.status().lastPose;
    // Held: not one more commanded tick, for three periods.
    await new Promise((res) => setTimeout(res, 3 * period));
    assert.equal(d.status().timing.controlTicks, hit.controlTicks, 'no control tick after the e-stop');
    assert.deepEqual(d.status().lastPose, pose);
    assert.equal(d.currentState, 'estopped');
    await until('page shows it', async () => (await page.textContent('[data-testid=state]')) === 'estopped');
    assert.match((await page.textContent('[data-testid=last-trip]')) ?? '', /estop/);
    const sent = await page.evaluate<number | null>('window.__dashboard?.estopSentAt ?? null');
    assert.ok(sent !== null, 'the page recorded its press');
    const latency = hit.wall - sent;
    console.log(`# e-stop button press -> daemon e-stopped (arm held): ${latency} ms (tick period ${period} ms)`);
    assert.ok(latency < 1000, `press to held in ${latency} ms`);
    // The press went to the daemon's e-stop listener too (its own thread, /status extra.api.estopUrl), not only to the
    // API, whose thread may be busy, and the control thread confirmed it latched. (Not EstopStats.viaListener: which
    // path acknowledges the shared flag first, the listener's wake-up or a tick's poll, is a race that load decides;
    // the API's request and the listener's are in the same flag.)
    assert.ok(d instanceof DaemonThread);
    const presses = await until(
      'the e-stop listener took the press and it latched',
      () => (d.estopListenerPresses().latched >= 1 ? d.estopListenerPresses() : null),
      5000,
    );
    console.log(`# e-stop listener: ${presses.received} press(es), latched confirmed in ${presses.confirmMs.map((x) => x.toFixed(1)).join(', ')} ms`);
    // Reset with the token held from before.
    await page.click('#safety button:has-text("Reset e-stop")');
    await until('reset on the daemon', () => d.currentState === 'idle' && !d.status().safety.estop.engaged, 5000);
    assert.deepEqual(
      consoleErrors.filter((e) => !/status of 403/.test(e)),
      [],
    );
  });

  await t.test('seven tabs of one browser all go live (they share one event stream; Chromium allows 6 connections per host)', async () => {
    const more: Page[] = [];
    for (let i = 0; i < 6; i++) {
      const p = await b.context.newPage();
      await p.goto(url, { waitUntil: 'load', timeout: 15_000 });
      more.push(p);
    }
    for (const p of more) await until('tab shows the daemon state', async () => (await p.textContent('[data-testid=state]')) === d.currentState, 15_000, 100);
    const roles = await Promise.all([page, ...more].map((p) => p.evaluate<string>("window.__dashboard?.streamRole ?? 'none'")));
    assert.equal(roles.filter((x) => x === 'leader').length, 1, `one tab streams for all: ${roles.join(', ')}`);
    // A state change reaches every tab through the shared stream.
    d.estop('seven-tab test');
    for (const p of more) await until('tab sees the e-stop', async () => (await p.textContent('[data-testid=state]')) === 'estopped', 10_000, 100);
    await Promise.all(more.map((p) => p.close()));
  });
});

test('x* calibrated 5 mm too low: the control thread warns once, and /status and the learning card say so', async (t) => {
  const b = await launchBrowser({ width: 1440, height: 900 });
  const tmp = tempDir('dash-height-');
  const config = threadConfig(tmp.dir, { realtime: false, episodeSteps: 14 });
  config.labels.requests = false;
  const calibration = loadCalibration(join(root, 'calibration'));
  calibration.socket.offset = [0, 0, -0.005];
  // The shipped image reward calls a seated europlug seated; the P-controller alone seats it (scenario I).
  const app = await startDaemonApp({
    config,
    calibration,
    token: TOKEN,
    reward: rewardFromModel(await RewardModel.load(join(root, 'models/reward.onnx'))),
  });
  // One hook, in teardown order: the page before the daemon, the daemon before its folder.
  t.after(async () => {
    await b.close();
    await app.close();
    tmp.cleanup();
  });
  const d = app.daemon;
  assert.ok(d instanceof DaemonThread, 'the loop runs in its own thread');
  const page: Page = await b.context.newPage();
  await page.goto(app.url as string, { waitUntil: 'load' });
  assert.ok(d.startPractice({ count: 10, scenario: 'I', explorationNoise: 0, domain: 'europlug' }).ok);
  const w = await until('a warning in /status', () => d.status().warnings[0] ?? null, 120_000, 100);
  assert.equal(w.kind, 'height-refusals-cluster');
  assert.match(w.message, /x\* may be 5\.\d mm too low/);
  const text = await until('the learning card shows it', async () => page.textContent('[data-testid=daemon-warning]'), 20_000, 100);
  assert.equal(text, w.message);
  await until('practice over', () => d.currentState === 'idle' && d.status().practice === null, 120_000, 100);
  assert.equal(d.status().warnings.length, 1, 'once');
  assert.equal(app.log.store.listEvents({ kind: 'height_warning' }).length, 1);
});
