// Lint: typescript-eslint's type-checked rules, and the architecture as rules (see README, "How it is built").
import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first. A folder may import folders of lower layers only (and itself); `core` and `util`
 * are below everything. Keep this list and the README's picture the same.
 */
export const LAYERS = [
  ['core', 'util'],
  ['sim', 'store', 'policy', 'config'],
  ['learn', 'robot'],
  ['control', 'ros2'],
  ['eval'],
  ['data'],
  ['daemon'],
  ['swap', 'online', 'offline', 'export'],
  ['replay'],
  ['api'],
  ['app'],
  ['experiment', 'campaign'],
  ['cli'],
];

/** Outside libraries and the one folder that may import each (everything else goes through that folder). */
export const LIBRARY_HOMES = {
  'better-sqlite3': 'store',
  pg: 'store',
  mujoco: 'sim',
  'onnxruntime-node': 'policy',
  'onnx-proto': 'policy',
  '@tensorflow/tfjs': 'learn',
  '@tensorflow/tfjs-backend-wasm': 'learn',
  '@tensorflow/tfjs-node': 'learn',
  fastify: 'api',
  '@fastify/swagger': 'api',
  sharp: 'robot',
  yaml: 'config',
  ajv: 'config',
  'cli-progress': 'cli',
  rclnodejs: 'ros2',
  '@foxglove': 'ros2',
  '@mcap/core': 'export',
  fflate: 'export',
};

const levelOf = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i])));
const srcDir = path.resolve(import.meta.dirname, 'src');

function folderOf(file) {
  const rel = path.relative(srcDir, file);
  if (rel.startsWith('..')) return null;
  return rel.split(path.sep)[0] ?? null;
}

/** A local rule: layer order and library homes, checked on every import and dynamic import of src/. */
const layers = {
  meta: { type: 'problem', schema: [] },
  create(context) {
    const from = folderOf(context.filename);
    if (from === null) return {};
    const check = (node, spec) => {
      if (typeof spec !== 'string') return;
      if (spec.startsWith('.')) {
        const to = folderOf(path.resolve(path.dirname(context.filename), spec));
        if (to === null || to === from) return;
        const lf = levelOf.get(from);
        const lt = levelOf.get(to);
        if (lf === undefined) context.report({ node, message: `src/${from}/ is not in a layer (eslint.config.js LAYERS)` });
        else if (lt === undefined) context.report({ node, message: `src/${to}/ is not in a layer (eslint.config.js LAYERS)` });
        else if (lt >= lf) context.report({ node, message: `src/${from}/ (layer ${lf}) must not import src/${to}/ (layer ${lt}): only lower layers` });
        return;
      }
      const lib = Object.keys(LIBRARY_HOMES).find((l) => spec === l || spec.startsWith(`${l}/`));
      if (lib && LIBRARY_HOMES[lib] !== from) context.report({ node, message: `'${lib}' is imported only in src/${LIBRARY_HOMES[lib]}/` });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['node_modules/', 'web/dist/', 'data/', 'models/', 'results/', 'bench/results/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { arch: { rules: { layers } } },
    rules: {
      'arch/layers': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Async is how fastify handlers and promise-returning interface methods are written, awaited or not.
      '@typescript-eslint/require-await': 'off',
      // Our errors carry the cause's message in their own text (file, field, why).
      'preserve-caught-error': 'off',
      // node:test's test()/describe() return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
    },
  },
  {
    // Every command line is a declared flag table (src/cli/flags.ts makes the parser, checks and --help from it),
    // benchmarks' included (bench/commands.ts).
    files: ['src/**', 'bench/**', 'test/**'],
    ignores: ['src/cli/flags.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'node:util', importNames: ['parseArgs'], message: 'declare the flags as a table and parse with src/cli/flags.ts' }] },
      ],
    },
  },
  {
    // The trainer's settings reach it one way: the supervisor's options, carried in the child's JSON config
    // (online/child.ts ChildConfig). Its child inherits the daemon's environment, so a variable read here would be a
    // second, silent channel (TRAINER_NICE, TRAINER_POLL_MS and TRAINER_CRASH_AFTER were one until 2026-12).
    files: ['src/online/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: "pass it in the trainer's config (online/child.ts ChildConfig), not the environment" },
      ],
    },
  },
  {
    // Tests and benchmarks read untyped JSON (HTTP replies, result files) and poke at internals on purpose.
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
