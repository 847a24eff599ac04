/**
 * What the main thread and the control thread (thread-host.ts) say to each other, and the shared memory they say it in.
 *
 * Channels, after start-up (the worker's own port carries only 'init', 'estopWake', 'ready' and 'startFailed'):
 * - commands, main -> control (ToControl but init/estopWake): a MessageRing the control thread polls at the top of each
 *   tick and every millisecond in between;
 * - answers to synchronous calls, control -> main: a MessageRing the main thread polls while it waits for an answer
 *   (an answer larger than that ring goes on the `replies` port);
 * - events and log calls, control -> main (FromControl): a MessageRing the main thread polls every few milliseconds.
 * Nothing the control thread does with these takes a lock a normal-priority thread may hold. A MessagePort did: the
 * receiver takes the port's mutex to pop a message and the sender holds it while it wakes the receiver (an eventfd
 * write), so a sender preempted inside that window held the real-time thread (measured: 184 such waits in 60 s under
 * load, p99 56 ms; perf sched_switch with DWARF stacks). Atomics.notify/waitAsync would not do either: they go through
 * V8's process-wide futex mutex and node's task-queue mutex. So nobody wakes anybody; each side polls on its own timer.
 * The control thread never waits for the main thread inside a tick: its log calls are messages (an episode's id
 * arrives as a promise, while no tick is due), and a full ring keeps its messages in order in a local backlog.
 */
import type { WarmupReport } from './warmup.ts';
import { deserialize, serialize } from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import type { DaemonEvent, EpisodeBegin, EpisodeFinish, TickTransition } from './interfaces.ts';
import type { DaemonState, DaemonStatus, EpisodeSummary, PracticeRequest } from './types.ts';
import type { TakeoverChange, TakeoverRequest } from './takeover.ts';
import type { LabelRequest } from './labels.ts';
import type { Vec3 } from '../core/types.ts';
import type { SeatedEnding } from '../control/goal-refine.ts';
import type { Ros2Section } from '../ros2/config.ts';
import type { DaemonNodeOptions } from '../ros2/node.ts';

/**
 * A robot the control thread builds for itself instead of the simulated cell: the ROS 2 node over the DDS-wire transport
 * (its participant, the backend, the daemon's services and topics and the teleop inputs all live in the control thread).
 */
export interface ThreadRos2Backend {
  kind: 'ros2';
  section: Ros2Section;
  /** Socket pose x* from the calibration (null: from the socketPose topic). */
  goal: Vec3 | null;
  node: DaemonNodeOptions;
}

/** Daemon.noteLabel's arguments, as one message. */
export interface NoteLabelArgs {
  episodeId: number;
  success: boolean;
  by: string;
  note: string | null;
}

export interface ResetGoalArgs {
  domain: string | null;
  by: string;
}

export interface ThreadInit {
  type: 'init';
  config: DaemonConfig;
  calibration: Calibration;
  policyPath: string | null;
  rewardPath: string | null;
  timingWindow: number | null;
  /** Seated practice endings from the log, restoring x*'s refinement (DaemonOptions.goalEndings). */
  goalEndings: Record<string, SeatedEnding[]>;
  /** The robot: null, the simulated cell of config.backend.sim. */
  backend: ThreadRos2Backend | null;
  /** The CPU the control thread pins itself to, chosen and claimed by the main thread (src/app/control-cpu.ts); null: none. */
  controlCpu: number | null;
  /** The shared e-stop flag (EstopFlag). */
  estop: SharedArrayBuffer;
  /** MessageRing buffers: main -> control commands; control -> main answers to calls, and events and log calls. */
  commands: SharedArrayBuffer;
  answers: SharedArrayBuffer;
  events: SharedArrayBuffer;
  /** Answers too large for their ring (a benchmark's timing samples). */
  replies: MessagePort;
}

/** Synchronous calls: the main thread waits (bounded) for the answer; each is quick on the control thread. */
export type CallMethod =
  | 'status'
  | 'startPractice'
  | 'stopPractice'
  | 'resetEstop'
  | 'timingSamples'
  | 'estopStats'
  | 'takeover'
  | 'releaseTakeover'
  | 'noteLabel'
  | 'resetGoalRefinement'
  | 'simulation'
  | 'lateTicks'
  | 'heap'
  | 'channels';

