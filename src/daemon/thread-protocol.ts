/**
 * What the main thread and the control thread (thread-host.ts) say to each other, and the shared e-stop flag.
 *
 * Channels: the worker's own port carries commands (main -> control) and events and log calls (control -> main), each
 * in order; a second port carries only the answers to synchronous calls, which the main thread reads with
 * receiveMessageOnPort after Atomics.wait on a shared counter. The control thread never waits for the main thread
 * inside a tick: its log calls are messages (an episode's id arrives as a promise, while no tick is due).
 */
import type { MessagePort } from 'node:worker_threads';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import type { DaemonEvent, EpisodeBegin, EpisodeFinish, TickTransition } from './interfaces.ts';
import type { DaemonState, DaemonStatus, EpisodeSummary, PracticeRequest } from './types.ts';
import type { TakeoverChange, TakeoverRequest } from './takeover.ts';
import type { LabelRequest } from './labels.ts';
import type { Vec3 } from '../core/types.ts';
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

export interface ThreadInit {
  type: 'init';
  config: DaemonConfig;
  calibration: Calibration;
  policyPath: string | null;
  rewardPath: string | null;
  timingWindow: number | null;
  /** The robot: null, the simulated cell of config.backend.sim. */
  backend: ThreadRos2Backend | null;
  /** The shared e-stop flag (EstopFlag). */
  estop: SharedArrayBuffer;
  /** Incremented by the control thread after each answer it posts on `replies`. */
  replySignal: SharedArrayBuffer;
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
  | 'simulation'
  | 'lateTicks';

/**
 * What a test or the fault campaign does to the simulated cell in the control thread (the cell lives there): press or
 * release its e-stop button, or read when motion commands reached it (absNow ms, newest last, at most 4096).
 */
export type SimulationRequest = { op: 'pressEstop'; source: string } | { op: 'releaseEstop' } | { op: 'motionTimes'; since: number };

export type ToControl =
  | ThreadInit
  | { type: 'start' }
  | { type: 'call'; id: number; method: CallMethod; arg?: PracticeRequest | TakeoverRequest | NoteLabelArgs | SimulationRequest }
  | { type: 'estop'; seq: number; detail: string; origin: 'rest' | 'internal' }
  | { type: 'ping'; id: number }
  | { type: 'setPolicy'; id: number; path: string | null; version: string | null; at: 'episode-boundary' | 'between-ticks' | null }
  | { type: 'setReward'; path: string | null; version: string | null }
  | { type: 'logReply'; id: number; value?: number; error?: string }
  | { type: 'shutdown'; reason: string }
  /** The e-stop listener's port (estop-listener.ts): it says "look at the flag now" after setting it. */
  | { type: 'estopWake'; port: MessagePort };

export type LogCall =
  | { op: 'begin'; id: number; e: EpisodeBegin }
  | { op: 'transition'; t: TickTransition }
  | { op: 'end'; id: number; end: EpisodeFinish }
  | { op: 'event'; e: DaemonEvent }
  | { op: 'flush'; id: number };

export type FromControl =
  | { type: 'ready'; status: DaemonStatus; notes: string[] }
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
