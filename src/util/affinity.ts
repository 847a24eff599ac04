/**
 * CPU affinity of single threads (Linux), for config `controlCpu`: the control thread on a core of its own and the
 * daemon's main thread on the others. Why, when main and control thread talked through a MessagePort: the main thread
 * woke the control thread while holding the port's lock; on the same core the real-time control thread preempted the
 * sender, blocked on that lock, and the normal-priority sender then waited for a core. The shared-memory rings that
 * replaced the port wake nobody, and since them no difference is measured (the README's fail-safety section,
 * results/campaign/missed-ticks-pinning-*.json, missed-ticks-control-cpu-native-pairs.json).
 *
 * Node has no thread-affinity API: sched_setaffinity(2) on a thread id is one call in the project's C addon
 * (native/gemm.c setThreadCpus), with util-linux's `taskset -p` as the fallback when the addon is missing or was built
 * before that call (a fork and exec per call, which blocks the calling thread a few ms). The masks are read back from
 * /proc/<pid>/task/<tid>/status.
 *
 * A process forked by a pinned thread inherits its mask: every child the daemon starts (the trainer, a load process)
 * goes through `withProcessCpus`, which gives the main thread the process's original CPUs back for the fork.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { addonCall } from './native-addon.ts';
import { atForkCeiling } from './realtime.ts';

/** "0-2,5" -> [0, 1, 2, 5] (the kernel's list format, /proc/.../status Cpus_allowed_list). */
export function parseCpuList(s: string): number[] {
  const out: number[] = [];
  for (const part of s.trim().split(',')) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`not a CPU list: '${s}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/** [0, 1, 2, 5] -> "0,1,2,5" (what taskset -c takes). */
export function formatCpuList(cpus: readonly number[]): string {
  return cpus.join(',');
}

/** The CPUs a thread may run on (pid: the process; tid: one of its threads, default its main thread). */
export function threadCpus(pid: number, tid: number = pid): number[] {
  const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  if (!m?.[1]) throw new Error(`no Cpus_allowed_list in /proc/${pid}/task/${tid}/status`);
  return parseCpuList(m[1]);
}

type SetCpus = (tid: number, cpus: readonly number[]) => void;

/** The addon's setThreadCpus, or why it cannot be used. */
function nativeSetCpus(): SetCpus | string {
  return addonCall<SetCpus>('setThreadCpus');
}

/** How setThreadCpus sets a mask here, for the daemon's start-up notes. */
export function affinityMechanism(): string {
  const n = nativeSetCpus();
  return typeof n === 'function' ? 'sched_setaffinity' : `taskset, because ${n}`;
}

/** sched_setaffinity(tid, cpus) on one thread of this process (the addon's call, else taskset -p). Throws with the
 *  system's reason. */
export function setThreadCpus(tid: number, cpus: readonly number[]): void {
  const n = nativeSetCpus();
  try {
    if (typeof n === 'function') n(tid, cpus);
    else execFileSync('taskset', ['-p', '-c', formatCpuList(cpus), String(tid)], { stdio: 'pipe', timeout: 5000 });
  } catch (e) {
    const why = ((e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message).split('\n')[0];
    throw new Error(`could not set the CPUs of thread ${tid} to ${formatCpuList(cpus)}: ${why}${typeof n === 'function' ? '' : ` (taskset, because ${n})`}`);
  }
}

export interface CpuPlan {
  /** The control thread's core. */
  control: number;
  /** The main thread's cores: every other CPU the process may use. */
  main: number[];
  /** The CPUs the process was given (its children get these back). */
  all: number[];
}

/**
 * Where the threads go for a `controlCpu` setting, given the CPUs the process may use: null (off) -> null; -1 -> the
 * last of them; n -> CPU n, which must be one of them. null also with a single CPU (nothing to keep apart; `note` says so).
 */
export function planCpus(setting: number | null, allowed: readonly number[]): { plan: CpuPlan | null; note: string | null } {
  if (setting === null) return { plan: null, note: null };
  const list = formatCpuList(allowed);
  const control = setting === -1 ? allowed[allowed.length - 1] : setting;
  if (control === undefined || !allowed.includes(control)) {
    throw new Error(
      `controlCpu: CPU ${setting} ${setting >= 0 ? 'does not exist here or is not allowed to this process' : 'is not a CPU'} (this process may use CPUs ${list || 'none'}; -1 is the last of them, null turns pinning off)`,
    );
  }
  if (allowed.length < 2) return { plan: null, note: `CPU pinning: off, the process has one CPU (${list}) (controlCpu ${setting})` };
  return { plan: { control, main: allowed.filter((c) => c !== control), all: [...allowed] }, note: null };
}

/** The main thread's CPUs as pinned by pinMainThread (null: not pinned), the process's original ones, and the control
 *  CPUs of the daemons in this process that asked for it (tests and benchmarks start several, one after another or side
 *  by side; side by side they have different control CPUs: src/app/control-cpu.ts). */
let pinned: { main: number[]; all: number[]; controls: number[] } | null = null;

/** The CPUs the process was given: the main thread's, or, while it is pinned, the ones it had before. */
export function processCpus(): number[] {
  return pinned ? [...pinned.all] : threadCpus(process.pid);
}

/** The main thread's CPUs: all but every control thread's of this process; all when none is left (said by the caller). */
function mainCpus(all: readonly number[], controls: readonly number[]): number[] {
  const rest = all.filter((c) => !controls.includes(c));
  return rest.length > 0 ? rest : [...all];
}

/** Pins the process's main thread (its tid is the pid) off plan.control (and off other daemons' of this process);
 *  threads it starts later inherit that. Returns the main thread's CPUs. */
export function pinMainThread(plan: CpuPlan): number[] {
  const all = pinned?.all ?? plan.all;
  const controls = [...(pinned?.controls ?? []), plan.control];
  const main = mainCpus(all, controls);
  setThreadCpus(process.pid, main);
  pinned = { main, all, controls };
  return main;
}

/** The daemon whose control thread is on `control` is closing: the main thread gets its CPUs back when the last one
 *  closes (and the CPU of this one before that). */
export function unpinMainThread(control: number): void {
  if (!pinned) return;
  const controls = [...pinned.controls];
  const i = controls.indexOf(control);
  if (i >= 0) controls.splice(i, 1);
  const all = pinned.all;
  if (controls.length === 0) {
    pinned = null;
    setThreadCpus(process.pid, all);
    return;
  }
  const main = mainCpus(all, controls);
  pinned = { main, all, controls };
  setThreadCpus(process.pid, main);
}

/**
 * Runs `fork` (a synchronous spawn on the main thread: node forks from the calling thread, and the child inherits that
 * thread's CPUs) with the main thread on the process's original CPUs, so the child starts with all of them; then pins
 * the main thread again. If that fails, the child is started anyway (on the main thread's CPUs) and `onError` says so.
 * The fork runs at the fork ceiling while a control thread is real-time (util/realtime.ts atForkCeiling says why).
 */
export function withProcessCpus<T>(fork: () => T, onError: (message: string) => void = (m) => process.emitWarning(m)): T {
  const p = pinned;
  if (!p) return atForkCeiling(fork);
  let widened = true;
  try {
    setThreadCpus(process.pid, p.all);
  } catch (e) {
    widened = false;
    onError(`a child process starts on CPUs ${formatCpuList(p.main)} only: ${(e as Error).message}`);
  }
  try {
    return atForkCeiling(fork);
  } finally {
    if (widened) {
      try {
        setThreadCpus(process.pid, p.main);
      } catch (e) {
        onError(`the main thread stays on CPUs ${formatCpuList(p.all)} (the control thread's too): ${(e as Error).message}`);
      }
    }
  }
}
