/**
 * The chain MDP of the IQL tests: states 0..n-1, state n-1 terminal; one action moves right, the other left
 * (clamped at 0); reward 1 on entering n-1. With a dataset taking both actions with probability 1/2, IQL's value is
 * the tau-expectile over dataset actions of Q(s, a) = r + gamma V(s'): V(s) = tau*Q_hi + (1 - tau)*Q_lo.
 * Returns that fixed point by iteration (V of the terminal state is 0).
 */
export function chainExpectileValues(n: number, gamma: number, tau: number): number[] {
  const V = new Array<number>(n).fill(0);
  for (let it = 0; it < 500; it++) {
    for (let s = 0; s < n - 1; s++) {
      const q = (sn: number): number => (sn === n - 1 ? 1 : gamma * (V[sn] ?? 0));
      const hi = q(s + 1);
      const lo = q(Math.max(0, s - 1));
      V[s] = tau * Math.max(hi, lo) + (1 - tau) * Math.min(hi, lo);
    }
  }
  return V;
}
