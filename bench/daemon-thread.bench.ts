/**
 * The control loop on the main thread vs in its own thread (config controlThread), side by side in one run, under the
 * same load: the background trainer (child process, online IQL at a high update-to-data ratio, its exports validated
 * and hot-swapped in), a CPU-hog process, and a main-thread blocker (busy loops of 0.5-1.5 x --block-ms every
 * --block-every-ms: what model validation, a large REST reply or a burst of event streaming does to the main thread).
 * The daemon runs the real simulated cell, a real SQLite log, and the ONNX policy + reward of the project's shape.
 *
 *   npx tsx bench/daemon-thread.bench.ts                       # 30 s per mode, trainer + hog + blocker
 *   npx tsx bench/daemon-thread.bench.ts --seconds 20 --rounds 2 --no-trainer --modes in-process,threaded
 *   node --single-threaded-gc --import tsx bench/daemon-thread.bench.ts --modes threaded   # as npm start runs the daemon
 *   INSERTION_CONTROL_CONCURRENT_RECOMPILATION=on ...   # concurrent TurboFan for the control thread (off by default: thread.ts)
 *   INSERTION_FORK_CEILING=off ...   # forks (the trainer's start, --spawn-every-ms) in the normal class (thread.ts)
 *
 * The control thread's late ticks are printed with what they waited through (its garbage collections, model loads:
 * DaemonThread.lateTicks); run one command with and one without --single-threaded-gc at the same time to compare
 * under the same load (the second writes daemon-thread-single-threaded-gc.json).
 *
 * Modes: in-process (controlThread false: the loop on the main thread, nice -5 as configured), threaded-no-rt (its own
 * thread at controlPriority nice, normal scheduling), threaded (the default: also controlRealtime SCHED_FIFO).
 *
 * Per mode: ticks, missed ticks (all, and during episodes: the figure that must be 0), tick start lateness (jitter)
 * p50/p99/max, tick compute p99, e-stops, trainer updates and swaps, the load average.
 *
 * E-stops (--estops N, in turn): an operator's client on another thread POSTs /estop while this (main) thread is
 * blocked for 0.5-1.5 x --block-ms, (a) to the e-stop listener's port (its own thread, api.estopPort; threaded modes)
 * and (b) to the API's port (the main thread's HTTP handling); (c) the daemon's estop() on this thread, then 100 ms
 * busy. For (a) and (b): send -> reply (the client's clock) and send -> latch (the control thread's clock, both
 * performance.timeOrigin-based); for (c) request -> latch. In process the latch needs the main thread.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, loadavg, setPriority, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { benchArgs, DAEMON_THREAD, DAEMON_THREAD_MODES } from './commands.ts';
import { summarize, writeResults, type Summary } from './lib.ts';
import { startDaemonApp } from '../src/app/daemon-app.ts';
import { startLearning, type Learning } from '../src/app/learning.ts';
import { loadCalibration, loadDaemonConfig } from '../src/config/load.ts';
import { loadPolicyFile, rewardFromModel } from '../src/daemon/models.ts';
import { controlConcurrentRecompilation, DaemonThread, forkCeilingWanted } from '../src/daemon/thread.ts';
import { DEFAULT_ONLINE } from '../src/online/trainer.ts';
import { RewardModel } from '../src/policy/onnx-model.ts';
import { withProcessCpus } from '../src/util/affinity.ts';
import { saveBenchModel } from './models.ts';

const args = benchArgs(DAEMON_THREAD);
const { seconds, rounds, blockMs, blockEveryMs: blockEvery, estops } = args;
/** V8's collector without helper threads (node --single-threaded-gc: a start-up flag; set later, V8 aborts mid-marking). */
const gcMode = process.execArgv.includes('--single-threaded')
  ? 'no-background-tasks' // V8's --single-threaded: also no concurrent compilation and no wasm tier-up jobs
  : process.execArgv.includes('--single-threaded-gc')
    ? 'single-threaded'
    : 'default';

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'daemon-thread-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const busy = (ms: number): void => {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    // the main thread is busy
  }
};

