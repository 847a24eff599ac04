import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SPLIT_FILE, SplitError, assertNoHeldOut, loadSplit, makeSplit } from '../../src/data/splits.ts';
import { DEFAULT_CONNECTOR_DIR, loadConnectors } from '../../src/sim/connectors.ts';
import { cpSync, readFileSync } from 'node:fs';

const defs = loadConnectors();
const names = defs.map((d) => d.name);

test('the default split: held-out names exist, come from several families, and the training list names every other shipped connector', () => {
  const notes: string[] = [];
  const s = loadSplit(defs, DEFAULT_SPLIT_FILE, { onNote: (n) => notes.push(n) });
  assert.deepEqual(notes, [], 'every shipped connector is assigned');
  assert.deepEqual(s.unassigned, []);
  assert.equal(s.source, DEFAULT_SPLIT_FILE);
  assert.ok(s.heldOut.length >= 4 && s.heldOut.length <= 5, `held out: ${s.heldOut.join(',')}`);
  for (const n of s.heldOut) assert.ok(names.includes(n), n);
  const fam = new Set(s.heldOut.map((n) => defs.find((d) => d.name === n)!.family));
  assert.ok(fam.size >= 3, `families of the held-out connectors: ${[...fam].join(',')}`);
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
  assert.throws(() => makeSplit({ heldOut: ['nope'], train: [a] }, defs, 'x.json'), (e: Error) => e instanceof SplitError && /x\.json: heldOut\[0\] "nope" is not a known connector/.test(e.message));
  assert.throws(() => makeSplit({ heldOut: [a], train: [b, 'zz'] }, defs, 'x.json'), /x\.json: train\[1\] "zz" is not a known connector/);
  assert.throws(() => makeSplit({ heldOut: [a, a], train: [b] }, defs, 'x.json'), /heldOut\[1\] "[^"]+" is listed twice/);
  assert.throws(() => makeSplit({ heldOut: [a, b], train: [c, b] }, defs, 'x.json'), (e: Error) => /x\.json: train overlaps heldOut: /.test(e.message) && e.message.includes(b));
  assert.throws(() => makeSplit({ heldOut: names, train: [] }, defs), /train is empty/);
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
    assert.throws(() => loadSplit(defs, f('noheld.json', JSON.stringify({ train: [names[0]] }))), /noheld\.json: heldOut must be an array/);
    const s = loadSplit(defs, f('good.json', JSON.stringify({ heldOut: [names[1]], train: [names[0]] })));
    assert.deepEqual(s.train, [names[0]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a connector file added later is neither trained on nor held out until a split names it, and loading the split says so', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'split-new-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(DEFAULT_CONNECTOR_DIR, dir, { recursive: true });
  const extra = JSON.parse(readFileSync(join(dir, 'square16.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'newplug.json'), JSON.stringify({ ...extra, name: 'newplug' }));
  const withNew = loadConnectors(dir);
  assert.ok(withNew.some((d) => d.name === 'newplug'));
  const notes: string[] = [];
  const s = loadSplit(withNew, DEFAULT_SPLIT_FILE, { onNote: (n) => notes.push(n) });
  assert.ok(!s.train.includes('newplug'), 'not trained on');
  assert.ok(!s.heldOut.includes('newplug'), 'not held out');
  assert.deepEqual(s.unassigned, ['newplug']);
  assert.equal(notes.length, 1);
  assert.match(notes[0] ?? '', /connector\(s\) newplug are in neither list of split .*default\.json: not trained on and not held out until it names them/);
});

test('"rest" is refused with the explicit list to write instead', () => {
  const [a] = names as [string];
  assert.throws(
    () => makeSplit({ heldOut: [a], train: 'rest' as unknown as string[] }, defs, 'old.json'),
    (e: Error) => e instanceof SplitError && /old\.json: train must list the training connectors by name: "rest" is no longer accepted/.test(e.message) && e.message.includes(JSON.stringify(names.slice(1))),
  );
  const dir = mkdtempSync(join(tmpdir(), 'split-rest-'));
  try {
    const f = join(dir, 'rest.json');
    writeFileSync(f, JSON.stringify({ heldOut: [a], train: 'rest' }));
    assert.throws(() => loadSplit(defs, f), /rest\.json: train must list the training connectors/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a split may name a connector whose file is broken: the name stays held out, and the split says the file is invalid', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'split-broken-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(DEFAULT_CONNECTOR_DIR, dir, { recursive: true });
  writeFileSync(join(dir, 'dt12.json'), '{ "name": "dt12", ');
  const defsBroken = loadConnectors(dir, { onProblem: () => {} });
  assert.ok(!defsBroken.some((d) => d.name === 'dt12'));
  const notes: string[] = [];
  const s = loadSplit(defsBroken, DEFAULT_SPLIT_FILE, { onNote: (n) => notes.push(n) });
  assert.ok(s.heldOut.includes('dt12'), 'a broken held-out connector is still held out (its logged data must never be trained on)');
  assert.deepEqual(s.unavailable, ['dt12']);
  assert.ok(notes.some((n) => /names connector\(s\) dt12 whose file is invalid/.test(n)), notes.join('\n'));
});
