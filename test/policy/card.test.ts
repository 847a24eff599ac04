import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cardPathFor,
  codeVersion,
  ModelCardError,
  readCard,
  sha256File,
  sha256Hex,
  validateCard,
  writeModelFiles,
  type CardDraft,
} from '../../src/policy/card.ts';
import { cardDraft } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'card-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function draft(): CardDraft {
  return {
    ...cardDraft('policy', { size: 32, proprioDim: 9, bound: 0.003 }),
    inputs: [
      { name: 'image', role: 'image', shape: [null, 32, 32, 3], dtype: 'float32' },
      { name: 'proprio', role: 'proprio', shape: [null, 9], dtype: 'float32' },
    ],
    outputs: [{ name: 'residual', role: 'action', shape: [null, 3], dtype: 'float32' }],
  };
}

function fullCard(): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      format: 'insertion-daemon/model-card',
      formatVersion: 1,
      ...draft(),
      onnx: { file: 'p.onnx', sha256: 'a'.repeat(64), bytes: 10, opset: 17, irVersion: 8 },
    }),
  ) as Record<string, unknown>;
}

test('writeModelFiles writes the model and <file>.json atomically, with the hash and size of the bytes, and readCard reads it back', () => {
  const path = join(dir, 'm', 'policy.onnx');
  const bytes = new Uint8Array([8, 1, 2, 3, 4, 5]);
  const card = writeModelFiles(path, bytes, draft(), { opset: 17, irVersion: 8 });
  assert.equal(cardPathFor(path), `${path}.json`);
  assert.deepEqual(new Uint8Array(readFileSync(path)), bytes);
  assert.equal(card.onnx.sha256, sha256Hex(bytes));
  assert.equal(card.onnx.bytes, 6);
  assert.equal(card.onnx.file, 'policy.onnx');
  assert.deepEqual(readCard(cardPathFor(path)), card);
  assert.deepEqual(readdirSync(join(dir, 'm')).sort(), ['policy.onnx', 'policy.onnx.json']); // no temp files left
});

test('codeVersion reads the git commit of the working tree', { skip: !existsSync('.git') && 'not run from a git checkout' }, () => {
  const v = codeVersion();
  assert.match(v.gitCommit, /^[0-9a-f]{40}$/);
  assert.equal(codeVersion(tmpdir()).gitCommit, 'unknown');
});

