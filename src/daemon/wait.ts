import type { DaemonState } from './types.ts';

/** What waitForState needs of a daemon (the in-process Daemon and the control thread's proxy alike). */
interface StateSource {
  readonly currentState: DaemonState;
  on(event: 'state', listener: (s: DaemonState) => void): unknown;
  off(event: 'state', listener: (s: DaemonState) => void): unknown;
}

/** Resolves when `d` reaches `state` (immediately if it is there); rejects after `timeoutMs`, naming the state it is in. */
export function waitForState(d: StateSource, state: DaemonState, timeoutMs: number): Promise<void> {
  if (d.currentState === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      d.off('state', on);
      reject(new Error(`timed out waiting for state ${state} (now ${d.currentState})`));
    }, timeoutMs);
    const on = (s: DaemonState): void => {
      if (s !== state) return;
      clearTimeout(t);
      d.off('state', on);
      resolve();
    };
    d.on('state', on);
  });
}
