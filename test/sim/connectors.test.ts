import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConnectorError,
  DEFAULT_CONNECTOR_DIR,
  findConnector,
  holePolygons,
  loadConnector,
  loadConnectors,
  partPolygon,
  rewardDepthCoverage,
} from '../../src/sim/connectors.ts';
import { decomposePlate, insideConvex, polygonArea, trapezoidArea, xInterval, type Vec2 } from '../../src/sim/geometry.ts';

const shipped = loadConnectors();

test('ships at least 16 connectors across at least 5 families, sorted by name, in the documented ranges', () => {
  assert.ok(shipped.length >= 16, `only ${shipped.length} connectors`);
  assert.deepEqual(shipped.problems, [], 'every shipped connector file is valid');
  const families = new Set(shipped.map((d) => d.family));
  assert.ok(families.size >= 5, `only ${families.size} families: ${[...families].join(', ')}`);
  const names = shipped.map((d) => d.name);
  assert.deepEqual(names, [...names].sort());
  for (const d of shipped) {
    assert.ok(d.clearance >= 0.0003 - 1e-12 && d.clearance <= 0.0015 + 1e-12, `${d.name} clearance ${d.clearance}`);
    assert.ok(d.depth >= 0.003 && d.depth <= 0.03, `${d.name} depth ${d.depth}`);
    assert.ok(d.parts.length >= 1);
  }
  // The shape kinds the issue asks for are all present: circles, polygons/rects, multi-pin layouts.
  assert.ok(shipped.some((d) => d.parts.some((p) => p.shape === 'circle')));
  assert.ok(shipped.some((d) => d.parts.some((p) => p.shape === 'polygon')));
  assert.ok(
    shipped.some((d) => d.parts.length >= 2 && d.parts.every((p) => p.shape === 'circle')),
    'two-pin round (mains)',
  );
  assert.ok(
    shipped.some((d) => d.parts.length >= 4),
    'multi-pin',
  );
  assert.ok(shipped.some((d) => d.plug.texture.kind !== 'none') && shipped.some((d) => d.socket.texture.kind !== 'none'));
});

test('holes are the pins grown by half the clearance on every side', () => {
  for (const d of shipped) {
    const holes = holePolygons(d);
    d.parts.forEach((p, i) => {
      const pin = partPolygon(p);
      const hole = holes[i]!;
      // Every pin vertex lies inside the hole, at least clearance/2 from every hole edge.
      for (const v of pin) assert.ok(insideConvex(hole, v, d.clearance / 2 - 1e-9), `${d.name} part ${i}`);
      assert.ok(polygonArea(hole) > polygonArea(pin));
    });
  }
});

test('the socket plate decomposition covers the plate minus the holes exactly', () => {
  for (const d of shipped) {
    const holes = holePolygons(d);
    const [x0, x1, y0, y1] = [-0.06, 0.06, -0.05, 0.05];
    const pieces = decomposePlate(holes, x0, x1, y0, y1);
    const area = pieces.reduce((a, t) => a + trapezoidArea(t), 0);
    const expected = (x1 - x0) * (y1 - y0) - holes.reduce((a, h) => a + polygonArea(h), 0);
    assert.ok(Math.abs(area - expected) < 1e-9, `${d.name}: area ${area} vs ${expected}`);
    // No piece reaches into a hole: sample points inside every piece.
    for (const t of pieces) {
      for (const fy of [0.1, 0.5, 0.9]) {
        const y = t.y0 + fy * (t.y1 - t.y0);
        const xl = t.xl0 + fy * (t.xl1 - t.xl0);
        const xr = t.xr0 + fy * (t.xr1 - t.xr0);
        for (const fx of [0.05, 0.5, 0.95]) {
          const p: Vec2 = [xl + fx * (xr - xl), y];
          for (const h of holes) assert.ok(!insideConvex(h, p, 1e-7), `${d.name}: piece point ${p.join(',')} inside a hole`);
        }
      }
    }
  }
});

test('xInterval of a square', () => {
  const sq: Vec2[] = [
    [0, 0],
    [2, 0],
    [2, 2],
    [0, 2],
  ];
  assert.deepEqual(xInterval(sq, 1), [0, 2]);
  assert.equal(xInterval(sq, 3), null);
});

