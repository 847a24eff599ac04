/** uPlot in a Preact component: created once, resized with its box, fed new data without re-creating. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface PlotProps {
  /** Options without width/height (the box decides the width). Changing `key` re-creates the plot. */
  opts: Omit<Options, 'width' | 'height'>;
  data: AlignedData;
  height?: number;
  /** Called with the plot after each data update (e.g. to draw a marker). */
  label?: string;
}

export function Plot({ opts, data, height = 170, label }: PlotProps) {
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

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

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