test('codeVersion: changed models/ files (what npm run models writes) leave the code clean; a changed source file does not, from any folder', (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'card-git-'));
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  const git = (...args: string[]): string => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' });
  git('init', '-q');
  mkdirSync(join(repo, 'models'));
  mkdirSync(join(repo, 'src'));
  writeFileSync(join(repo, 'models', 'reward.onnx'), 'old');
  writeFileSync(join(repo, 'src', 'a.ts'), 'old');
  git('add', '.');
  git('commit', '-qm', 'x');
  assert.equal(codeVersion(repo).dirty, false);
  writeFileSync(join(repo, 'models', 'reward.onnx'), 'retrained');
  writeFileSync(join(repo, 'notes.md'), 'untracked');
  assert.equal(codeVersion(repo).dirty, false);
  assert.equal(codeVersion(join(repo, 'src')).dirty, false);
  writeFileSync(join(repo, 'src', 'a.ts'), 'edited');
  assert.equal(codeVersion(repo).dirty, true);
  assert.equal(codeVersion(join(repo, 'models')).dirty, true);
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each case deliberately breaks the ModelCard type
const cases: [string, (c: any) => void, RegExp][] = [
  // `any`: these edits deliberately break the type.
  [
    'wrong kind',
    (c) => {
      c.kind = 'planner';
    },
    /field 'kind' must be one of 'policy', 'reward', 'encoder'/,
  ],
  [
    'bad date',
    (c) => {
      c.created = 'yesterday';
    },
    /field 'created' must be an ISO 8601 date/,
  ],
  [
    'missing description',
    (c) => {
      delete c.description;
    },
    /field 'description' must be a non-empty string/,
  ],
  [
    'fixed batch',
    (c) => {
      c.inputs[0].shape = [1, 32, 32, 3];
    },
    /field 'inputs\[0\]\.shape' must start with a null/,
  ],
  [
    'wrong dtype',
    (c) => {
      c.outputs[0].dtype = 'int32';
    },
    /field 'outputs\[0\]\.dtype' must be 'float32'/,
  ],
  [
    'policy output role',
    (c) => {
      c.outputs[0].role = 'probability';
    },
    /field 'outputs\[0\]\.role' must be 'action' for a policy model/,
  ],
  [
    'image size vs input',
    (c) => {
      c.preprocessing.image.width = 64;
    },
    /field 'preprocessing\.image' says \[null,32,64,3\] but input 'image' has shape \[null,32,32,3\]/,
  ],
  [
    'colour vs channels',
    (c) => {
      c.preprocessing.image.colour = 'gray';
    },
    /'gray' does not fit 3 channel/,
  ],
  [
    'image preprocessing missing',
    (c) => {
      delete c.preprocessing.image;
    },
    /field 'preprocessing\.image' is required: input 'image'/,
  ],
  [
    'proprio layout length',
    (c) => {
      c.preprocessing.proprio.layout.pop();
    },
    /field 'preprocessing\.proprio\.mean' has 9 entries, layout has 8/,
  ],
  [
    'zero std',
    (c) => {
      c.preprocessing.proprio.std[2] = 0;
    },
    /field 'preprocessing\.proprio\.std\[2\]' must be > 0/,
  ],
  [
    'action bounds length',
    (c) => {
      c.action.low = [-1, -1];
    },
    /field 'action\.low' has 2 entries, output 'residual' has 3/,
  ],
  [
    'action bounds order',
    (c) => {
      c.action.low[1] = 0.01;
    },
    /field 'action\.low\[1\]' must be below action\.high/,
  ],
  [
    'held-out leak',
    (c) => {
      c.training.heldOut.push('rect-a');
    },
    /field 'training\.heldOut' names 'rect-a', which is also a training connector/,
  ],
  [
    'db hash',
    (c) => {
      c.training.database = { path: 'x.db', sha256: 'XYZ' };
    },
    /field 'training\.database\.sha256' must be 64 lowercase hex/,
  ],
  [
    'metric NaN',
    (c) => {
      c.metrics.acc = 'high';
    },
    /field 'metrics\.acc' must be a finite number/,
  ],
  [
    'code dirty',
    (c) => {
      c.code.dirty = 'no';
    },
    /field 'code\.dirty' must be true or false/,
  ],
  [
    'onnx sha',
    (c) => {
      c.onnx.sha256 = 'abc';
    },
    /field 'onnx\.sha256' must be 64 lowercase hex/,
  ],
  [
    'format',
    (c) => {
      c.formatVersion = 2;
    },
    /field 'formatVersion' must be 1/,
  ],
];

for (const [label, edit, pattern] of cases) {
  test(`validateCard refuses: ${label}`, () => {
    const c = fullCard();
    assert.doesNotThrow(() => validateCard(c, 'models/x.onnx.json'));
    edit(c);
    assert.throws(
      () => validateCard(c, 'models/x.onnx.json'),
      (e: unknown) => e instanceof ModelCardError && e.message.startsWith('models/x.onnx.json: ') && pattern.test(e.message),
    );
  });
}

test('a reward card must have a [null, 1] probability output and no action bounds', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test deliberately breaks the ModelCard type
  const c = fullCard() as any;
  c.kind = 'reward';
  c.outputs[0].role = 'probability';
  assert.throws(() => validateCard(c, 'r.json'), /field 'outputs\[0\]\.shape' must be \[null, 1\] for a reward model/);
  c.outputs[0].shape = [null, 1];
  assert.throws(() => validateCard(c, 'r.json'), /field 'action' is only for policy models/);
  delete c.action;
  assert.equal(validateCard(c, 'r.json').kind, 'reward');
});

test('readCard names the file when it is missing or not JSON', () => {
  assert.throws(() => readCard(join(dir, 'none.onnx.json')), /model card .*none\.onnx\.json does not exist/);
});

test('sha256File hashes a multi-chunk file like a one-shot hash', () => {
  const data = Buffer.alloc((1 << 20) * 2 + 12345);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 11)) & 255;
  const f = join(dir, 'db.sqlite');
  writeFileSync(f, data);
  assert.equal(sha256File(f), createHash('sha256').update(data).digest('hex'));
  assert.notEqual(sha256File(f), sha256Hex(data.subarray(1)));
});