await tf.setBackend('cpu');
const policyPath = saveBenchModel(dir, 'policy');
// A second file of the same policy (another version on the card) for the activations.
const policyPath2 = saveBenchModel(dir, 'policy', { name: 'policy2', seed: 11, version: 2 });
const rewardPath = saveBenchModel(dir, 'reward');

let hog: ChildProcess | null = null;
if (args.hog) {
  // Time-limited, so that a bench killed before its exit handler leaves no hog behind: the whole run plus 5 minutes.
  const limitMs = (seconds * rounds * args.modes.length + 300) * 1000;
  hog = spawn(process.execPath, ['-e', `const end = Date.now() + ${limitMs}; while (Date.now() < end) {}`], { stdio: 'ignore' });
  if (hog.pid) setPriority(hog.pid, 0); // a neighbour at normal priority, whatever ours is
}
process.on('exit', () => hog?.kill('SIGKILL'));

/** An operator's client on its own thread: after `delayMs`, POST /estop; when it was sent and answered (absolute ms). */
const client = new Worker(
  `const { parentPort } = require('node:worker_threads');
   const now = () => performance.timeOrigin + performance.now();
   parentPort.on('message', async ({ url, delayMs, warm }) => {
     if (warm) {
       await fetch(warm).then((r) => r.text()).catch(() => undefined);
       parentPort.postMessage({ sentAt: 0, repliedAt: 0 });
       return;
     }
     await new Promise((r) => setTimeout(r, delayMs));
     const sentAt = now();
     const res = await fetch(url, { method: 'POST' });
     await res.text();
     parentPort.postMessage({ sentAt, repliedAt: now() });
   });`,
  { eval: true },
);
client.unref();
/** POST /estop from the client while this thread is blocked for `blockFor` ms (sent `delayMs` into the block). */
async function estopWhileBlocked(url: string, blockFor: number, delayMs: number): Promise<{ sentAt: number; repliedAt: number }> {
  const answer = new Promise<{ sentAt: number; repliedAt: number }>((resolve) => client.once('message', resolve));
  client.postMessage({ url, delayMs });
  busy(blockFor);
  return answer;
}

/** A thread's CPUs as the kernel lists them (/proc/<pid>/status Cpus_allowed_list; the main thread for a pid). */
const cpusOf = (pid: number): string | null => {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
};

const ms = (s: Summary): string => `p50 ${s.median.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms`;

type Mode = (typeof DAEMON_THREAD_MODES)[number];
const modes: readonly Mode[] = args.modes;

