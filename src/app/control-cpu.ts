/**
 * Which CPU an arm's control thread takes (config `controlCpu`), agreed between the daemons of one machine.
 *
 * Why: each control thread runs SCHED_FIFO (controlRealtime) alone on its CPU. Two daemons that both took the last CPU
 * (one per arm, or a test suite beside a daemon) delayed each other's ticks: FIFO never preempts an equal priority
 * (results/campaign/rt-neighbours/).
 *
 * How they agree: a claim is a ProcessLock (src/store/lock.ts: held for the daemon's life, dropped by the kernel when
 * the process dies however it dies, naming its holder) on `control-cpu-<cpu>-<n>.lock` in the lock directory (config
 * `lockDir`, the one the per-robot locks use: one per machine unless configured). n counts the control threads on that
 * CPU: a daemon takes the first free claim in the order n = 0 on every CPU, then n = 1 on every CPU, and so on.
 * - -1 (default): the process's CPUs last first, so a lone daemon takes the last CPU, a second one the one before it.
 *   With more arms than CPUs, CPUs are shared as evenly as the claims allow, and the start-up note says so.
 * - n: CPU n; claimed too, so that -1 daemons keep off it; shared (and said) when another daemon claimed it first.
 * - When the lock directory cannot be used, the first CPU of that order is taken without a claim, and said.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LockHeldError, ProcessLock } from '../store/index.ts';
import { formatCpuList, planCpus, type CpuPlan } from '../util/affinity.ts';

/** Claims tried per CPU (n < this) before a daemon pins unclaimed (and says so). */
const MAX_PER_CPU = 32;

export interface ControlCpuChoice {
  /** null: no pinning (the setting is null, or the process has one CPU: `note` says so). */
  plan: CpuPlan | null;
  /** The claim, released when the daemon closes (null: none taken). */
  claim: ProcessLock | null;
  /** Other daemons' control threads already on that CPU when it was claimed. */
  sharedWith: number;
  /** For the operator when the choice is not the plain one (shared, unclaimed, off). */
  note: string | null;
}

/** The lock file of the n-th control thread on `cpu`. */
export function controlCpuLockFile(dir: string, cpu: number, n: number): string {
  return join(dir, `control-cpu-${cpu}-${n}.lock`);
}

/**
 * The control thread's CPU for `setting` among the process's `allowed` CPUs, claimed in `lockDir`. A CPU the process
 * may not use is refused (planCpus, naming it).
 */
export function chooseControlCpu(setting: number | null, allowed: readonly number[], lockDir: string): ControlCpuChoice {
  const planned = planCpus(setting, allowed);
  if (!planned.plan || setting === null) return { plan: null, claim: null, sharedWith: 0, note: planned.note };
  const order = setting === -1 ? [...allowed].reverse() : [planned.plan.control];
  const unclaimed = (why: string): ControlCpuChoice => ({
    plan: planned.plan,
    claim: null,
    sharedWith: 0,
    note: `control CPU ${planned.plan?.control} taken without a claim (${why}): other daemons on this machine may choose it too (controlCpu ${setting}, lockDir)`,
  });
  try {
    mkdirSync(lockDir, { recursive: true });
  } catch (e) {
    return unclaimed(`cannot create the lock directory ${lockDir}: ${(e as Error).message}`);
  }
  for (let n = 0; n < MAX_PER_CPU; n++) {
    for (const cpu of order) {
      let claim: ProcessLock;
      try {
        claim = ProcessLock.acquire(controlCpuLockFile(lockDir, cpu, n), `control CPU ${cpu}`);
      } catch (e) {
        if (e instanceof LockHeldError) continue;
        return unclaimed((e as Error).message);
      }
      const plan = planCpus(cpu, allowed).plan;
      if (!plan) throw new Error(`unreachable: CPU ${cpu} is one of ${formatCpuList(allowed)}`);
      const note =
        n === 0
          ? null
          : `control CPU ${cpu} is shared with ${n} other daemon${n === 1 ? "'s" : "s'"} control thread${n === 1 ? '' : 's'}: ${setting === -1 ? `every CPU of this process (${formatCpuList(allowed)}) has one` : 'it was claimed first'}; their real-time ticks can delay each other's (controlCpu ${setting}; claims in ${lockDir})`;
      return { plan, claim, sharedWith: n, note };
    }
  }
  return unclaimed(`${MAX_PER_CPU} claims held on each CPU in ${lockDir}`);
}
