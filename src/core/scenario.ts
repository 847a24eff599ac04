/**
 * The research's start distributions, drawn one way for every cell (the MuJoCo cell and the mock robot), so that a
 * seed means the same start wherever it is used: scenario I starts within +-10 mm of the socket, scenario II 10-20 mm
 * away in any direction.
 */
import type { Scenario } from './types.ts';

/** The draws this needs of a seeded generator (util/rng.ts Rng). */
export interface UniformSource {
  uniform(lo: number, hi: number): number;
  next(): number;
}

/** The start's horizontal offset from the socket (m). Always three draws, so what follows sees the same stream. */
export function drawStartOffset(rng: UniformSource, scenario: Scenario): [number, number] {
  let ox: number, oy: number;
  if (scenario === 'I') {
    ox = rng.uniform(-0.01, 0.01);
    oy = rng.uniform(-0.01, 0.01);
  } else {
    const r = rng.uniform(0.01, 0.02);
    const a = rng.uniform(0, 2 * Math.PI);
    ox = r * Math.cos(a);
    oy = r * Math.sin(a);
  }
  rng.next();
  return [ox, oy];
}
