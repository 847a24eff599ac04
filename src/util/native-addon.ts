import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's C addon (native/gemm.c, built by native/build.sh): the trainer's GEMMs (src/learn/gemm.ts) and the
 * thread-affinity call (src/util/affinity.ts). Optional: each user says what it does without it.
 */
export const NATIVE_ADDON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'gemm.node');