/**
 * What a test or the fault campaign does to the simulated cell in the control thread (the cell lives there): press or
 * release its e-stop button, or read when motion commands reached it (absNow ms, newest last, at most 4096).
 */
export type SimulationRequest = { op: 'pressEstop'; source: string } | { op: 'releaseEstop' } | { op: 'motionTimes'; since: number } | { op: 'offTickWork' };

/** The simulated cell's work outside ticks (resets, retracts) and the scheduling class each ran in (thread-host.ts RealtimeClass). */
export interface OffTickWork {
  runs: number;
  /** Started while the thread was SCHED_FIFO (the class could not be left, or the thread was never real-time: 0 then). */
  realtime: number;
  normal: number;
  /** Leaving, or taking back, the real-time class failed. */
  dropFailures: number;
  restoreFailures: number;
}

/** Commands, in the commands ring. */
export type Command =
  | { type: 'start' }
  | { type: 'call'; id: number; method: CallMethod; arg?: PracticeRequest | TakeoverRequest | NoteLabelArgs | ResetGoalArgs | SimulationRequest }
  | { type: 'estop'; seq: number; detail: string; origin: 'rest' | 'internal' }
  | { type: 'ping'; id: number }
  | { type: 'setPolicy'; id: number; path: string | null; version: string | null; at: 'episode-boundary' | 'between-ticks' | null }
  | { type: 'setReward'; path: string | null; version: string | null }
  | { type: 'logReply'; id: number; value?: number; error?: string }
  | { type: 'shutdown'; reason: string };

/** On the worker's port, once each: they carry what a ring cannot (MessagePorts). */
export type ToControl =
  | ThreadInit
  /** The e-stop listener's port (estop-listener.ts): it says "look at the flag now" after setting it. */
  | { type: 'estopWake'; port: MessagePort };

export type LogCall =
  | { op: 'begin'; id: number; e: EpisodeBegin }
  | { op: 'transition'; t: TickTransition }
  | { op: 'end'; id: number; end: EpisodeFinish }
  | { op: 'event'; e: DaemonEvent }
  | { op: 'flush'; id: number };

export type FromControl =
  | {
      type: 'ready';
      status: DaemonStatus;
      notes: string[];
      warmup: WarmupReport | null;
      /** SCHED_FIFO priority it took (null: none) */ realtime: number | null;
    }
  | { type: 'startFailed'; error: string }
  | { type: 'state'; state: DaemonState; seq: number }
  | { type: 'status'; status: DaemonStatus }
  | { type: 'episode'; summary: EpisodeSummary }
  | { type: 'fault'; message: string }
  | { type: 'takeover'; change: TakeoverChange }
  | { type: 'labelRequest'; request: LabelRequest }
  | { type: 'log'; call: LogCall }
  /** oldId: the request whose policy stopped driving (0: the startup policy, null: none); equal to id: superseded. */
  | { type: 'policySwapped'; id: number; oldId: number | null; error?: string }
  | { type: 'estopLatched'; seq: number; latencyMs: number; via: EstopVia }
  | { type: 'pong'; id: number }
  | { type: 'shutdownDone'; error?: string };

export interface CallReply {
  id: number;
  value?: unknown;
  error?: string;
  state: DaemonState;
  stateSeq: number;
}

/**
 * How a request latched: the shared flag polled at a tick or before motion, the main thread's message, or the e-stop
 * listener's wake-up (its request went through the flag, without the main thread).
 */
export type EstopVia = 'flag' | 'message' | 'listener';

export interface EstopStats {
  /** E-stop requests latched, and how: the shared flag (polled at ticks and before motion) or the message. */
  latched: number;
  viaFlag: number;
  /** Of those, requests from the e-stop listener's thread, latched on its wake-up. */
  viaListener: number;
  /** Request (main thread) -> latch (control thread), ms, newest last (at most 1000). */
  latencyMs: number[];
  /** When the newest latch happened (absNow: ms on the clock every thread shares), or null. */
  lastLatchedAt: number | null;
  /** Motion commands the guard refused because an e-stop request was pending: the filter behind the poll. */
  commandsRefused: number;
}

