/**
 * The architecture as written down and as enforced agree (issue 10): the README's layer picture is eslint.config.js's
 * LAYERS, its folder table names every folder of src/, and the layer rule refuses an import against the layers and a
 * library outside its home.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');
// Loaded by path: the config is plain JavaScript without type declarations.
const { LAYERS, default: config } = (await import(pathToFileURL(join(ROOT, 'eslint.config.js')).href)) as { LAYERS: string[][]; default: Linter.Config[] };
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## How it is built'), readme.indexOf('## Commands'));

test("the README's layer picture is the layer rule's LAYERS, and its folder table names every folder of src/", () => {
  // The picture: highest first, layers joined by arrows, folders of one layer by middle dots.
  const picture = /```\n(cli ─►[^`]*)```/.exec(section)?.[1];
  assert.ok(picture, 'the layer picture (a block starting "cli ─►") is in "How it is built"');
  const drawn = picture
    .split('─►')
    .map((l) =>
      l
        .trim()
        .split(/\s*·\s*/)
        .sort(),
    )
    .reverse();
  assert.deepEqual(
    drawn,
    LAYERS.map((l) => [...l].sort()),
  );
  const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const tabled = [...section.matchAll(/`src\/([a-z0-9]+)\/`/g)].map((m) => m[1]);
  for (const f of folders) assert.ok(tabled.includes(f), `src/${f}/ is in the README's folder table`);
  for (const f of tabled) assert.ok(folders.includes(f as string), `the README's folder table names src/${f}/, which exists`);
});

test('the layer rule refuses a lower layer importing a higher one, and a library imported outside its home', async () => {
  const arch = config.find((c) => c.plugins?.arch)?.plugins?.arch;
  assert.ok(arch, 'eslint.config.js registers the arch plugin');
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [{ files: ['**/*.ts'], plugins: { arch }, rules: { 'arch/layers': 'error' } }],
  });
  const lint = async (file: string, code: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath: join(ROOT, file) }))[0]?.messages.map((m) => m.message) ?? [];
  assert.deepEqual(await lint('src/store/x.ts', "import { Daemon } from '../daemon/loop.ts';\nexport { Daemon };\n"), [
    'src/store/ (layer 1) must not import src/daemon/ (layer 6): only lower layers',
  ]);
  assert.deepEqual(await lint('src/daemon/x.ts', "import Fastify from 'fastify';\nexport { Fastify };\n"), ["'fastify' is imported only in src/api/"]);
  assert.deepEqual(await lint('src/daemon/x.ts', "import { Store } from '../store/index.ts';\nexport { Store };\n"), []);
});

test("the trainer's code reads no environment variable: its settings come in the child's JSON config", async () => {
  const block = config.find((c) => c.files?.includes('src/online/**') && c.rules?.['no-restricted-properties']);
  assert.ok(block?.rules, 'eslint.config.js restricts process.env in src/online/');
  // typescript-eslint's parser, as the config sets it (the real files hold type imports).
  const parser = config.find((c) => c.languageOptions?.parser)?.languageOptions?.parser;
  const eslint = new ESLint({ cwd: ROOT, overrideConfigFile: true, overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser }, rules: block.rules }] });
  const lint = async (file: string, code: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath: join(ROOT, file) }))[0]?.messages.map((m) => m.message) ?? [];
  assert.deepEqual(await lint('src/online/x.ts', 'export const poll = Number(process.env.TRAINER_POLL_MS ?? 250);\n'), [
    "'process.env' is restricted from being used. pass it in the trainer's config (online/child.ts ChildConfig), not the environment",
  ]);
  // The real child and supervisor pass (the lint of npm test checks every file of src/online/ the same way).
  for (const f of ['src/online/child.ts', 'src/online/supervisor.ts']) assert.deepEqual(await lint(f, readFileSync(join(ROOT, f), 'utf8')), [], f);
});
