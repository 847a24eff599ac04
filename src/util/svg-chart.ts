/**
 * The frame of every result plot (the experiment's curves, the seeds plot, the fleet demo's success plot, the soak):
 * an SVG on white, a plot area inside margins with linear scales, a title, labelled horizontal grid lines, x ticks,
 * axis titles and polylines. Strings only; robot/image-codec.ts renders them to PNG (sharp). Each plot adds its own
 * marks to `parts`.
 */

/** A W x H picture with a plot area inside margins L, R, T, B (px). */
export interface Box {
  W: number;
  H: number;
  L: number;
  R: number;
  T: number;
  B: number;
}

/** Text that goes inside an element: markup characters dropped (titles carry connector names and seeds). */
export const svgText = (s: string): string => s.replace(/[<&>]/g, '');

/** The opening of a picture: the root element (`attrs`: fonts, viewBox) and a white background. */
export const svgOpen = (W: number, H: number, attrs = ''): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"${attrs}><rect width="100%" height="100%" fill="white"/>`;

export const SVG_CLOSE = '</svg>';

/** Data to picture: x over [0, xMax] left to right, y over [0, 1] bottom to top, inside the box's margins. */
export function scales(box: Box, xMax: number): { x: (v: number) => number; y: (v: number) => number } {
  const { W, H, L, R, T, B } = box;
  return { x: (v) => L + ((W - L - R) * v) / xMax, y: (v) => T + (H - T - B) * (1 - v) };
}

/** Points of a polyline, to 0.1 px. */
export const points = (xy: ReadonlyArray<readonly [number, number]>): string => xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');

/** A line through the points (`attrs`: a dash pattern). */
export const polyline = (pts: string, stroke: string, width: number, attrs = ''): string =>
  `<polyline fill="none" stroke="${stroke}" stroke-width="${width}"${attrs} points="${pts}"/>`;

export interface FrameSpec {
  box: Box;
  /** The x axis runs from 0 to this. */
  xMax: number;
  /** Root attributes after width and height (fonts, viewBox). */
  root: string;
  title: { text: string; x: number; y: number; attrs: string };
  /** Horizontal grid lines at these fractions of the y axis, labelled left of the plot area. */
  grid: { at: readonly number[]; label: (v: number) => string; stroke: string; attrs: string };
  /** Labels under the x axis at these x values (`dy` below the plot area). */
  xTicks?: { at: readonly number[]; label: (v: number) => string; dy: number; attrs: string };
  xTitle: { text: string; dy: number; attrs: string };
  /** The y axis's title, written upwards at x = 16. */
  yTitle?: string;
}

/** The frame of a plot (the caller appends its marks and SVG_CLOSE) and its scales. */
export function frame(s: FrameSpec): { parts: string[]; x: (v: number) => number; y: (v: number) => number } {
  const { W, H, L, R, T, B } = s.box;
  const { x, y } = scales(s.box, s.xMax);
  const parts = [svgOpen(W, H, s.root), `<text x="${s.title.x}" y="${s.title.y}"${s.title.attrs}>${svgText(s.title.text)}</text>`];
  for (const v of s.grid.at)
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="${s.grid.stroke}"/><text x="${L - 8}" y="${y(v) + 4}"${s.grid.attrs}>${s.grid.label(v)}</text>`,
    );
  const ticks = s.xTicks;
  if (ticks) for (const e of ticks.at) parts.push(`<text x="${x(e)}" y="${H - B + ticks.dy}"${ticks.attrs}>${ticks.label(e)}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - s.xTitle.dy}"${s.xTitle.attrs}>${s.xTitle.text}</text>`);
  if (s.yTitle !== undefined)
    parts.push(`<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">${s.yTitle}</text>`);
  return { parts, x, y };
}
