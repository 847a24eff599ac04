/** The progress bar of the long commands (collect, evaluate): on stderr, only when it is a terminal and asked for. */
import cliProgress from 'cli-progress';

export function progressBar(on: boolean, format: string, etaBuffer: number): cliProgress.SingleBar | null {
  if (!on || !process.stderr.isTTY) return null;
  return new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true, etaBuffer }, cliProgress.Presets.shades_classic);
}
