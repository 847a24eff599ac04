/** The plot frame every result plot is drawn in (src/util/svg-chart.ts): scales, the frame's parts, polylines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, points, polyline, scales, SVG_CLOSE, svgOpen } from '../../src/util/svg-chart.ts';

const box = { W: 640, H: 400, L: 60, R: 160, T: 40, B: 50 };

test('scales put the data range on the plot area: x from the left margin, y from the bottom margin up', () => {
  const { x, y } = scales(box, 100);
  assert.deepEqual([x(0), x(100), x(50)], [60, 480, 270]);
  assert.deepEqual([y(0), y(1), y(0.5)], [350, 40, 195]);
});

test('a frame: root and background, the title without markup, a labelled grid line per value, ticks and axis titles', () => {
  const { parts } = frame({
    box,
    xMax: 100,
    root: ' font-size="12"',
    title: { text: 'a <b> & c', x: 320, y: 22, attrs: '' },
    grid: { at: [0, 1], label: (v) => `${v * 100}%`, stroke: '#ddd', attrs: ' text-anchor="end"' },
    xTicks: { at: [0, 100], label: String, dy: 18, attrs: '' },
    xTitle: { text: 'episodes', dy: 10, attrs: '' },
    yTitle: 'success',
  });
  const svg = [
    ...parts,
    polyline(
      points([
        [60, 350],
        [480.04, 40],
      ]),
      'red',
      2,
      ' stroke-dasharray="4 4"',
    ),
    SVG_CLOSE,
  ].join('\n');
  assert.ok(svg.startsWith(svgOpen(640, 400, ' font-size="12"')));
  assert.ok(svg.includes(`<text x="320" y="22">a b  c</text>`), 'markup characters are dropped');
  assert.match(svg, /<line x1="60" x2="480" y1="350" y2="350" stroke="#ddd"\/><text x="52" y="354" text-anchor="end">0%<\/text>/);
  assert.match(svg, /<line x1="60" x2="480" y1="40" y2="40" stroke="#ddd"\/><text x="52" y="44" text-anchor="end">100%<\/text>/);
  assert.match(svg, /<text x="480" y="368">100<\/text>/);
  assert.match(svg, /<text x="270" y="390">episodes<\/text>/);
  assert.match(svg, /rotate\(-90 16 195\)" text-anchor="middle">success</);
  assert.match(svg, /<polyline fill="none" stroke="red" stroke-width="2" stroke-dasharray="4 4" points="60.0,350.0 480.0,40.0"\/>\n<\/svg>$/);
});
