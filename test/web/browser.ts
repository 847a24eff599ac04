/**
 * Real headless Chromium (Debian's, installed by scripts/install-system-deps.sh) through playwright-core, with a fresh
 * profile per launch and nothing that phones home; and the built dashboard (built here if `npm run build:web` has not
 * run since the sources changed, so a single test file can run alone and never tests a stale page).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser as PwBrowser, type BrowserContext } from 'playwright-core';
import { DIGEST_FILE, webSourceDigest } from '../../web/source-digest.ts';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const root = resolve(import.meta.dirname, '../..');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Builds the dashboard unless dist/web was built from the sources as they are: a build older than the sources (seen: one
 * without the e-stop listener's URL, so the page's e-stop never reached the listener and the Chromium test failed) is
 * rebuilt, not tested (the digest: web/source-digest.ts, written by every build).
 */
export function ensureWebBuilt(): void {
  const stamp = join(root, 'dist/web', DIGEST_FILE);
  const digest = webSourceDigest(join(root, 'web'));
  if (existsSync(join(root, 'dist/web/index.html')) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest) return;
  const r = spawnSync(
    process.execPath,
    [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(root, 'web/vite.config.ts'), '--logLevel', 'warn'],
    { cwd: root, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`building the dashboard failed (npm run build:web):\n${r.stdout}\n${r.stderr}`);
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 1440, height: 900 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/install-system-deps.sh (installs Debian's chromium) or set CHROMIUM_PATH`);
  const profile = mkdtempSync(join(tmpdir(), 'dash-chromium-'));
  // (retries: Chromium's last profile writes can race the removal)
  const removeProfile = (): void => rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  // A persistent context on a fresh temp dir is playwright's way to pass --user-data-dir.
  const context = await chromium
    .launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport })
    .catch((e: unknown) => {
      removeProfile();
      throw e;
    });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      removeProfile();
    },
  };
}

/**
 * A browser for separate sessions (`newContext()` each: own cookies, storage and connection pool, like separate
 * machines). playwright's launch() gives it a fresh temporary profile of its own.
 */
export async function launchIsolated(): Promise<PwBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/install-system-deps.sh (installs Debian's chromium) or set CHROMIUM_PATH`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}
