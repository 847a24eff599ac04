/**
 * Teardown in the one right order. node:test runs `after` hooks in the order they were registered (first opened, first
 * closed) and skips the rest once one throws; so a rig whose cleanup removes its folder, registered before the fleet that
 * still writes into that folder, throws ENOTEMPTY and leaves the fleet (and its PostgreSQL client) open: the test file
 * never exits. `teardown(t)` registers one hook that runs the closers last-added-first, every one even when one throws or
 * rejects, and then fails with all their errors.
 *
 *   const defer = teardown(t);
 *   const r = await rig();
 *   defer(() => r.close());       // runs last
 *   const fleet = startFleet(r.app, ...);
 *   defer(() => fleet.close());   // runs first: it writes into r's folder
 *
 * Add each closer right after its resource opens (a failing line in between would leak it).
 */
import type { ChildProcess } from 'node:child_process';
import { after, type TestContext } from 'node:test';

export type Defer = (close: () => unknown) => void;

/** A LIFO stack of closers; close() runs them all (each once), then throws every error they threw. */
export function closers(): { defer: Defer; close: () => Promise<void> } {
  const stack: Array<() => unknown> = [];
  const close = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (let c = stack.pop(); c; c = stack.pop()) {
      try {
        await c();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} closers failed: ${errors.map((e) => (e as Error).message).join('; ')}`);
  };
  return { defer: (c) => void stack.push(c), close };
}

const perTest = new WeakMap<object, Defer>();

/**
 * closers() run by one `after` hook of t (or, without t, of the file). The same t gives the same stack, so a helper that
 * opens something for a test (daemonProcess) and the test itself close in one LIFO order.
 */
export function teardown(t?: Pick<TestContext, 'after'>): Defer {
  const known = t && perTest.get(t);
  if (known) return known;
  const c = closers();
  if (t) {
    t.after(c.close);
    perTest.set(t, c.defer);
  } else after(c.close);
  return c.defer;
}

/**
 * Ends a child process and resolves once it has exited (not only been signalled: it may still be writing into a folder
 * the next closer removes); SIGKILL if `signal` has not ended it within graceMs.
 */
export async function endProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL', graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((res) => (timer = setTimeout(() => res(true), graceMs)));
  if (await Promise.race([exited.then(() => false), late])) {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}
