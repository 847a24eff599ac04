/** A session logged by the real daemon on the simulated cell (test/daemon/helpers.ts rig), copied out for replays. */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { logged, rig, scriptedPolicy, tempDir, tickUntil } from '../daemon/helpers.ts';
import { Store } from '../../src/store/index.ts';
import type { Vec3 } from '../../src/core/types.ts';

export interface LoggedSession {
  db: string;
  sessionId: number;
  dir: string;
  cleanup: () => void;
}

/**
 * `count` practice episodes of `steps` steps, scenario II, exploration noise 1 mm, driven by a scripted residual
 * (`residual`), judged by ground truth (no reward model). The database is copied to a fresh temp dir.
 */
export async function logSession(o: { count?: number; steps?: number; residual?: (call: number) => Vec3; connector?: string } = {}): Promise<LoggedSession> {
  const r = await rig({
    overrides: { episodeSteps: o.steps ?? 12 },
    policy: scriptedPolicy('scripted@1', o.residual ?? ((c) => [0.002 * Math.sin(c), 0.002 * Math.cos(c), 0])),
    ...(o.connector ? { connector: o.connector } : {}),
  });
  const out = tempDir('replay-test-');
  try {
    const started = r.app.daemon.startPractice({ count: o.count ?? 3, scenario: 'II', explorationNoise: 0.001, seed: 7 });
    if (!started.ok) throw new Error(started.reason);
    await tickUntil(r.app, () => r.app.daemon.currentState === 'idle' && r.app.daemon.status().practice === null, 500);
    await logged(r);
    const sessionId = r.app.log.sessionId;
    await r.app.close();
    const db = join(out.dir, 'source.db');
    copyFileSync(r.db, db);
    return { db, sessionId, dir: out.dir, cleanup: out.cleanup };
  } finally {
    await r.close();
  }
}

/** Fingerprint of everything the source session owns: its row, its episodes and transitions (all columns), counts. */
export function sourceFingerprint(db: string, sessionId: number): { digest: string; session: string; episodes: number; transitions: number; events: number } {
  const s = Store.openReadOnly(db);
  try {
    const d = s.datasetDigest({ sessionId });
    const raw = new Database(db, { readonly: true });
    try {
      const session = JSON.stringify(raw.prepare('SELECT * FROM sessions WHERE id = ?').get(sessionId));
      const events = (raw.prepare('SELECT count(*) AS n FROM events WHERE session_id = ?').get(sessionId) as { n: number }).n;
      const episodes = JSON.stringify(raw.prepare('SELECT * FROM episodes WHERE session_id = ? ORDER BY id').all(sessionId));
      return { digest: `${d.sha256}:${episodes}`, session, episodes: d.episodes, transitions: d.transitions, events };
    } finally {
      raw.close();
    }
  } finally {
    s.close();
  }
}

/** Copy of a log for tests that edit it (the edit is the test's, never the replay's). */
export function copyDb(src: string, dir: string, name: string): string {
  const p = join(dir, name);
  copyFileSync(src, p);
  return p;
}
