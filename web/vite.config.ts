/** Builds the operator's dashboard into dist/web, which the daemon serves at `/` (src/api/dashboard.ts). */
import { defineConfig } from 'vite';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIGEST_FILE, webSourceDigest } from './source-digest.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../dist/web', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  // Preact's automatic JSX runtime (no plugin needed).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  // Which sources this build was made from (test/web/browser.ts rebuilds a stale one).
  plugins: [{ name: 'source-digest', closeBundle: () => writeFileSync(join(outDir, DIGEST_FILE), `${webSourceDigest(here)}\n`) }],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  // `npm run dev:web` proxies the API of a daemon on the default port while editing the page.
  server: {
    proxy: Object.fromEntries(
      ['/status', '/events', '/live', '/practice', '/estop', '/sessions', '/episodes', '/transitions', '/models', '/event-log', '/connectors'].map((p) => [
        p,
        'http://127.0.0.1:8750',
      ]),
    ),
  },
});
