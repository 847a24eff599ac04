/**
 * The dashboard's cost on the control loop and how fast it shows the arm.
 *
 * Starts the real daemon (`src/cli/daemon.ts`, simulated cell at 10 Hz real time, shipped models, a temp log, no trainer as before learning was on by default) as its own
 * process, as an operator runs it, starts practice over REST, then:
 *   phase A: practice with no page open;
 *   phase B: the same with five dashboard tabs open in one headless Chromium (they share one /live stream);
 *   phase C: the same with five separate browser sessions (five /live streams, five frame fetchers);
 *   phase D: five page-like plain HTTP clients (five /live streams, frames at 5 Hz each), no browser: the daemon's side.
 * Figures: missed control ticks and the daemon process's CPU per phase; per page, ms from navigation start to the
 * first live camera frame on screen. Printed and written to bench/results/dashboard.json.
 *
 *   npx tsx bench/dashboard.bench.ts [--seconds 12] [--pages 5] [--in-process]     (about 4 x seconds + 20 s)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DaemonStatus } from '../src/daemon/loop.ts';
import type { Page } from 'playwright-core';
import { ensureWebBuilt, launchBrowser, launchIsolated } from '../test/web/browser.ts';
import { benchArgs, DASHBOARD } from './commands.ts';
import { writeResults } from './lib.ts';

const root = resolve(import.meta.dirname, '..');
const { seconds, pages, inProcess } = benchArgs(DASHBOARD);
const TOKEN = 'bench-dashboard-token';

ensureWebBuilt();
const tmp = mkdtempSync(join(tmpdir(), 'dash-bench-'));
// --in-process: the control loop on the daemon's main thread (controlThread false) instead of its own thread.
const child = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'src/cli/daemon.ts'), '--port', '0', '--db', join(tmp, 'log.db'), '--no-learning', ...(inProcess ? ['--in-process'] : [])],
  {
    cwd: root,
    env: { ...process.env, DAEMON_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const cleanup = (): void => {
  child.kill('SIGINT');
};
process.on('exit', () => {
  child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const url = await new Promise<string>((res, rej) => {
  let out = '';
  const timer = setTimeout(() => rej(new Error(`daemon did not print its API address in 60 s:\n${out}`)), 60_000);
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    const m = /API: (http:\/\/\S+)/.exec(out);
    if (m?.[1]) {
      clearTimeout(timer);
      res(m[1]);
    }
  });
  child.on('exit', (c) => rej(new Error(`daemon exited (${c}):\n${out}`)));
});
child.stdout.resume();

const status = async (): Promise<DaemonStatus> => (await (await fetch(`${url}/status`)).json()) as DaemonStatus;
/** utime + stime of the daemon process (ms). */
const cpuMs = (): number => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
};

/** utime + stime (ms) of every live descendant of this process except the daemon: the browsers. */
const browserCpuMs = (): number => {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      parent.set(Number(d), Number(f[1]));
      cpu.set(Number(d), ((Number(f[11]) + Number(f[12])) * 1000) / 100);
    } catch {
      // exited meanwhile
    }
  }
  let sum = 0;
  for (const [pid, ms] of cpu) {
    if (pid === child.pid) continue;
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === child.pid) break;
      if (p === process.pid) {
        sum += ms;
        break;
      }
    }
  }
  return sum;
};

const start = await fetch(`${url}/practice/start`, {
  method: 'POST',
  headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  body: JSON.stringify({ count: 100000, domain: 'europlug', scenario: 'II' }),
});
if (start.status !== 202) throw new Error(`practice/start: ${start.status} ${await start.text()}`);
await new Promise((r) => setTimeout(r, 3000)); // first episode under way, caches warm

interface Phase {
  pages: number;
  seconds: number;
  controlTicks: number;
  missedControl: number;
  missedControlBackend: number;
  daemonCpuMsPerS: number;
  /** CPU of the browser processes (all pages together; exited ones uncounted, so read before they close). */
  browserCpuMsPerS: number;
  computeP50Ms: number;
  computeP99Ms: number;
  jitterP99Ms: number;
  loadavg1: number;
}

let browserCpu: { start: number; end: number | null } = { start: 0, end: null };

