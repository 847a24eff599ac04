/** Formatting and polling helpers shared by the panels. */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api.ts';

export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function fmt(v: number | null | undefined, digits = 2, unit = ''): string {
  if (!isNum(v)) return '–';
  return `${v.toFixed(digits)}${unit}`;
}

/** metres -> millimetres text */
export const mm = (v: number | null | undefined, digits = 2): string => (isNum(v) ? (v * 1000).toFixed(digits) : '–');

export const pct = (v: number | null | undefined, digits = 0): string => (isNum(v) ? `${(v * 100).toFixed(digits)} %` : '–');

export function clock(ms: number | null | undefined): string {
  if (!isNum(ms)) return '–';
  const d = new Date(ms);
  return d.toLocaleTimeString(undefined, { hour12: false });
}

export function dateTime(ms: number | null | undefined): string {
  if (!isNum(ms)) return '–';
  const d = new Date(ms);
  return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${d.toLocaleTimeString(undefined, { hour12: false })}`;
}

/** Clock time for today, date and time otherwise. */
export function shortTime(ms: number | null | undefined): string {
  if (!isNum(ms)) return '–';
  return new Date(ms).toDateString() === new Date().toDateString() ? clock(ms) : dateTime(ms);
}

export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!isNum(ms)) return '';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

/** Fetches `path` now, whenever `bump` changes, and every `everyMs` (0: never) while the tab is visible. */
export function usePoll<T>(path: string | null, bump: unknown, everyMs = 0): { data: T | null; error: string | null } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!path) {
      setData(null);
      return;
    }
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const load = async (): Promise<void> => {
      try {
        const d = await getJson<T>(path, ac.signal);
        setData(d);
        setError(null);
      } catch (e) {
        if (!ac.signal.aborted) setError((e as Error).message);
      }
    };
    const tick = async (first: boolean): Promise<void> => {
      if (first || !document.hidden) await load();
      if (everyMs > 0 && !ac.signal.aborted) timer = setTimeout(() => void tick(false), everyMs);
    };
    void tick(true);
    return () => {
      ac.abort();
      if (timer) clearTimeout(timer);
    };
  }, [path, bump, everyMs]);
  return { data, error };
}
