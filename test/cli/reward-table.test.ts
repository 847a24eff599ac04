/**
 * reward-table: results/reward-seeds/table.md and results/reward-depth/table.md are made from the runs' JSON by this
 * command (it replaced two Python scripts), so the tables there must come out of it byte for byte, with Python's
 * rounding of exact ties and of means.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fixed, main, mean } from '../../src/cli/reward-table.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const R = join(ROOT, 'results/reward-seeds');
const M = join(ROOT, 'results/reward-daib-moments');

/** The command's output on `args` (it must succeed), as the file it writes. */
function tableOf(args: string[]): string {
  const lines: string[] = [];
  assert.equal(
    main(args, (l) => lines.push(l)),
    0,
  );
  return `${lines.join('\n')}\n`;
}

test('results/reward-seeds/table.md comes out of its JSON files byte for byte (the command in its README)', () => {
  const md = tableOf([
    `DAIB (moments), image=${M}/daib-seed0.json,${R}/daib-moments-seed1.json,${R}/daib-moments-seed2.json`,
    `ERM, image=${M}/erm-seed0.json,${R}/erm-seed1.json,${R}/erm-seed2.json`,
    `DAIB (moments), image + fz=${R}/fz-daib-moments-seed0.json,${R}/fz-daib-moments-seed1.json`,
    `ERM, image + fz=${R}/fz-erm-seed0.json,${R}/fz-erm-seed1.json,${R}/fz-erm-seed2.json`,
    '--pairs',
    '1:2,3:4',
    '--unpressed',
    `${R}/unpressed`,
  ]);
  assert.equal(md, readFileSync(join(R, 'table.md'), 'utf8'));
});

test('results/reward-depth/table.md comes out of its JSON files byte for byte (--layout sections, the command in its README)', () => {
  const D = join(ROOT, 'results/reward-depth');
  const cfg = (label: string, stem: string): string => `${label}=${[0, 1, 2].map((s) => `${D}/${stem}-seed${s}.json`).join(',')}`;
  const configs = [
    cfg('DAIB (moments), image + depth', 'depth-daib-moments'),
    cfg('ERM, image + depth', 'depth-erm'),
    cfg('DAIB (moments), image', 'daib-moments'),
    cfg('ERM, image', 'erm'),
  ];
  const md = tableOf(['--layout', 'sections', ...configs, '--pairs', '1:2,3:4,1:3,2:4', '--unpressed', `${D}/unpressed`]);
  assert.equal(md, readFileSync(join(D, 'table.md'), 'utf8'));
});

test("a mean is rounded once, as Python's statistics.mean (a plain sum / n prints 93 where Python prints 92)", () => {
  assert.equal(mean([0.975, 0.875, 0.925]), 0.925); // sum / 3 is 0.9250000000000002
  assert.equal(fixed(100 * mean([0.975, 0.875, 0.925]), 0), '92');
  assert.equal(mean([0.1, 0.2, 0.3]), 0.2);
  assert.equal(mean([0.001, -2.5, 3.75]), 0.417);
  assert.equal(mean([-0.001, 0.002]), 0.0005);
});

test("numbers round as Python's format(): an exact tie to even, anything else to nearest", () => {
  const cases: Array<[number, number, string]> = [
    [12.5, 0, '12'],
    [13.5, 0, '14'],
    [0.25, 1, '0.2'],
    [0.35, 1, '0.3'], // 0.34999... in binary: not a tie
    [82.45, 1, '82.5'], // 82.4500000000000028...
    [-2.5, 0, '-2'],
  ];
  for (const [x, d, want] of cases) assert.equal(fixed(x, d), want, `${x} to ${d} digits`);
});

test('a configuration without files, or none at all, is a usage error naming it', () => {
  const err: string[] = [];
  const io = (l: string): number => err.push(l);
  assert.equal(main(['DAIB'], io, io), 2);
  assert.match(err.join(''), /'DAIB': expected LABEL=FILE/);
  assert.equal(main([], io, io), 2);
  assert.match(err.join(''), /no configurations/);
});
