/** uPlot in a Preact component: created once, resized with its box, fed new data without re-creating. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface PlotProps {
  /** Options without width/height (the box decides the width). Changing `key` re-creates the plot. */
  opts: Omit<Options, 'width' | 'height'>;
  data: AlignedData;
  height?: number;
  /** Accessible name. */
  label?: string;
  /** Redraws per second at most (default 2). */
  maxHz?: number;
}

export function Plot({ opts, data, height = 170, label, maxHz = 2 }: PlotProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot({ ...opts, width: Math.max(200, el.clientWidth), height }, latest.current, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // The plot is re-created only when its caller gives new options (memoised there).
  }, [opts, height]);

  // A redraw recomputes scales and axes and repaints the canvas: at most maxHz a second (traces are for trends; the
  // numbers beside them update with every render), and always with the newest data.
  const lastDraw = useRef(0);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    const draw = (): void => {
      pending.current = null;
      lastDraw.current = performance.now();
      plot.current?.setData(latest.current);
    };
    const wait = lastDraw.current + 1000 / maxHz - performance.now();
    if (wait <= 0) draw();
    else pending.current ??= setTimeout(draw, wait);
  }, [data, maxHz]);
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );

  return <div class="plot" ref={box} role="img" aria-label={label} />;
}

/** Axis colours follow the robotics convention x red, y green, z blue. */
export const XYZ = ['#d9453b', '#2f9e44', '#2b6cd4'] as const;

export const axisStyle = {
  stroke: '#5b6675',
  grid: { stroke: '#e7ebf0', width: 1 },
  ticks: { stroke: '#d5dbe3', width: 1 },
  font: '11px system-ui, sans-serif',
} as const;
