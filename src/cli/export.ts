/**
 * Export a logged session (or some of its episodes) for tools outside the project.
 *
 *   npm run export -- --db data/daemon.db --session 3 --format mcap --out session3.mcap   # Foxglove / Lichtblick / ros2 bag
 *   npm run export -- --db data/daemon.db --session 3 --episodes 12,13 --format npz --out s3.npz   # NumPy
 *
 * Formats and schemas: src/export/README.md. Exit codes: 0 written, 2 bad input (unknown session or episode,
 * unwritable output, refused database), 1 an unexpected failure.
 */
import { parseArgs } from 'node:util';
import { exportMcap } from '../export/mcap.ts';
import { exportNpz } from '../export/npz.ts';
import { ExportError } from '../export/select.ts';
import { Store, StoreOpenError } from '../store/index.ts';
import { UsageError, int, runIfMain, STDIO, type Io } from '../util/args.ts';

const USAGE = `usage: export --db FILE --session N [--episodes ID,ID,...] --format mcap|npz --out FILE [--compress] [--quiet]
  --format defaults to the --out extension (.mcap, .npz); --compress deflates npz members (like np.savez_compressed)`;

export interface ExportArgs {
  db: string;
  session: number;
  episodes?: number[];
  format: 'mcap' | 'npz';
  out: string;
  compress: boolean;
  quiet: boolean;
}

export function parseExportArgs(argv: string[]): ExportArgs | 'help' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        db: { type: 'string' },
        session: { type: 'string' },
        episodes: { type: 'string' },
        format: { type: 'string' },
        out: { type: 'string' },
        compress: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (v.help) return 'help';
  if (!v.db) throw new UsageError('--db: the database to export from is required');
  if (!v.session) throw new UsageError('--session: the session id is required (GET /sessions lists them)');
  if (!v.out) throw new UsageError('--out: the output file is required');
  const format = v.format ?? (/\.mcap$/i.test(v.out) ? 'mcap' : /\.npz$/i.test(v.out) ? 'npz' : undefined);
  if (format !== 'mcap' && format !== 'npz')
    throw new UsageError(`--format: must be mcap or npz${v.format ? `, got "${v.format}"` : ' (or an --out ending in .mcap / .npz)'}`);
  const episodes = v.episodes === undefined ? undefined : v.episodes.split(',').map((s) => int('--episodes', s, 1, Number.MAX_SAFE_INTEGER));
  return {
    db: v.db,
    session: int('--session', v.session, 1, Number.MAX_SAFE_INTEGER),
    ...(episodes ? { episodes } : {}),
    format,
    out: v.out,
    compress: !!v.compress,
    quiet: !!v.quiet,
  };
}

export async function main(argv: string[], io: Io = STDIO): Promise<number> {
  let a: ExportArgs | 'help';
  try {
    a = parseExportArgs(argv);
  } catch (e) {
    io.err(`export: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (a === 'help') {
    io.out(`${USAGE}\n`);
    return 0;
  }
  let store: Store | null = null;
  try {
    store = Store.openReadOnly(a.db);
    const progress = a.quiet
      ? undefined
      : (p: { episodes: number; ofEpisodes: number; transitions: number }): void => {
          io.err(`\rexport: episode ${p.episodes}/${p.ofEpisodes}, ${p.transitions} transitions`);
        };
    const common = {
      store,
      sessionId: a.session,
      ...(a.episodes ? { episodeIds: a.episodes } : {}),
      out: a.out,
      ...(progress ? { onProgress: progress } : {}),
    };
    const r = a.format === 'mcap' ? await exportMcap(common) : await exportNpz({ ...common, compress: a.compress });
    if (!a.quiet) io.err('\n');
    const rate = r.transitions / Math.max(r.seconds, 1e-9);
    io.out(`${JSON.stringify(r)}\n`);
    if (!a.quiet)
      io.err(
        `export: ${r.format} ${a.out}: ${r.episodes} episodes, ${r.transitions} transitions, ${(r.bytes / 1024).toFixed(0)} KiB in ${r.seconds.toFixed(2)} s (${rate.toFixed(0)} transitions/s)\n`,
      );
    return 0;
  } catch (e) {
    if (e instanceof ExportError || e instanceof StoreOpenError || e instanceof UsageError) {
      io.err(`\nexport: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    store?.close();
  }
}

runIfMain(import.meta.url, 'export', () => main(process.argv.slice(2)));