function withBadFile(mutate: (j: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'conn-'));
  const json = JSON.parse(readFileSync(join(DEFAULT_CONNECTOR_DIR, 'europlug.json'), 'utf8')) as Record<string, unknown>;
  mutate(json);
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify(json));
  return file;
}

function expectError(file: string, ...fragments: string[]): void {
  try {
    assert.throws(
      () => loadConnector(file),
      (e: unknown) => {
        assert.ok(e instanceof ConnectorError, `not a ConnectorError: ${String(e)}`);
        assert.ok(e.message.startsWith(file), `message does not name the file: ${e.message}`);
        for (const f of fragments) assert.ok(e.message.includes(f), `message lacks "${f}": ${e.message}`);
        return true;
      },
    );
  } finally {
    rmSync(join(file, '..'), { recursive: true, force: true });
  }
}

test('validation errors name the file and the field', () => {
  expectError(
    withBadFile((j) => (j.clearance_mm = 3)),
    'clearance_mm',
    'between 0.3 and 1.5',
    'got 3',
  );
  // A field left out is "missing", not "must be a number".
  expectError(
    withBadFile((j) => delete j.depth_mm),
    'depth_mm',
    'is missing (a number between 3 and 30)',
  );
  expectError(
    withBadFile((j) => (j.depth_mm = 'deep')),
    'depth_mm',
    'must be a number',
  );
  expectError(
    withBadFile((j) => delete j.family),
    'family',
    'is missing',
  );
  expectError(
    withBadFile((j) => delete j.parts),
    'parts',
    'is missing',
  );
  expectError(
    withBadFile((j) => delete j.plug),
    'plug',
    'is missing',
  );
  expectError(
    withBadFile((j) => delete (j.parts as Record<string, unknown>[])[0]!.shape),
    'parts[0].shape',
    'is missing',
  );
  expectError(
    withBadFile((j) => (j.name = 'Bad Name')),
    'name',
  );
  expectError(
    withBadFile((j) => ((j.parts as Record<string, unknown>[])[1]!.shape = 'star')),
    'parts[1].shape',
  );
  expectError(
    withBadFile((j) => ((j.parts as Record<string, unknown>[])[0]!.diameter_mm = -1)),
    'parts[0].diameter_mm',
  );
  expectError(
    withBadFile((j) => ((j.parts as Record<string, unknown>[])[1]!.center_mm = [-8, 0])),
    'parts[1]',
    'wall',
  );
  expectError(
    withBadFile(
      (j) =>
        (j.parts = [
          {
            shape: 'polygon',
            vertices_mm: [
              [0, 0],
              [10, 0],
              [2, 2],
              [0, 10],
            ],
          },
        ]),
    ),
    'parts[0].vertices_mm',
    'convex',
  );
  expectError(
    withBadFile((j) => ((j.plug as Record<string, unknown>).color = [1, 2, 0])),
    'plug.color[1]',
  );
  expectError(
    withBadFile((j) => ((j.socket as Record<string, unknown>).texture = { kind: 'stripes' })),
    'socket.texture.color2',
  );
  expectError(
    withBadFile((j) => (j.colour = 'red')),
    'colour',
    'not a known field',
  );
  expectError(
    withBadFile((j) => (j.housing_mm = { size: [5, 5] })),
    'housing_mm.size',
    'cover the parts',
  );
});

test('a file with several wrong fields gets every one of them at once, each naming the file and the field', () => {
  const file = withBadFile((j) => {
    delete j.clearance_mm;
    delete j.depth_mm;
    (j.plug as Record<string, unknown>).color = [1, 2, 0];
    (j.parts as Record<string, unknown>[])[1]!.shape = 'star';
    j.colour = 'red';
  });
  try {
    assert.throws(
      () => loadConnector(file),
      (e: unknown) => {
        assert.ok(e instanceof ConnectorError);
        assert.deepEqual(e.problems, [
          `${file}: colour is not a known field (known: name, family, description, clearance_mm, depth_mm, parts, housing_mm, plug, socket)`,
          `${file}: clearance_mm is missing (a number between 0.3 and 1.5)`,
          `${file}: depth_mm is missing (a number between 3 and 30)`,
          `${file}: parts[1].shape must be one of "rect", "circle", "dshape", "ngon", "polygon", got "star"`,
          `${file}: plug.color[1] must be between 0 and 1, got 2`,
        ]);
        assert.equal(e.message, e.problems.join('; '));
        return true;
      },
    );
  } finally {
    rmSync(join(file, '..'), { recursive: true, force: true });
  }
});

