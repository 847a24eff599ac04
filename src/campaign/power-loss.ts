/**
 * Power loss: the real daemon command (src/cli/daemon.ts) with the background trainer, practising, SIGKILLed at
 * seeded-random moments. After each kill, with no process on the file: SQLite's integrity and foreign-key checks and
 * the log's invariants (src/store/check.ts); the newest episode the API reported finished before the kill is on disk
 * as reported; the trainer the daemon forked did not outlive it. Each restart comes up idle with no practice and no
 * episode, says on stdout and in /status what it recovered, and is then made to practise and killed again.
 *
 * The loop free-runs (ticks back to back): more commits per second than 10 Hz, so more chances to kill mid-commit,
 * and no missed-tick deadman while the trainer starts beside it on a loaded machine.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { checkLog } from '../store/check.ts';
import { Store } from '../store/index.ts';
import { Rng } from '../util/rng.ts';
import { alive, childPids, cpuSeconds, startTs, type Child } from './proc.ts';
import { RowBuilder, sleep, type Row } from './report.ts';

export interface PowerLossOptions {
  dir: string;
  kills: number;
  seed: number;
  /** Kill moments: uniform in [minMs, maxMs] after practice starts. */
  minMs?: number;
  maxMs?: number;
  /** Run with the background trainer (on by default in the daemon, from models/iql-offline). Default true. */
  trainer?: boolean;
  /** How long a (re)start may take to print its API line (ms): a fixed limit. Default: startLimitMs of the load. */
  startTimeoutMs?: number;
  /** Stop killing after this many minutes (the run then ends cleanly and reports the kills done, marked as stopped). */
  maxMinutes?: number;
  log?: (s: string) => void;
}

const TOKEN = 'campaign-power-loss-token-0123';

interface Finished {
  id: number;
  outcome: string;
  transitionCount: number;
}