async function phase(n: number, during: () => Promise<void>): Promise<Phase> {
  const s0 = await status();
  const c0 = cpuMs();
  const t0 = performance.now();
  browserCpu = { start: browserCpuMs(), end: null };
  await during();
  const browserEnd = browserCpu.end ?? browserCpuMs();
  const s1 = await status();
  const dt = (performance.now() - t0) / 1000;
  const { loadavg } = await import('node:os');
  return {
    pages: n,
    seconds: Math.round(dt * 10) / 10,
    controlTicks: s1.timing.controlTicks - s0.timing.controlTicks,
    missedControl: s1.timing.missedControl - s0.timing.missedControl,
    missedControlBackend: s1.timing.missedControlBackend - s0.timing.missedControlBackend,
    daemonCpuMsPerS: Math.round((cpuMs() - c0) / dt),
    browserCpuMsPerS: Math.round((browserEnd - browserCpu.start) / dt),
    // Over the status window (last 4096 ticks, so phase B's figures include phase A's ticks).
    computeP50Ms: s1.timing.computeMs.p50,
    computeP99Ms: s1.timing.computeMs.p99,
    jitterP99Ms: s1.timing.jitterMs.p99,
    loadavg1: loadavg()[0] ?? NaN,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
console.log(`daemon at ${url}; phase A: ${seconds} s of practice, no page`);
const a = await phase(0, () => sleep(seconds * 1000));

/** Opens `n` pages from `newPage`, records their first-frame figures, keeps them open until the phase ends. */
async function withPages(
  label: string,
  n: number,
  newPage: () => Promise<Page>,
): Promise<{ phase: Phase; firstFrameMs: number[]; firstStatusMs: number[]; roles: string[] }> {
  const firstFrameMs: number[] = [];
  const firstStatusMs: number[] = [];
  const roles: string[] = [];
  console.log(`${label}: ${seconds} s of practice with ${n} pages open`);
  const ph = await phase(n, async () => {
    const t0 = performance.now();
    const opened: Page[] = [];
    for (let i = 0; i < n; i++) {
      const p = await newPage();
      await p.goto(url, { waitUntil: 'load' });
      opened.push(p);
    }
    for (const p of opened) {
      const f = await p.waitForFunction('window.__dashboard?.firstFrameMs ?? null', undefined, { timeout: 20_000 });
      firstFrameMs.push(Math.round((await f.jsonValue()) as number));
      roles.push(await p.evaluate<string>("window.__dashboard?.streamRole ?? 'none'"));
      firstStatusMs.push(Math.round(await p.evaluate<number>('window.__dashboard?.firstStatusMs ?? NaN')));
    }
    await sleep(Math.max(0, seconds * 1000 - (performance.now() - t0)));
    const frames = await Promise.all(opened.map((p) => p.evaluate<number>('window.__dashboard?.frames ?? 0')));
    console.log(`  frames shown per page: ${frames.join(', ')}; stream roles: ${roles.join(', ')}`);
    browserCpu.end = browserCpuMs(); // before the pages close
    await Promise.all(opened.map((p) => p.close()));
  });
  return { phase: ph, firstFrameMs, firstStatusMs, roles };
}

// D first (no browser yet): what five pages ask of the daemon, from plain HTTP clients in this process: five /live
// streams read to the end and five frame fetchers at the page's 5 Hz. The daemon's side of the cost, without a
// browser competing for the cores.
console.log(`phase D: ${seconds} s of practice with ${pages} page-like HTTP clients (no browser)`);
const d = await phase(pages, async () => {
  const ac = new AbortController();
  let bytes = 0;
  let frames = 0;
  const stream = async (): Promise<void> => {
    const res = await fetch(`${url}/live`, { signal: ac.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      bytes += value.length;
    }
  };
  const fetcher = async (): Promise<void> => {
    while (!ac.signal.aborted) {
      const res = await fetch(`${url}/live/frame.png`, { signal: ac.signal });
      await res.arrayBuffer();
      frames++;
      await sleep(200);
    }
  };
  const tasks = Array.from({ length: pages }, () => [stream(), fetcher()])
    .flat()
    .map((t) => t.catch(() => undefined));
  await sleep(seconds * 1000);
  ac.abort();
  await Promise.all(tasks);
  console.log(`  streamed ${(bytes / 1024 / seconds).toFixed(1)} KiB/s to ${pages} clients; ${frames} frames fetched`);
});

// B: five tabs of one browser (they share one event stream); C: five separate browser sessions (five streams).
const tabs = await launchBrowser({ width: 1440, height: 900 });
let b: Awaited<ReturnType<typeof withPages>>;
try {
  b = await withPages('phase B (tabs of one browser)', pages, () => tabs.context.newPage());
} finally {
  await tabs.close();
}
const iso = await launchIsolated();
let c: Awaited<ReturnType<typeof withPages>>;
try {
  c = await withPages('phase C (separate browser sessions)', pages, async () => (await iso.newContext({ viewport: { width: 1440, height: 900 } })).newPage());
} finally {
  await iso.close();
}
cleanup();
const firstFrameMs = [...b.firstFrameMs, ...c.firstFrameMs];

const sorted = [...firstFrameMs].sort((x, y) => x - y);
const figures = {
  setup: {
    daemon: `src/cli/daemon.ts, simulated cell, 10 Hz real time, shipped policy and reward, nice -5, control loop ${inProcess ? 'on the main thread (--in-process)' : 'in its own thread'}`,
    practice: 'europlug, scenario II, 20 steps per episode',
    chromium: '/usr/bin/chromium headless, 1440x900',
  },
  phases: [
    { what: 'no page', ...a },
    { what: `${pages} tabs of one browser`, streamRoles: b.roles, ...b.phase },
    { what: `${pages} separate browser sessions`, streamRoles: c.roles, ...c.phase },
    { what: `${pages} page-like HTTP clients, no browser`, ...d },
  ],
  firstLiveFrameMs: { perPage: firstFrameMs, median: sorted[Math.floor(sorted.length / 2)] ?? null, max: sorted[sorted.length - 1] ?? null },
  firstStatusMs: { perPage: [...b.firstStatusMs, ...c.firstStatusMs] },
};
const file = writeResults('dashboard', figures);
console.log(
  `\n| pages open | seconds | control ticks | missed control ticks (of which after a slow robot step) | daemon CPU ms/s | browser CPU ms/s | load avg |`,
);
console.log(`|---|---|---|---|---|---|---|`);
for (const p of [a, d, b.phase, c.phase])
  console.log(
    `| ${p.pages}${p === b.phase ? ' tabs, one browser' : p === c.phase ? ' separate sessions' : p === d ? ' HTTP clients (no browser)' : ''} | ${p.seconds} | ${p.controlTicks} | ${p.missedControl} (${p.missedControlBackend}) | ${p.daemonCpuMsPerS} | ${p.browserCpuMsPerS} | ${p.loadavg1.toFixed(1)} |`,
  );
console.log(`\nfirst live frame on screen after navigation start (ms), per page: ${firstFrameMs.join(', ')} (median ${figures.firstLiveFrameMs.median})`);
console.log(`first status shown after navigation start (ms), per page: ${figures.firstStatusMs.perPage.join(', ')}`);
console.log(`written ${file}`);
process.exit(0);
