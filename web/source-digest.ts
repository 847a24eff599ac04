/**
 * A digest of the dashboard's sources (this folder but its README), written beside each build (vite.config.ts) so
 * that a build older than the sources can be told apart and rebuilt (test/web/browser.ts ensureWebBuilt). File times do
 * not tell: a checkout sets them all.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const DIGEST_FILE = '.source-digest';

export function webSourceDigest(webDir: string): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const f = join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name !== 'README.md') h.update(`${relative(webDir, f)}\0`).update(readFileSync(f));
    }
  };
  walk(webDir);
  return h.digest('hex');
}
