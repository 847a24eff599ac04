/**
 * This thread's garbage collections (perf_hooks 'gc' entries of its own isolate), kept in a ring so that a missed tick
 * can be matched with the collections that ran while it waited (timing.ts LateTick). Entries arrive after the
 * collection (the observer's callback is queued), so matching is done when the late ticks are read, not as they start.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** The flag the daemon's launchers pass to node (npm start, npm run daemon, bin/insertion_daemon, the campaign). */
export const SINGLE_THREADED_GC_FLAG = '--single-threaded-gc';

/**
 * Why the control thread wants V8's collector without helper threads: a scavenge of its young generation is parallel
 * by default, and the thread (real-time class) waits for V8's helper threads, which have normal priority and, with both
 * cores loaded, wait for a core: measured 50-140 ms scavenges that made ticks late (load 40), against at most ~15 ms
 * single-threaded under the same load. A start-up flag only (set later, V8 aborts in the middle of a marking), so it is
 * a note when missing. Null when it is set or nothing needs it.
 */
export function singleThreadedGcNote(realtime: boolean): string | null {
  if (!realtime || process.execArgv.includes(SINGLE_THREADED_GC_FLAG)) return null;
  return `WARNING: node runs without ${SINGLE_THREADED_GC_FLAG}: the control thread's garbage collections wait for V8's normal-priority helper threads, and under load they make ticks late (start the daemon with npm start, or node ${SINGLE_THREADED_GC_FLAG} --import tsx src/cli/daemon.ts)`;
}

export interface GcEntry {
  start: number;
  ms: number;
  kind: string;
}

export class GcWatch {
  private readonly ring: GcEntry[] = [];
  private observer: PerformanceObserver | null = null;
  /** Collections seen, and their total time (ms). */
  count = 0;
  totalMs = 0;

  constructor(private readonly keep = 4096) {}

  start(): this {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.add(e);
    });
    this.observer.observe({ entryTypes: ['gc'] });
    return this;
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = null;
  }

  private add(e: PerformanceEntry): void {
    const kind = KINDS[(e as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
    this.count++;
    this.totalMs += e.duration;
    this.ring.push({ start: e.startTime, ms: e.duration, kind });
    if (this.ring.length > this.keep) this.ring.splice(0, this.ring.length - this.keep);
  }

  /** Collections overlapping [from, to] (performance.now ms), with their total time inside it. */
  during(from: number, to: number): { count: number; ms: number; kinds: string[] } {
    let count = 0;
    let ms = 0;
    const kinds: string[] = [];
    for (const e of this.ring) {
      const a = Math.max(from, e.start);
      const b = Math.min(to, e.start + e.ms);
      if (b <= a) continue;
      count++;
      ms += b - a;
      kinds.push(`${e.kind} ${e.ms.toFixed(1)} ms`);
    }
    return { count, ms, kinds };
  }

  /** Collections of at least `minMs`, newest last. */
  long(minMs: number): GcEntry[] {
    return this.ring.filter((e) => e.ms >= minMs);
  }
}

/** What one thread has allocated and collected since its HeapMeter started (HeapMeter.read). */
export interface HeapReading {
  /** Bytes allocated on the JS heap: the used size now minus at the start, plus what every collection freed. */
  heapBytes: number;
  /** Bytes of memory outside the heap that V8 was told of (ArrayBuffer backing stores: Buffers, typed arrays), likewise. */
  externalBytes: number;
  /** Collections by V8's kind (Scavenge, MarkSweepCompact, IncrementalMarking, ProcessWeakCallbacks): count, total
   *  and longest (ms, as V8 timed them on this thread). */
  collections: Record<string, { count: number; totalMs: number; maxMs: number }>;
  /** The same, of the collections since the previous reading only. */
  sincePrevious: Record<string, { count: number; totalMs: number; maxMs: number }>;
  usedHeapBytes: number;
}

/**
 * This thread's allocation, measured exactly (V8's GCProfiler: the heap's size before and after each collection),
 * for benchmarks and the test that keeps the tick path from allocating. Readings are cumulative since construction.
 */
export class HeapMeter {
  private readonly profiler = new GCProfiler();
  private readonly start0: { used: number; ext: number };
  private freedHeap = 0;
  private freedExt = 0;
  private readonly collections: HeapReading['collections'] = {};

  constructor() {
    const h = getHeapStatistics();
    this.start0 = { used: h.used_heap_size, ext: h.external_memory };
    this.profiler.start();
  }

  read(): HeapReading {
    const r = this.profiler.stop();
    const h = getHeapStatistics();
    this.profiler.start();
    const sincePrevious: HeapReading['collections'] = {};
    for (const s of r?.statistics ?? []) {
      const b = s.beforeGC.heapStatistics;
      const a = s.afterGC.heapStatistics;
      this.freedHeap += b.usedHeapSize - a.usedHeapSize;
      this.freedExt += b.externalMemory - a.externalMemory;
      const ms = s.cost / 1000; // microseconds
      for (const c of [(this.collections[s.gcType] ??= { count: 0, totalMs: 0, maxMs: 0 }), (sincePrevious[s.gcType] ??= { count: 0, totalMs: 0, maxMs: 0 })]) {
        c.count++;
        c.totalMs += ms;
        c.maxMs = Math.max(c.maxMs, ms);
      }
    }
    return {
      heapBytes: h.used_heap_size - this.start0.used + this.freedHeap,
      externalBytes: h.external_memory - this.start0.ext + this.freedExt,
      collections: structuredClone(this.collections),
      sincePrevious,
      usedHeapBytes: h.used_heap_size,
    };
  }

  stop(): void {
    this.profiler.stop();
  }
}