async function phase(mode: Mode, round: number): Promise<Record<string, unknown>> {
  const name = `${mode}-${round}`;
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), { port: 0, db: join(dir, `${name}.db`), realtime: true, modelsDir: join(dir, 'none') });
  config.controlThread = mode !== 'in-process';
  if (mode === 'threaded-no-rt') config.controlRealtime = null;
  if (args.controlPriority !== undefined) config.controlPriority = args.controlPriority;
  if (args.controlCpu !== undefined) config.controlCpu = args.controlCpu;
  if (args.controlWarmupTicks !== undefined) config.controlWarmupTicks = args.controlWarmupTicks;
  const calibration = loadCalibration(join(root, 'calibration'));
  // The daemon's whole life on CLOCK_MONOTONIC (ms), to place its late ticks and collections in it (--lives).
  const monoNow = (): number => Number(process.hrtime.bigint()) / 1e6;
  const lifeStartMono = monoNow();
  const app = await startDaemonApp({
    config,
    calibration,
    token: 'bench-token-123456',
    listen: true,
    startLoop: true,
    timingWindow: 1 << 16,
    policy: await loadPolicyFile(policyPath),
    reward: rewardFromModel(await RewardModel.load(rewardPath)),
  });
  const d = app.daemon;
  const readyMs = monoNow() - lifeStartMono;
  for (const n of app.notes) if (/priority|nice|CPU|warm/.test(n)) console.log(`  ${mode}: ${n}`);
  if (d instanceof DaemonThread !== config.controlThread) throw new Error(`${mode}: got the other kind of daemon`);
  let learning: Learning | null = null;
  if (args.trainer) {
    learning = startLearning(app, {
      trainer: {
        ...DEFAULT_ONLINE,
        db: app.log.store.file,
        startCheckpoint: join(root, 'models/iql-offline'),
        offlineDb: null,
        offlineDomains: [],
        workDir: join(dir, `trainer-${name}`),
        utd: args.utd,
        exportEvery: 100,
      },
      swap: { validation: { probeCount: 16, residualBoundM: 0.005, maxDiffM: 1, maxMeanDiffM: 1, onFlag: 'accept' } },
    });
  }
  let trainerCpus: string | null = null;
  const start = (): void => {
    const r = d.startPractice({ count: 1_000_000, scenario: 'II' });
    if (!r.ok) throw new Error(r.reason);
  };
  start();
  if (learning) {
    const t = performance.now();
    while (learning.supervisor.status().state !== 'running' && performance.now() - t < 90_000) await sleep(200);
    const pid = learning.supervisor.status().pid;
    if (pid) setPriority(pid, 0); // the trainer at normal priority (a child inherits ours)
    if (pid) trainerCpus = cpusOf(pid);
  }
  const mainCpus = cpusOf(process.pid);
  // The control thread's allocation meter (absent on a tree from before it: the bench runs on both, side by side).
  const heapOf = (): ReturnType<DaemonThread['heap']> | null =>
    d instanceof DaemonThread && typeof (d as { heap?: unknown }).heap === 'function' ? d.heap() : null;
  const heap0 = heapOf();
  const t0Status = d.status();
  const u0 = learning?.supervisor.status().updatesTotal ?? 0;
  const load0 = loadavg();
  const blocks: number[] = [];
  const blocker = setInterval(() => {
    const b = blockMs * (0.5 + Math.random());
    blocks.push(b);
    busy(b);
  }, blockEvery);
  // E-stop trials (see the header): the listener's port and the API's, each sent while this thread is blocked, and the
  // daemon's estop() here. Then check, reset, practise on.
  const estopLatency: number[] = [];
  const kinds = d instanceof DaemonThread && app.estopUrl ? (['listener', 'api', 'call'] as const) : (['api', 'call'] as const);
  const rest = { listener: { roundTrip: [] as number[], toLatch: [] as number[] }, api: { roundTrip: [] as number[], toLatch: [] as number[] } };
  let estopNotLatched = 0;
  // Policy activations as REST does them (load on this thread, then setPolicy between ticks), alternating two files.
  const activationMs: number[] = [];
  let activations = 0;
  let swapBusy = false;
  const swapper = setInterval(() => {
    if (swapBusy) return;
    swapBusy = true;
    const t = performance.now();
    void loadPolicyFile(activations % 2 === 0 ? policyPath2 : policyPath)
      .then((p) => d.setPolicy(p, { at: 'between-ticks' }))
      .then(async (old) => {
        await old?.dispose?.();
        activations++;
        activationMs.push(performance.now() - t);
      })
      .finally(() => {
        swapBusy = false;
      });
  }, args.swapEveryMs);
  // Child processes started from the main thread (--spawn-every-ms), as the daemon starts its trainer: node forks the
  // whole process (libuv's fork), and the time each spawn() call held the main thread (fork, then the child's exec).
  const spawnMs: number[] = [];
  const spawner =
    args.spawnEveryMs > 0
      ? setInterval(() => {
          const t = performance.now();
          withProcessCpus(() => spawn('/bin/true', [], { stdio: 'ignore' }));
          spawnMs.push(performance.now() - t);
        }, args.spawnEveryMs)
      : null;
  // The client's HTTP stack loads lazily (about 250 ms on its first request): not part of any e-stop.
  await new Promise((resolve) => {
    client.once('message', resolve);
    client.postMessage({ warm: `${app.url}/status` });
  });
  const t0 = performance.now();
  for (let k = 0; k < estops; k++) {
    await sleep(((seconds * 1000) / (estops + 1)) * (0.6 + 0.8 * Math.random()));
    const kind = kinds[k % kinds.length] ?? 'call';
    if (kind === 'call') {
      d.estop(`bench trial ${k}`);
      busy(100);
    } else {
      const block = blockMs * (0.5 + Math.random());
      const url = kind === 'listener' ? (app.estopUrl ?? '') : `${app.url}/estop`;
      const r = await estopWhileBlocked(url, block, block * 0.6 * Math.random());
      rest[kind].roundTrip.push(r.repliedAt - r.sentAt);
      const latchedAt = d instanceof DaemonThread ? d.estopStats().lastLatchedAt : null;
      if (latchedAt !== null) rest[kind].toLatch.push(latchedAt - r.sentAt);
    }
    await sleep(50);
    if (d.status().state !== 'estopped') estopNotLatched++;
    if (d instanceof DaemonThread && kind === 'call') {
      const l = d.estopStats().latencyMs.at(-1);
      if (l !== undefined) estopLatency.push(l);
    }
    const r = d.resetEstop();
    if (!r.ok) throw new Error(`reset refused: ${r.reason}`);
    start();
  }
  while (performance.now() - t0 < seconds * 1000) await sleep(200);
  clearInterval(blocker);
  clearInterval(swapper);
  if (spawner) clearInterval(spawner);
  const wall = (performance.now() - t0) / 1000;
  const heap1 = heapOf(); // first: the calls below (timing samples) allocate on the control thread
  const st = d.status();
  const load1 = loadavg();
  const smp = d.timingSamples();
  const fromTick = (arr: Float64Array, n0: number, n1: number): Float64Array => arr.slice(Math.max(0, arr.length - (n1 - n0)));
  const jitter = summarize(fromTick(smp.jitter, t0Status.timing.ticks, st.timing.ticks));
  const compute = summarize(fromTick(smp.compute, t0Status.timing.controlTicks, st.timing.controlTicks));
  const simStep = summarize(fromTick(smp.backend, t0Status.timing.controlTicks, st.timing.controlTicks));
  const infer = summarize(fromTick(smp.infer, t0Status.timing.controlTicks, st.timing.controlTicks));
  const late = d instanceof DaemonThread ? d.lateTicks() : null;
  const heap =
    heap0 && heap1
      ? {
          ticks: heap1.ticks - heap0.ticks,
          heapBytesPerTick: (heap1.heapBytes - heap0.heapBytes) / Math.max(1, heap1.ticks - heap0.ticks),
          externalBytesPerTick: (heap1.externalBytes - heap0.externalBytes) / Math.max(1, heap1.ticks - heap0.ticks),
          collections: heap1.sincePrevious,
          maxPauseMs: Math.max(0, ...Object.values(heap1.sincePrevious).map((c) => c.maxMs)),
        }
      : null;
  // The shared-memory rings (absent on a tree from before them: the bench runs on both, side by side).
  const rings = d instanceof DaemonThread && typeof (d as { ringStats?: unknown }).ringStats === 'function' ? d.ringStats() : null;
  const life = late ? lifeOf(late, smp, st, lifeStartMono, readyMs) : null;
  const updates = (learning?.supervisor.status().updatesTotal ?? 0) - u0;
  const swaps = learning?.swaps.stats ?? null;
  d.stopPractice();
  await learning?.close();
  await app.close();
  const f = {
    mode,
    wallSeconds: wall,
    ticks: st.timing.ticks - t0Status.timing.ticks,
    controlTicks: st.timing.controlTicks - t0Status.timing.controlTicks,
    missed: st.timing.missed - t0Status.timing.missed,
    missedControl: st.timing.missedControl - t0Status.timing.missedControl,
    missedControlAfterSlowSimStep: st.timing.missedControlBackend - t0Status.timing.missedControlBackend,
    jitterMs: jitter,
    computeMs: compute,
    simStepMs: simStep,
    inferMs: infer,
    estop: {
      trials: estops,
      notLatched: estopNotLatched,
      callRequestToLatchMs: d instanceof DaemonThread ? summarize(estopLatency) : 'synchronous on the main thread (when it is free)',
      callRequestToLatchSamples: estopLatency,
      whileMainBlocked: Object.fromEntries(
        Object.entries(rest).map(([k, v]) => [
          k,
          { sendToReplyMs: summarize(v.roundTrip), sendToLatchMs: summarize(v.toLatch), sendToReplySamples: v.roundTrip, sendToLatchSamples: v.toLatch },
        ]),
      ),
    },
    mainThreadBlocks: { n: blocks.length, totalMs: blocks.reduce((a, b) => a + b, 0) },
    policyActivations: { n: activations, loadToLiveMs: summarize(activationMs) },
    spawns: { everyMs: args.spawnEveryMs, n: spawnMs.length, callMs: summarize(spawnMs) },
    trainer: learning ? { updates, updatesPerSecond: updates / wall, swaps: swaps?.swaps ?? 0, rejected: swaps?.rejected ?? 0 } : null,
    gc: gcMode,
    lateTicks: late,
    life,
    controlThreadHeap: heap,
    channel: rings ? 'shared-memory rings' : 'MessagePort',
    rings,
    execArgv: process.execArgv.filter((a) => a.startsWith('--') && a !== '--import'),
    controlConcurrentRecompilation: config.controlThread ? controlConcurrentRecompilation() : null,
    forkCeiling: config.controlThread ? forkCeilingWanted() : null,
    loadavg: { start: load0, end: load1 },
    nice: getPriority(0),
    controlPriority: config.controlThread ? config.controlPriority : null,
    controlRealtime: config.controlThread ? config.controlRealtime : null,
    controlCpu: config.controlThread ? config.controlCpu : null,
    controlWarmupTicks: config.controlThread ? config.controlWarmupTicks : null,
    warmup: d instanceof DaemonThread && 'warmup' in d ? d.warmup : null,
    cpus: { main: mainCpus, trainer: trainerCpus, notes: app.notes.filter((n) => /CPU/.test(n)) },
  };
  console.log(
    `${mode.padEnd(14)} round ${round}: ${f.ticks} ticks, missed ${f.missed} (during episodes ${f.missedControl}, ${f.missedControlAfterSlowSimStep} after a sim step > 50 ms); tick lateness ${ms(jitter)}; compute p99 ${compute.p99.toFixed(2)} ms, sim step p99 ${simStep.p99.toFixed(1)} ms; ` +
      `e-stop with the main thread blocked: ${Object.entries(rest)
        .filter(([, v]) => v.roundTrip.length)
        .map(
          ([k, v]) =>
            `${k} port send -> reply ${ms(summarize(v.roundTrip))}${v.toLatch.length ? `, send -> latch ${ms(summarize(v.toLatch))}` : ''} (${v.roundTrip.length})`,
        )
        .join(
          '; ',
        )}; ${d instanceof DaemonThread ? `estop() request -> latch ${ms(summarize(estopLatency))}; ` : ''}${estopNotLatched} not latched; main thread blocked ${blocks.length}x, ${(f.mainThreadBlocks.totalMs / 1000).toFixed(1)} s; ${activations} policy activations (load -> live p50 ${summarize(activationMs).median.toFixed(0)} ms); ${spawnMs.length ? `${spawnMs.length} spawns (call ${ms(summarize(spawnMs))}); ` : ''}` +
      `${f.trainer ? `trainer ${updates} updates (${f.trainer.updatesPerSecond.toFixed(1)}/s), ${f.trainer.swaps} swaps; ` : ''}load ${load0.map((x) => x.toFixed(1)).join('/')} -> ${load1.map((x) => x.toFixed(1)).join('/')}`,
  );
  if (heap) {
    console.log(
      `  ${mode}: control thread allocated ${(heap.heapBytesPerTick / 1024).toFixed(1)} kB/tick on its heap, ${(heap.externalBytesPerTick / 1024).toFixed(1)} kB/tick outside it; collections ` +
        Object.entries(heap.collections)
          .map(([k, c]) => `${k} ${c.count}x (total ${c.totalMs.toFixed(0)} ms, max ${c.maxMs.toFixed(1)} ms)`)
          .join(', '),
    );
  }
  if (late) {
    const withGc = late.lateTicks.filter((t) => (t.gc?.ms ?? 0) > 0);
    console.log(
      `  ${mode} (gc ${gcMode}): control thread GC ${late.gc.count} collections, ${late.gc.totalMs.toFixed(0)} ms, ${late.gc.over10Ms.length} of >= 10 ms; ` +
        `model loads on the control thread ${late.modelLoadMs.length}, ms ${ms(summarize(late.modelLoadMs))}; ` +
        `${late.lateTicks.length} late ticks kept, ${withGc.length} waited through a GC: ` +
        late.lateTicks
          .map(
            (t) =>
              `[late ${t.lateMs.toFixed(0)} skip ${t.skipped} prev ${t.prevTickMs.toFixed(0)} (sim ${t.prevBackendMs.toFixed(0)} infer ${t.prevInferMs.toFixed(0)}) gc ${t.gc?.ms.toFixed(0) ?? '-'} model loads ${t.modelLoads ?? '-'}` +
              ` timer late ${t.timerLateMs?.toFixed(1) ?? '-'} spin ${t.spinMs?.toFixed(1) ?? '-'}` +
              (t.thread
                ? ` | run ${t.thread.runMs.toFixed(1)} run-queue ${t.thread.runQueueMs.toFixed(1)} off-cpu ${t.thread.offCpuMs.toFixed(1)} loop idle ${t.thread.loopIdleMs.toFixed(1)} busy ${t.thread.loopActiveMs.toFixed(1)} faults ${t.thread.minflt}/${t.thread.majflt} csw ${t.thread.vcsw}/${t.thread.nvcsw} steal ${t.thread.stealMs} (cpu${t.thread.cpu} ${t.thread.stealOnCpuMs})`
                : '') +
              ` at ${(t.startedAt + late.monotonicOffsetMs).toFixed(1)}]`,
          )
          .join(' '),
    );
  }
  if (life) {
    console.log(
      `  ${mode} life: ready ${life.readyMs.toFixed(0)} ms after start; missed ${life.missed} (control ${life.missedControl}) of ${life.ticks} ticks; lateness max ${life.maxLatenessMs.toFixed(1)} ms at ~${(life.maxLatenessAtMs / 1000).toFixed(1)} s; ` +
        `first 300 ticks compute p99 ${(life.first300Ticks as { compute: Summary }).compute.p99.toFixed(1)} max ${(life.first300Ticks as { compute: Summary }).compute.max.toFixed(1)} ms (after: p99 ${(life.afterThem as { compute: Summary }).compute.p99.toFixed(1)} max ${(life.afterThem as { compute: Summary }).compute.max.toFixed(1)} ms); ` +
        `collections >= 10 ms: ${life.longCollections.map((c) => `${c.kind} ${c.ms.toFixed(1)} ms at ${(c.atMs / 1000).toFixed(1)} s`).join(', ') || 'none'}; ` +
        `late ticks: ${life.lateTicks.map((t) => `${t.lateMs.toFixed(0)} ms at ${(t.atMs / 1000).toFixed(1)} s (gc ${t.gcMs.toFixed(0)}, off-cpu ${t.offCpuMs?.toFixed(0) ?? '-'}, run-queue ${t.runQueueMs?.toFixed(0) ?? '-'}, vcsw ${t.vcsw ?? '-'}, steal ${t.stealMs ?? '-'}, sim ${t.prevSimMs.toFixed(0)})`).join(', ') || 'none'}`,
    );
  }
  return f;
}

