/**
 * The evidence gate at the switch from offline to online (issue 13, "no unlearning at the switch"): the exported
 * policy stays the offline one (pi0) until every critic of the trainer's ensemble ranks the candidate's actions above
 * pi0's on practice states it has not learned from yet. The rule, read top to bottom:
 *
 *   1. Each time the trainer reads new practice episodes, BEFORE it learns from them, it takes their observations s
 *      and, for every critic j of the ensemble (learning.critics, RLPD's 10), the mean advantage of the candidate
 *      (pi_c: what would be exported, the Polyak average) over the offline policy:
 *          d_j = mean_s [ Q_j(s, pi_c(s)) - Q_j(s, pi0(s)) ]
 *   2. Open when every d_j > 0: the whole ensemble, each critic fitted from its own start on the practice data, agrees
 *      that the change is an improvement on states none of them has been fitted on. One dissenting critic keeps it
 *      closed: the ensemble's disagreement is the trainer's own measure of what the data do not yet determine, and
 *      unanimity is the reading with no constant to tune (with independent signs it would happen by chance 1 in 2^N).
 *   3. Once open it stays open (later protection is the rollback's and the shadow gate's job). The exports then carry
 *      the Polyak average the trainer kept all along, so no learning is lost while the gate was closed.
 *
 * No connector constant and no simulator: the critics are the trainer's, the states the robot's own. With the
 * checkpoint's 2 critics (learning.critics null) unanimity is a weak test; the default ensemble has 10.
 *
 * An earlier version of this gate tested the practice outcomes directly (reward increments times the exploration
 * noise along the change, a one-sided t-test over episodes): it never opened within 100 episodes on europlug and
 * megablock (seed 0), whose trainer reaches 20/20 without the gate (results/online-warm/README.md).
 */

export interface GateStatus {
  open: boolean;
  /** Rankings made (one per read of new practice episodes after the first actor update). */
  checks: number;
  /** The last ranking: how many critics put the candidate ahead, of how many, and the mean d (Q units). */
  last: { ahead: number; critics: number; meanD: number } | null;
  /** Checks made when it opened. */
  openedAt: number | null;
}

/** Collects the critics' rankings and decides. */
export class EvidenceGate {
  private checks = 0;
  private last: GateStatus['last'] = null;
  private openedAt: number | null = null;

  constructor(open = false) {
    if (open) this.openedAt = 0;
  }

  get open(): boolean {
    return this.openedAt !== null;
  }

  /** One ranking: d_j per critic; returns whether the gate is open now. */
  rank(d: readonly number[]): boolean {
    if (this.open || d.length === 0) return this.open;
    this.checks++;
    const ahead = d.filter((x) => x > 0).length;
    this.last = { ahead, critics: d.length, meanD: d.reduce((a, x) => a + x, 0) / d.length };
    if (ahead === d.length) this.openedAt = this.checks;
    return this.open;
  }

  status(): GateStatus {
    return { open: this.open, checks: this.checks, last: this.last, openedAt: this.openedAt };
  }
}

/** d_j = mean over rows of Q_j(s, candidate) - Q_j(s, offline), from each critic's values on the two action sets. */
export function meanAdvantages(candidate: readonly Float32Array[], offline: readonly Float32Array[]): number[] {
  return candidate.map((qc, j) => {
    const q0 = offline[j] as Float32Array;
    let s = 0;
    for (let i = 0; i < qc.length; i++) s += (qc[i] as number) - (q0[i] as number);
    return qc.length > 0 ? s / qc.length : 0;
  });
}
