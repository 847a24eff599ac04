import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SPLIT_FILE, SplitError, assertNoHeldOut, loadSplit, makeSplit } from '../../src/data/splits.ts';
import { loadConnectors } from '../../src/sim/connectors.ts';

const defs = loadConnectors();
const names = defs.map((d) => d.name);

test('the default split: held-out names exist, come from several families, and "rest" trains on everything else', () => {
  const s = loadSplit(defs);
  assert.equal(s.source, DEFAULT_SPLIT_FILE);
  assert.ok(s.heldOut.length >= 4 && s.heldOut.length <= 5, `held out: ${s.heldOut}`);
  for (const n of s.heldOut) assert.ok(names.includes(n), n);
  const fam = new Set(s.heldOut.map((n) => defs.find((d) => d.name === n)!.family));
  assert.ok(fam.size >= 3, `families of the held-out connectors: ${[...fam]}`);
  assert.equal(s.train.length + s.heldOut.length, names.length);
  for (const n of s.train) assert.ok(!s.heldOut.includes(n), `${n} both trained on and held out`);
  assert.deepEqual([...s.train, ...s.heldOut].sort(), [...names].sort());
  // Every family except possibly one still has training connectors.
  const trainFam = new Set(s.train.map((n) => defs.find((d) => d.name === n)!.family));
  assert.ok(trainFam.size >= new Set(defs.map((d) => d.family)).size - 1);
});

test('explicit lists are checked: unknown names, duplicates and overlap are errors naming the source and field', () => {
  const [a, b, c] = names as [string, string, string];
  const ok = makeSplit({ heldOut: [b], train: [c, a] }, defs, 'x.json');
  assert.deepEqual(ok.train, [a, c]); // definition order, not the file's
  assert.deepEqual(ok.heldOut, [b]);
  assert.throws(() => makeSplit({ heldOut: ['nope'] }, defs, 'x.json'), (e: Error) => e instanceof SplitError && /x\.json: heldOut\[0\] "nope" is not a known connector/.test(e.message));
  assert.throws(() => makeSplit({ heldOut: [a], train: [b, 'zz'] }, defs, 'x.json'), /x\.json: train\[1\] "zz" is not a known connector/);
  assert.throws(() => makeSplit({ heldOut: [a, a] }, defs, 'x.json'), /heldOut\[1\] "[^"]+" is listed twice/);
  assert.throws(() => makeSplit({ heldOut: [a, b], train: [c, b] }, defs, 'x.json'), (e: Error) => /x\.json: train overlaps heldOut: /.test(e.message) && e.message.includes(b));
  assert.throws(() => makeSplit({ heldOut: names }, defs), /train is empty/);
  assert.throws(() => assertNoHeldOut(ok, [a, b]), (e: Error) => e instanceof SplitError && e.message.includes(b) && !e.message.includes(`${a},`));
  assertNoHeldOut(ok, [a, c]);
});

test('split files: unreadable, not JSON, unknown fields and bad types are refused with the file name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'split-test-'));
  try {
    const f = (name: string, text: string): string => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    assert.throws(() => loadSplit(defs, join(dir, 'missing.json')), /missing\.json: cannot read split file/);
    assert.throws(() => loadSplit(defs, f('bad.json', '{')), /bad\.json: cannot read split file/);
    assert.throws(() => loadSplit(defs, f('arr.json', '[]')), /arr\.json: must be a JSON object/);
    assert.throws(() => loadSplit(defs, f('extra.json', JSON.stringify({ heldOut: [names[0]], test: [] }))), /extra\.json: unknown field "test"/);
    assert.throws(() => loadSplit(defs, f('train.json', JSON.stringify({ heldOut: [names[0]], train: 'all' }))), /train\.json: train must be an array/);
    assert.throws(() => loadSplit(defs, f('noheld.json', JSON.stringify({ train: 'rest' }))), /noheld\.json: heldOut must be an array/);
    const s = loadSplit(defs, f('good.json', JSON.stringify({ heldOut: [names[1]], train: [names[0]] })));
    assert.deepEqual(s.train, [names[0]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
