/** Builds the operator's dashboard into dist/web, which the daemon serves at `/` (src/api/dashboard.ts). */
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  // Preact's automatic JSX runtime (no plugin needed).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  // `npm run dev:web` proxies the API of a daemon on the default port while editing the page.
  server: {
    proxy: Object.fromEntries(
      ['/status', '/events', '/live', '/practice', '/estop', '/sessions', '/episodes', '/transitions', '/models', '/event-log', '/connectors'].map((p) => [p, 'http://127.0.0.1:8750']),
    ),
  },
});
