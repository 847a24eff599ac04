/**
 * The daemon's check of the built dashboard against its sources (src/api/dashboard.ts dashboardBuild, which
 * `npm start` prints as a warning): missing, stale after a source edit or without a record, fresh, unknown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashboardBuild } from '../../src/api/dashboard.ts';
import { DIGEST_FILE, webSourceDigest } from '../../web/source-digest.ts';

test('a dashboard build is missing, stale or fresh against its sources', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dash-build-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'web');
  const out = join(dir, 'dist-web');
  mkdirSync(join(src, 'src'), { recursive: true });
  writeFileSync(join(src, 'src', 'app.tsx'), 'export const a = 1;\n');
  assert.equal(dashboardBuild(out, src).state, 'missing');
  mkdirSync(out);
  writeFileSync(join(out, 'index.html'), '<html></html>');
  const noRecord = dashboardBuild(out, src);
  assert.equal(noRecord.state, 'stale', 'a build with no record of its sources');
  assert.match(noRecord.note ?? '', /no record of its sources.*npm run build:web/);
  writeFileSync(join(out, DIGEST_FILE), `${webSourceDigest(src)}\n`);
  assert.deepEqual(dashboardBuild(out, src), { state: 'fresh', note: null });
  writeFileSync(join(src, 'src', 'app.tsx'), 'export const a = 2;\n');
  const edited = dashboardBuild(out, src);
  assert.equal(edited.state, 'stale', 'a source edited after the build');
  assert.match(edited.note ?? '', /built from other sources than .*web holds now\): it serves the old page; run npm run build:web/);
  // The README is not part of the page.
  writeFileSync(join(out, DIGEST_FILE), `${webSourceDigest(src)}\n`);
  writeFileSync(join(src, 'README.md'), 'notes\n');
  assert.equal(dashboardBuild(out, src).state, 'fresh');
  assert.equal(dashboardBuild(out, join(dir, 'no-sources')).state, 'unknown');
});
