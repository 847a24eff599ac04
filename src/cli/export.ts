/**
 * Export a logged session (or some of its episodes) for tools outside the project.
 *
 *   npm run export -- --db data/daemon.db --session 3 --format mcap --out session3.mcap   # Foxglove / Lichtblick / ros2 bag
 *   npm run export -- --db data/daemon.db --session 3 --episodes 12,13 --format npz --out s3.npz   # NumPy
 *
 * Formats and schemas: src/export/README.md. Exit codes: 0 written, 2 bad input (unknown session or episode,
 * unwritable output, refused database), 1 an unexpected failure.
 */
import { exportMcap } from '../export/mcap.ts';
import { exportNpz } from '../export/npz.ts';
import { ExportError } from '../export/select.ts';
import { Store, StoreOpenError } from '../store/index.ts';
import { runIfMain, STDIO, type Io } from '../util/args.ts';
import { command, commandUsage, parseCommand, T, UsageError } from './flags.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const EXPORT = command({
  name: 'export',
  usage: 'npm run export -- --db FILE --session N --out FILE [flags]',
  notes: 'GET /sessions lists the sessions. Formats and schemas: src/export/README.md.',
  flags: T.object({
    db: T.string({ minLength: 1, description: 'the database to export from', cli: { arg: 'FILE' } }),
    session: T.integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'the session id' }),
    episodes: T.optional(
      T.array(T.integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), {
        description: 'only these episodes',
        cli: { arg: 'ID,ID,...', defaultText: 'all' },
      }),
    ),
    format: T.optional(T.enum(['mcap', 'npz'], { description: 'output format', cli: { defaultText: 'the --out extension (.mcap, .npz)' } })),
    out: T.string({ minLength: 1, description: 'the output file', cli: { arg: 'FILE' } }),
    compress: T.boolean({ description: 'deflate npz members (like np.savez_compressed)' }),
    quiet: T.boolean({ description: 'no progress on stderr' }),
  }),
});
const USAGE = commandUsage(EXPORT);

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
  const { values: v, help } = parseCommand(EXPORT, argv);
  if (help) return 'help';
  const format = v.format ?? (/\.mcap$/i.test(v.out) ? 'mcap' : /\.npz$/i.test(v.out) ? 'npz' : undefined);
  if (format === undefined) throw new UsageError('--format: must be mcap or npz (or an --out ending in .mcap / .npz)');
  return {
    db: v.db,
    session: v.session,
    ...(v.episodes ? { episodes: v.episodes } : {}),
    format,
    out: v.out,
    compress: v.compress,
    quiet: v.quiet,
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