/**
 * The daemon's whole life, from the call that started it (start-up included, where the rare long stalls were): its
 * missed ticks, its largest tick lateness and when, its collections of 10 ms or more and its late ticks, each placed in
 * seconds since that call.
 */
function lifeOf(
  late: ReturnType<DaemonThread['lateTicks']>,
  smp: ReturnType<DaemonThread['timingSamples']>,
  st: ReturnType<DaemonThread['status']>,
  lifeStartMono: number,
  readyMs: number,
): Record<string, unknown> & {
  readyMs: number;
  missed: number;
  missedControl: number;
  ticks: number;
  maxLatenessMs: number;
  maxLatenessAtMs: number;
  longCollections: { kind: string; ms: number; atMs: number }[];
  lateTicks: {
    lateMs: number;
    atMs: number;
    gcMs: number;
    offCpuMs: number | null;
    runQueueMs: number | null;
    stealMs: number | null;
    vcsw: number | null;
    prevSimMs: number;
  }[];
} {
  const jitter = smp.jitter;
  const at = (controlMs: number): number => controlMs + late.monotonicOffsetMs - lifeStartMono;
  // The first control ticks (where a cold thread compiles) against the rest: compute and lateness.
  const FIRST = 300;
  const early = { compute: summarize(smp.compute.slice(0, FIRST)), lateness: summarize(jitter.slice(0, FIRST)) };
  const later = { compute: summarize(smp.compute.slice(FIRST)), lateness: summarize(jitter.slice(FIRST)) };
  let maxI = 0;
  for (let i = 1; i < jitter.length; i++) if ((jitter[i] ?? 0) > (jitter[maxI] ?? 0)) maxI = i;
  // The ticks' window holds the whole life (timingWindow 65,536 ticks); tick i starts about i periods after 'ready'.
  const periodMs = 1000 / st.tickHz;
  return {
    readyMs,
    ticks: st.timing.ticks,
    missed: st.timing.missed,
    missedControl: st.timing.missedControl,
    maxLatenessMs: jitter[maxI] ?? 0,
    maxLatenessAtMs: readyMs + maxI * periodMs,
    longCollections: late.gc.over10Ms.map((c) => ({ kind: c.kind, ms: c.ms, atMs: at(c.start) })),
    first300Ticks: early,
    afterThem: later,
    lateTicks: late.lateTicks.map((t) => ({
      lateMs: t.lateMs,
      atMs: at(t.startedAt),
      gcMs: t.gc?.ms ?? 0,
      offCpuMs: t.thread?.offCpuMs ?? null,
      runQueueMs: t.thread?.runQueueMs ?? null,
      stealMs: t.thread?.stealMs ?? null,
      vcsw: t.thread?.vcsw ?? null,
      prevSimMs: t.prevBackendMs,
    })),
  };
}

const results: Record<string, unknown>[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const mode of modes) results.push(await phase(mode, round));
}
hog?.kill('SIGKILL');
const out = writeResults(
  (gcMode === 'default' ? 'daemon-thread' : gcMode === 'single-threaded' ? 'daemon-thread-single-threaded-gc' : 'daemon-thread-no-background-tasks') +
    (args.tag ? `-${args.tag}` : ''),
  {
    settings: {
      seconds,
      rounds,
      blockMs,
      blockEveryMs: blockEvery,
      estops,
      trainer: args.trainer,
      utd: args.utd,
      hog: args.hog,
      controlCpu: args.controlCpu ?? '(config)',
      spawnEveryMs: args.spawnEveryMs,
      controlWarmupTicks: args.controlWarmupTicks ?? '(config)',
    },
    phases: results,
  },
);
console.log(`results: ${out}`);
process.exit(0);
