/** What the exporters share: the error type, choosing a session's episodes, and writing an output file atomically. */
import { closeSync, existsSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Store } from '../store/index.ts';
import type { EpisodeRecord, SessionRecord } from '../store/types.ts';

/** Bad input to an export or import (unknown session, unwritable output, corrupt or unsuitable bag). */
export class ExportError extends Error {
  override name = 'ExportError';
}

export interface Selection {
  session: SessionRecord;
  /** Ascending by id; only episodes with at least one logged transition. */
  episodes: EpisodeRecord[];
  transitions: number;
}

/** A session's episodes (all, or the listed ones, which must belong to it); errors name the database and the id. */
export function selectEpisodes(store: Store, sessionId: number, episodeIds?: readonly number[]): Selection {
  if (!Number.isInteger(sessionId) || sessionId <= 0) throw new ExportError(`session must be a positive integer, got ${sessionId}`);
  const session = store.getSession(sessionId);
  if (!session) {
    const ids = store.listSessions({ order: 'asc', limit: 1_000_000 }).map((s) => s.id);
    const known = ids.length === 0 ? 'it has no sessions' : `its sessions are ${ids.length > 10 ? `${ids[0]}..${ids[ids.length - 1]}` : ids.join(', ')}`;
    throw new ExportError(`${store.file}: no session ${sessionId} (${known})`);
  }
  let episodes = store.listEpisodes({ sessionId, order: 'asc', limit: 1_000_000_000 });
  if (episodeIds !== undefined) {
    if (episodeIds.length === 0) throw new ExportError('episodes: the list is empty');
    const inSession = new Map(episodes.map((e) => [e.id, e]));
    for (const id of episodeIds) {
      if (!inSession.has(id))
        throw new ExportError(`${store.file}: episode ${id} is not in session ${sessionId}${store.getEpisode(id) ? '' : ' (no such episode)'}`);
    }
    const wanted = new Set(episodeIds);
    episodes = episodes.filter((e) => wanted.has(e.id));
  }
  episodes = episodes.filter((e) => e.transitionCount > 0);
  const transitions = episodes.reduce((n, e) => n + e.transitionCount, 0);
  if (transitions === 0)
    throw new ExportError(`${store.file}: session ${sessionId}${episodeIds ? ` (episodes ${episodeIds.join(',')})` : ''} has no logged transitions to export`);
  return { session, episodes, transitions };
}

/**
 * Writes `out` through a temporary file beside it, renamed into place only when `write` succeeds, so a failed or
 * interrupted export never leaves a truncated file under the asked name. Refuses, before any work, an output whose
 * directory is missing or not writable, or that names a directory.
 */
export async function writeAtomically<T>(out: string, write: (tmpPath: string) => Promise<T>): Promise<T> {
  if (typeof out !== 'string' || out === '') throw new ExportError('out: an output file is required');
  if (existsSync(out) && statSync(out).isDirectory()) throw new ExportError(`out: ${out} is a directory`);
  const dir = dirname(out);
  if (!existsSync(dir)) throw new ExportError(`out: directory ${dir} does not exist`);
  const tmp = join(dir, `.${basename(out)}.${process.pid}.partial`);
  try {
    closeSync(openSync(tmp, 'w'));
  } catch (e) {
    throw new ExportError(`out: cannot write in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const r = await write(tmp);
    renameSync(tmp, out);
    return r;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
