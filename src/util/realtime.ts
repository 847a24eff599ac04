/**
 * The real-time class of single threads (Linux), for config `controlRealtime`: SCHED_FIFO for the control thread, and
 * back to the normal class (SCHED_OTHER) around work that must not hold a CPU against other real-time threads there.
 *
 * sched_setscheduler(2) on a thread id is one call in the project's C addon (native/gemm.c setThreadRealtime), with
 * util-linux's `chrt` as the fallback when the addon is missing or was built before that call (a fork and exec per
 * call, which blocks the calling thread a few ms; the start-up note says which is used). SCHED_FIFO is taken with
 * SCHED_RESET_ON_FORK, so a process the thread starts is not real-time.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { addonCall } from './native-addon.ts';

type SetRealtime = (tid: number, priority: number) => void;

/** The addon's setThreadRealtime, or why it cannot be used. */
function nativeSetRealtime(): SetRealtime | string {
  return addonCall<SetRealtime>('setThreadRealtime');
}

/** How setThreadRealtime sets a class here, for the daemon's start-up notes. */
export function realtimeMechanism(): string {
  const n = nativeSetRealtime();
  return typeof n === 'function' ? 'sched_setscheduler' : `chrt, because ${n}`;
}

/**
 * One thread of this process: SCHED_FIFO at `priority` (1-99, reset on fork), or SCHED_OTHER for null (its nice value
 * is kept). Throws with the system's reason (without root or CAP_SYS_NICE, SCHED_FIFO is refused).
 */
export function setThreadRealtime(tid: number, priority: number | null): void {
  if (priority !== null && !(Number.isInteger(priority) && priority >= 1 && priority <= 99))
    throw new RangeError(`real-time priority must be an integer in [1, 99], got ${priority}`);
  const n = nativeSetRealtime();
  try {
    if (typeof n === 'function') n(tid, priority ?? 0);
    else if (priority === null) execFileSync('chrt', ['--other', '--pid', '0', String(tid)], { stdio: 'pipe', timeout: 5000 });
    else execFileSync('chrt', ['--fifo', '--reset-on-fork', '--pid', String(priority), String(tid)], { stdio: 'pipe', timeout: 5000 });
  } catch (e) {
    const why = ((e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message).split('\n')[0];
    throw new Error(`${why}${typeof n === 'function' ? '' : ` (chrt, because ${n})`}`);
  }
}

/** Linux's scheduling policies by number (/proc/.../stat field 41). */
const POLICIES = ['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE'] as const;

/** A thread's scheduling policy and real-time priority, read from /proc (default: the calling thread). */
export function threadPolicy(pid: number = process.pid, tid?: number): { policy: string; priority: number } {
  const file = tid === undefined ? '/proc/thread-self/stat' : `/proc/${pid}/task/${tid}/stat`;
  const stat = readFileSync(file, 'utf8');
  // Fields after the command name (which may hold spaces and parentheses): state is field 3; rt_priority 40, policy 41.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const priority = Number(rest[40 - 3]);
  const n = Number(rest[41 - 3]);
  return { policy: POLICIES[n] ?? `policy ${n}`, priority };
}

/**
 * A fork's priority ceiling. A fork copies the whole address space's page tables holding the process's mmap_lock for
 * writing, and every page fault of every other thread of the process waits for it, the real-time control thread's
 * too. In the normal class the forking thread loses its CPU to the load inside that copy (the kernel's cond_resched
 * points), and the control thread then sleeps until the load lets the fork finish: a priority inversion of 100-200 ms
 * under a saturated machine (results/campaign/stall-inversion/). While a control thread of this process is real-time,
 * a fork runs at a real-time priority just below it, so nothing but real-time work delays the copy. The child starts in
 * the normal class (SCHED_RESET_ON_FORK). Only through the addon: the `chrt` fallback is a fork itself.
 */
const ceilings: { priority: number; fault: (message: string) => void }[] = [];

/**
 * A control thread of this process is real-time at `priority`: forks run just below it until the returned call.
 * `fault` says a fork that could not take (or leave) the ceiling, once until one succeeds again.
 */
export function holdForkCeiling(priority: number, fault: (message: string) => void): () => void {
  const entry = { priority, fault };
  ceilings.push(entry);
  return () => {
    const i = ceilings.indexOf(entry);
    if (i >= 0) ceilings.splice(i, 1);
  };
}

/** The real-time priority a fork runs at now (one below the lowest real-time control thread's), or null: none. */
export function forkCeiling(): number | null {
  return ceilings.length ? Math.max(1, Math.min(...ceilings.map((c) => c.priority)) - 1) : null;
}

let ceilingFailed = false;

/**
 * Runs `fork` (a synchronous spawn or thread start on the main thread) at the fork ceiling, if there is one, and puts
 * the main thread back in the normal class (its nice value kept) after. The fork runs whatever happens; a refusal
 * either way is said to the holders (holdForkCeiling), once until the ceiling works again.
 */
export function atForkCeiling<T>(fork: () => T, set: (tid: number, priority: number | null) => void = setThreadRealtime): T {
  const p = forkCeiling();
  if (p === null || typeof nativeSetRealtime() !== 'function') return fork();
  const say = (m: string): void => {
    if (!ceilingFailed) for (const c of [...ceilings]) c.fault(m);
    ceilingFailed = true;
  };
  try {
    set(process.pid, p);
  } catch (e) {
    say(
      `a child process was started in the normal class, not at real-time priority ${p} below the control thread (${(e as Error).message}): the control thread's page faults may wait behind the load for the fork`,
    );
    return fork();
  }
  try {
    return fork();
  } finally {
    try {
      set(process.pid, null);
      ceilingFailed = false;
    } catch (e) {
      say(`the main thread stays real-time at priority ${p} after starting a child process (${(e as Error).message})`);
    }
  }
}
