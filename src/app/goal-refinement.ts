/**
 * x*'s refinement across restarts: every change is logged as a 'goal_refined' event carrying the connector's seated
 * endings (daemon/loop.ts noteGoal), and a reset as 'goal_refine_reset'. At start the latest of these per connector
 * gives back the endings the refinement stood on, so a restart does not drop the daemon back to the calibrated x*
 * that its policy has learnt to work without.
 */
import type { SeatedEnding } from '../control/goal-refine.ts';
import type { Store } from '../store/index.ts';

/** How many recent events of each kind are read back. */
const EVENTS_READ = 2000;

function endingsOf(data: unknown): SeatedEnding[] | null {
  const list = (data as { endings?: unknown } | null)?.endings;
  if (!Array.isArray(list)) return null;
  const out: SeatedEnding[] = [];
  for (const e of list as unknown[]) {
    const { episodeId, dx, dy } = (e ?? {}) as Record<string, unknown>;
    if (typeof episodeId !== 'number' || typeof dx !== 'number' || typeof dy !== 'number' || ![episodeId, dx, dy].every(Number.isFinite)) return null;
    out.push({ episodeId, dx, dy });
  }
  return out;
}

/** Each connector's seated endings as last logged (none after a reset), and what was restored or skipped, said. */
export function goalEndingsFromLog(store: Store): { endings: Record<string, SeatedEnding[]>; notes: string[] } {
  const events = [
    ...store.listEvents({ kind: 'goal_refined', limit: EVENTS_READ }),
    ...store.listEvents({ kind: 'goal_refine_reset', limit: EVENTS_READ }),
  ].sort((a, b) => b.id - a.id);
  const endings: Record<string, SeatedEnding[]> = {};
  const decided = new Set<string>();
  const notes: string[] = [];
  let resetAll = false;
  for (const e of events) {
    const domain = (e.data as { domain?: unknown } | null)?.domain;
    if (e.kind === 'goal_refine_reset') {
      if (domain === null) resetAll = true;
      else if (typeof domain === 'string') decided.add(domain);
      if (resetAll) break;
      continue;
    }
    if (typeof domain !== 'string' || decided.has(domain)) continue;
    decided.add(domain);
    const list = endingsOf(e.data);
    if (list === null) notes.push(`x* refinement of ${domain} not restored: event ${e.id} does not carry its seated endings`);
    else if (list.length > 0) endings[domain] = list;
  }
  const restored = Object.entries(endings).map(([d, l]) => `${d} (${l.length} seated endings)`);
  if (restored.length) notes.push(`x* refinement restored from the log: ${restored.join(', ')}`);
  return { endings, notes };
}