/**
 * The shared e-stop flag: the main thread writes the detail and the request time, then bumps the request counter; the
 * control thread latches when the request counter is ahead of its acknowledgement. Absolute times (timeOrigin + now)
 * compare across threads.
 */
export class EstopFlag {
  static readonly BYTES = 512;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly text: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(EstopFlag.BYTES)) {
    this.i32 = new Int32Array(buffer, 0, 4);
    this.f64 = new Float64Array(buffer, 16, 1);
    this.text = new Uint8Array(buffer, 24, EstopFlag.BYTES - 24);
  }

  /** Main thread: request an e-stop; returns its sequence number. */
  request(detail: string): number {
    const bytes = new TextEncoder().encode(detail).subarray(0, this.text.length);
    this.text.set(bytes);
    Atomics.store(this.i32, 2, bytes.length);
    this.f64[0] = absNow();
    return Atomics.add(this.i32, 0, 1) + 1;
  }

  /** Control thread: the pending request (seq, detail, request time), or null. */
  pending(): { seq: number; detail: string; requestedAt: number } | null {
    const seq = Atomics.load(this.i32, 0);
    if (seq === Atomics.load(this.i32, 1)) return null;
    const n = Atomics.load(this.i32, 2);
    const detail = new TextDecoder().decode(this.text.slice(0, n));
    return { seq, detail, requestedAt: this.f64[0] as number };
  }

  /** Control thread: everything up to `seq` has latched. */
  acknowledge(seq: number): void {
    Atomics.store(this.i32, 1, seq);
    Atomics.notify(this.i32, 1); // the e-stop listener waits for it to answer its caller
  }

  /** True once request `seq` has latched; false if not within `timeoutMs` (waits without blocking its thread). */
  async waitAcknowledged(seq: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const ack = Atomics.load(this.i32, 1);
      if (ack >= seq) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const w = waitAsync(this.i32, 1, ack, left);
      if (w.async) await w.value;
    }
  }

  get acknowledged(): number {
    return Atomics.load(this.i32, 1);
  }
}