test('unreadable and malformed files get a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conn-'));
  try {
    const f = join(dir, 'broken.json');
    writeFileSync(f, '{ "name": ');
    assert.throws(
      () => loadConnector(f),
      (e: unknown) => e instanceof ConnectorError && e.message.startsWith(f) && e.message.includes('invalid JSON'),
    );
    assert.throws(
      () => loadConnector(join(dir, 'missing.json')),
      (e: unknown) => e instanceof ConnectorError && e.message.includes('missing.json'),
    );
    // duplicate names across files in one directory
    const good = readFileSync(join(DEFAULT_CONNECTOR_DIR, 'europlug.json'), 'utf8');
    rmSync(f);
    writeFileSync(join(dir, 'a.json'), good);
    writeFileSync(join(dir, 'b.json'), good);
    // Both are skipped (which one was meant cannot be guessed); a command that needs europlug is told why.
    const seen: string[] = [];
    const defs = loadConnectors(dir, { onProblem: (p) => seen.push(p.error.message) });
    assert.equal(defs.length, 0);
    assert.equal(seen.length, 2);
    assert.ok(
      seen.every((m) => m.includes('europlug') && m.includes('also used')),
      seen.join('\n'),
    );
    assert.throws(
      () => findConnector(defs, 'europlug'),
      (e: unknown) => e instanceof ConnectorError && /connector "europlug" cannot be used: .*also used/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one bad connector file does not stop the others: it is skipped with a warning, and only a command that needs it fails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conn-dir-'));
  try {
    for (const n of ['europlug', 'square16']) writeFileSync(join(dir, `${n}.json`), readFileSync(join(DEFAULT_CONNECTOR_DIR, `${n}.json`), 'utf8'));
    const broken = JSON.parse(readFileSync(join(DEFAULT_CONNECTOR_DIR, 'dt12.json'), 'utf8')) as Record<string, unknown>;
    delete broken.clearance_mm;
    writeFileSync(join(dir, 'dt12.json'), JSON.stringify(broken));
    writeFileSync(join(dir, 'half.json'), '{ "name": "half", ');
    const warnings: string[] = [];
    const defs = loadConnectors(dir, { onProblem: (p) => warnings.push(`${p.name}: ${p.error.message}`) });
    assert.deepEqual(
      defs.map((d) => d.name),
      ['europlug', 'square16'],
    );
    assert.deepEqual(defs.problems.map((p) => p.name).sort(), ['dt12', 'half']);
    assert.equal(warnings.length, 2);
    assert.match(warnings.find((w) => w.startsWith('dt12')) ?? '', /dt12\.json: clearance_mm is missing/);
    assert.equal(findConnector(defs, 'square16').name, 'square16');
    assert.throws(() => findConnector(defs, 'dt12'), /connector "dt12" cannot be used: .*dt12\.json: clearance_mm is missing/);
    assert.throws(() => findConnector(defs, 'half'), /connector "half" cannot be used: .*half\.json: invalid JSON/);
    assert.throws(() => findConnector(defs, 'nope'), /unknown connector "nope" \(known: europlug, square16\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a reward's depth coverage: inside its training connectors' depths says nothing; shallower or deeper says which way it errs", () => {
  const at = (name: string, depthMm: number) => ({ ...findConnector(shipped, 'europlug'), name, depth: depthMm / 1000 });
  const trained = ['dt12', 'megablock']; // 10 and 14 mm deep
  for (const mm of [10, 12, 14]) assert.equal(rewardDepthCoverage(at('inside', mm), trained, shipped), null, `${mm} mm`);
  const shallow = rewardDepthCoverage(at('shallow', 9), trained, shipped);
  assert.match(shallow ?? '', /^shallow inserts 9 mm deep, outside the 10-14 mm of the 2 connectors the reward was trained on: .*seated plugs missed/);
  assert.match(rewardDepthCoverage(at('deep', 16), trained, shipped) ?? '', /deep inserts 16 mm deep, .*part-inserted plugs taken for seated/);
  // Training connectors this list does not define: nothing to compare with.
  assert.equal(rewardDepthCoverage(at('deep', 16), ['not-here'], shipped), null);
});