async function api(url: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

/** A start's limit when none is given: at least START_MIN_MS, else START_PER_SHARE_MS per unit of (1 + load per core).
 *  A start is CPU work (tsx compile, onnxruntime, MuJoCo, the trainer fork), so at load L on C cores it gets about
 *  C / (L + C) of a core: restarts took 17-50 s at load 19-28 on 2 cores, and one passed 90 s. */
export const START_MIN_MS = 90_000;
export const START_PER_SHARE_MS = 15_000;
export function startLimitMs(load1: number, cores: number): number {
  const perCore = Number.isFinite(load1) && load1 > 0 ? load1 / Math.max(1, cores) : 0;
  return Math.round(Math.max(START_MIN_MS, START_PER_SHARE_MS * (1 + perCore)));
}

export async function powerLoss(o: PowerLossOptions): Promise<Row> {
  const row = new RowBuilder('power loss (SIGKILL during practice + training)');
  const log = o.log ?? (() => undefined);
  mkdirSync(o.dir, { recursive: true });
  const db = join(o.dir, 'log.db');
  const rng = new Rng(o.seed);
  const minMs = o.minMs ?? 300;
  const maxMs = o.maxMs ?? 6000;
  const env: Record<string, string> = { DAEMON_TOKEN: TOKEN };
  // Learning is on by default (models/iql-offline): its work dir in this run's folder, practice data alone.
  const learning = (o.trainer ?? true) ? ['--learning-work-dir', join(o.dir, 'trainer'), '--offline-db', 'none'] : ['--no-learning'];
  const args = ['--db', db, '--port', '0', '--free-run', '--episode-steps', '10', '--priority', 'none', ...learning];
  const moments: number[] = [];
  const integrity = { ok: 0, tried: 0 };
  const orphans: number[] = [];
  const trainerExitMs: number[] = [];
  let recoveredEpisodes = 0;
  let startMs: number[] = [];

  const start = async (): Promise<{ child: Child; url: string }> => {
    const t0 = performance.now();
    const child = startTs('src/cli/daemon.ts', args, env);
    const cores = availableParallelism();
    const loadAtStart = loadavg()[0] ?? 0;
    // Re-read while waiting: the load can rise after the start, and the limit with it (never below what it was).
    let limit = o.startTimeoutMs ?? startLimitMs(loadAtStart, cores);
    const limitNow = (): number => (limit = o.startTimeoutMs ?? Math.max(limit, startLimitMs(loadavg()[0] ?? 0, cores)));
    let m: RegExpExecArray;
    try {
      m = await child.line(/^API: (http:\/\/\S+)/, limitNow);
    } catch (e) {
      // Say what it waited for, how long, why that long, and whether the daemon was starved (little CPU) or busy.
      const why =
        o.startTimeoutMs === undefined
          ? `the limit follows the load: max(${START_MIN_MS / 1000} s, ${START_PER_SHARE_MS / 1000} s x (1 + load/cores)); set one with --start-timeout`
          : 'the limit set by --start-timeout';
      const cpu = cpuSeconds(child.pid);
      const detail =
        `the daemon (pid ${child.pid}) did not print its "API: http://..." line: ${why}; ` +
        `1-min load ${loadAtStart.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} now, on ${cores} cores; ` +
        `the daemon used ${Number.isFinite(cpu) ? cpu.toFixed(1) : '?'} s of CPU in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
      // A daemon too slow to come up (seen at load 33) must not be left running: it would practise and train on, beside
      // the next start on the same log.
      const kids = childPids(child.pid);
      child.proc.kill('SIGKILL');
      await child.exited;
      for (const pid of kids.filter(alive)) process.kill(pid, 'SIGKILL');
      throw new Error(`${e instanceof Error ? e.message : String(e)} (${detail})`);
    }
    startMs.push(performance.now() - t0);
    return { child, url: m[1] as string };
  };

  const runStart = performance.now();
  let stoppedAt: number | null = null;
  let current: { child: Child; url: string } | null = null;
  let pending: { label: string; problems: string[]; summary: string } | null = null;
  try {
    for (let k = 0; k <= o.kills; k++) {
      const label = k === 0 ? 'first start' : `restart ${k}`;
      let cur: { child: Child; url: string };
      try {
        cur = await start();
        current = cur;
      } catch (e) {
        row.crashed(pending?.label ?? label, e);
        break;
      }
      // The (re)started daemon: idle, not practising, no episode, and it says what it found.
      const problems: string[] = pending?.problems ?? [];
      const st = (await api(cur.url, '/status')).body as {
        state: string;
        practice: unknown;
        episode: unknown;
        extra?: { recovered?: { episodes: number; sessions: number } };
      };
      if (st.state !== 'idle') problems.push(`restarted in state ${st.state}, not idle`);
      if (st.practice !== null || st.episode !== null) problems.push('restarted with practice or an episode under way');
      if (pending) {
        const rec = st.extra?.recovered;
        if (!rec) problems.push('/status does not say what the restart recovered (extra.recovered)');
        else recoveredEpisodes += rec.episodes;
        if (!cur.child.lines.some((l) => /^recovered: /.test(l))) problems.push('stdout does not say what the restart recovered');
        if (!row.check(pending.label, problems)) log(`  ${pending.label}: ${problems.join('; ')}`);
        else log(`  ${pending.label}: ok (${pending.summary})`);
        pending = null;
      } else if (problems.length) row.check(label, problems);
      if (k === o.kills) break;
      if (o.maxMinutes !== undefined && performance.now() - runStart > o.maxMinutes * 60_000) {
        stoppedAt = k;
        log(`  power loss: stopped at the ${o.maxMinutes} min limit after ${k} of ${o.kills} kills`);
        break;
      }

      const started = await api(cur.url, '/practice/start', {
        method: 'POST',
        body: JSON.stringify({ count: 100_000, scenario: 'II', explorationNoise: 0.001 }),
      });
      if (started.status !== 202) {
        row.check(`${label}: practice`, [`practice/start answered ${started.status}: ${JSON.stringify(started.body)}`]);
        break;
      }
      const wait = rng.uniform(minMs, maxMs);
      moments.push(Math.round(wait));
      await sleep(wait);
      // What the API says is finished just before the kill must be on disk as said after it.
      const eps = (await api(cur.url, '/episodes?limit=1')).body as Finished[];
      const seen = Array.isArray(eps) ? (eps.find((e) => e.outcome === 'success' || e.outcome === 'failure') ?? null) : null;
      const kids = childPids(cur.child.pid);
      cur.child.proc.kill('SIGKILL');
      await cur.child.exited;
      current = null;
      // The trainer notices its parent is gone (IPC disconnect) at its next loop turn and stops; a poll of the log
      // in progress (one synchronous call over every transition it has not seen) finishes first.
      const t0 = Date.now();
      while (kids.some(alive) && Date.now() - t0 < 60_000) await sleep(100);
      trainerExitMs.push(Date.now() - t0);
      for (const pid of kids.filter(alive)) {
        orphans.push(pid);
        process.kill(pid, 'SIGKILL'); // our own descendant, left behind
      }

      const after: string[] = [];
      const c = checkLog(db);
      integrity.tried++;
      if (c.integrity === 'ok' && c.foreignKeyViolations === 0) integrity.ok++;
      else after.push(`integrity_check: ${c.integrity}; foreign-key violations ${c.foreignKeyViolations}`);
      if (c.orphanTransitions) after.push(`${c.orphanTransitions} transition(s) without their episode`);
      if (c.halfEpisodes.length) after.push(`completed episodes missing steps: ${JSON.stringify(c.halfEpisodes.slice(0, 3))}`);
      if (c.unregisteredVersions.length) after.push(`policy versions used but not registered: ${c.unregisteredVersions.join(', ')}`);
      if (seen) {
        const ck = Store.openReadOnly(db, { integrityCheck: 'header' });
        try {
          const e = ck.getEpisode(seen.id);
          if (!e) after.push(`episode ${seen.id} reported ${seen.outcome} before the kill is not on disk`);
          else if (e.outcome !== seen.outcome || e.transitionCount !== seen.transitionCount)
            after.push(`episode ${seen.id}: reported ${seen.outcome} with ${seen.transitionCount} steps, on disk ${e.outcome} with ${e.transitionCount}`);
        } finally {
          ck.close();
        }
      }
      pending = {
        label: `kill ${k + 1} at ${Math.round(wait)} ms`,
        problems: after,
        summary: `${c.counts.episodes} episodes, ${c.counts.transitions} transitions, ${c.counts.openEpisodes} left open`,
      };
    }
  } finally {
    if (current) {
      current.child.proc.kill('SIGTERM');
      const t = setTimeout(() => current?.child.proc.kill('SIGKILL'), 20_000);
      await current.child.exited;
      clearTimeout(t);
    }
  }
  // No log when the first start failed before it opened one.
  const final = existsSync(db) ? checkLog(db) : { counts: { episodes: 0, transitions: 0, openEpisodes: 0 } };
  row.data.kills = o.kills;
  row.data.seed = o.seed;
  row.data.momentsMs = moments;
  row.data.integrity = integrity;
  row.data.orphanedTrainers = orphans.length;
  row.data.recoveredEpisodes = recoveredEpisodes;
  row.data.finalCounts = final.counts;
  row.data.startMs = startMs.map(Math.round);
  row.data.trainerExitMs = trainerExitMs;
  row.data.minutes = Math.round((performance.now() - runStart) / 600) / 100;
  if (stoppedAt !== null) {
    row.data.stoppedAtMinuteLimit = { maxMinutes: o.maxMinutes, killsDone: stoppedAt };
    row.failures.push(`stopped at the ${o.maxMinutes} min limit after ${stoppedAt} of ${o.kills} kills (not a full run)`);
  }
  if (orphans.length) row.failures.push(`${orphans.length} trainer process(es) outlived the killed daemon by 60 s`);
  startMs = [];
  return row.done(
    `${row.passed}/${row.tried} kills survived (incl. restarts idle and reporting); integrity ${integrity.ok}/${integrity.tried}; ` +
      `${final.counts.episodes} episodes / ${final.counts.transitions} transitions on disk; ${recoveredEpisodes} dangling episodes closed at restart; trainer gone ${Math.round(Math.max(0, ...trainerExitMs) / 100) / 10} s after the kill at most (orphans ${orphans.length})`,
  );
}