/** Atomics.waitAsync (Node >= 16; in TypeScript's lib only from ES2024, and this project targets ES2023). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(this: void, a: Int32Array, i: number, v: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/** Milliseconds on a clock shared by every thread of the process (performance.now is per thread). */
export function absNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * One writer thread, one reader thread: messages (structured-clone, as postMessage) in a SharedArrayBuffer, in order.
 * No locks and no wake-ups: the reader polls (read), the writer never waits. A message that does not fit yet waits in
 * the writer's own backlog, in order, and goes out at its next write or flush once the reader has made room.
 *
 * Layout: Int32 [0] bytes written, [1] bytes read (both wrap at 2^32; capacity is a power of two, so a position's
 * offset is `pos & (capacity - 1)`), [2] messages that waited in a backlog, [3] the most bytes ever pending; then the
 * data: per message a 4-byte little-endian length and its bytes, either wrapping at the end. The writer publishes with
 * Atomics.store after copying (the reader's Atomics.load of [0] then sees the bytes), the reader frees with
 * Atomics.store of [1] after copying out.
 */
export class MessageRing {
  static readonly HEADER = 16;
  readonly capacity: number;
  private readonly idx: Int32Array;
  private readonly data: Uint8Array;
  private readonly backlog: Buffer[] = [];
  private readonly len = new Uint8Array(4);

  /** A ring of `capacity` data bytes (a power of two, at least 64). */
  static create(capacity: number): MessageRing {
    if (!Number.isInteger(Math.log2(capacity)) || capacity < 64 || capacity > 2 ** 30) throw new Error(`ring capacity ${capacity}: a power of two in 64..2^30`);
    return new MessageRing(new SharedArrayBuffer(MessageRing.HEADER + capacity));
  }

  constructor(readonly buffer: SharedArrayBuffer) {
    this.capacity = buffer.byteLength - MessageRing.HEADER;
    if (!Number.isInteger(Math.log2(this.capacity))) throw new Error(`ring buffer of ${buffer.byteLength} bytes: not ${MessageRing.HEADER} + a power of two`);
    this.idx = new Int32Array(buffer, 0, 4);
    this.data = new Uint8Array(buffer, MessageRing.HEADER, this.capacity);
  }

  /** Writer: sends `m` (throws if it can never fit). True: in the ring now; false: in the backlog, behind others. */
  write(m: unknown): boolean {
    const bytes = serialize(m);
    if (bytes.length + 4 > this.capacity) throw new Error(`a message of ${bytes.length} bytes is larger than its ring (${this.capacity} bytes)`);
    if (this.flush() > 0 || !this.put(bytes)) {
      if (this.backlog.length === 0) Atomics.add(this.idx, 2, 1);
      this.backlog.push(bytes);
      return false;
    }
    return true;
  }

  /** Writer: moves what it can of the backlog into the ring; returns the messages still waiting. */
  flush(): number {
    while (this.backlog.length > 0) {
      if (!this.put(this.backlog[0] as Buffer)) return this.backlog.length;
      this.backlog.shift();
    }
    return 0;
  }

  /** Writer: messages waiting in its backlog. */
  get backlogged(): number {
    return this.backlog.length;
  }

  /** Reader: hands every message in the ring to `each`, oldest first; returns how many. */
  read(each: (m: unknown) => void): number {
    let r = Atomics.load(this.idx, 1);
    const w = Atomics.load(this.idx, 0);
    let n = 0;
    while (r !== w) {
      this.get(r, this.len);
      const size = (this.len[0] as number) | ((this.len[1] as number) << 8) | ((this.len[2] as number) << 16) | ((this.len[3] as number) << 24);
      const body = Buffer.allocUnsafe(size);
      this.get(r + 4, body);
      r = (r + 4 + size) | 0;
      // Freed before the message is handled: a handler that writes to another ring never waits on this one.
      Atomics.store(this.idx, 1, r);
      each(deserialize(body));
      n++;
    }
    return n;
  }

  /** Bytes in the ring not read yet; the most ever; how many times messages had to wait in the writer's backlog. */
  stats(): { pendingBytes: number; maxPendingBytes: number; backlogEpisodes: number } {
    const pending = (Atomics.load(this.idx, 0) - Atomics.load(this.idx, 1)) | 0;
    return { pendingBytes: pending, maxPendingBytes: Atomics.load(this.idx, 3), backlogEpisodes: Atomics.load(this.idx, 2) };
  }

  private put(bytes: Uint8Array): boolean {
    const w = this.idx[0] as number; // only this thread writes it
    const used = (w - Atomics.load(this.idx, 1)) | 0;
    if (used + 4 + bytes.length > this.capacity) return false;
    const n = bytes.length;
    this.len[0] = n & 0xff;
    this.len[1] = (n >>> 8) & 0xff;
    this.len[2] = (n >>> 16) & 0xff;
    this.len[3] = (n >>> 24) & 0xff;
    this.copyIn(w, this.len);
    this.copyIn(w + 4, bytes);
    Atomics.store(this.idx, 0, (w + 4 + n) | 0);
    const pending = used + 4 + n;
    if (pending > (this.idx[3] as number)) Atomics.store(this.idx, 3, pending);
    return true;
  }

  private copyIn(pos: number, src: Uint8Array): void {
    const at = pos & (this.capacity - 1);
    const first = Math.min(src.length, this.capacity - at);
    this.data.set(src.subarray(0, first), at);
    if (first < src.length) this.data.set(src.subarray(first), 0);
  }

  private get(pos: number, dst: Uint8Array): void {
    const at = pos & (this.capacity - 1);
    const first = Math.min(dst.length, this.capacity - at);
    dst.set(this.data.subarray(at, at + first), 0);
    if (first < dst.length) dst.set(this.data.subarray(0, dst.length - first), first);
  }
}
