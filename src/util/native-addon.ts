import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's C addon (native/gemm.c, built by native/build.sh): the trainer's GEMMs (src/learn/gemm.ts) and the
 * thread calls (src/util/affinity.ts, src/util/realtime.ts). Optional: each user says what it does without it.
 */
export const NATIVE_ADDON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'gemm.node');

const calls = new Map<string, unknown>();

/**
 * One function of the addon, or why it cannot be used (not built, or built before that function): loaded once per
 * name, on first use. The caller falls back and says so with the reason.
 */
export function addonCall<F>(name: string): F | string {
  if (!calls.has(name)) {
    let got: unknown;
    try {
      const addon = createRequire(import.meta.url)(NATIVE_ADDON) as Record<string, unknown>;
      got = typeof addon[name] === 'function' ? addon[name] : `the native addon was built before ${name} (run bash native/build.sh)`;
    } catch (e) {
      got = `the native addon did not load (${(e as Error).message.split('\n')[0]}; run bash native/build.sh)`;
    }
    calls.set(name, got);
  }
  return calls.get(name) as F | string;
}
