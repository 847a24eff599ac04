/** Received-message rate over a sliding window, for `/status` and diagnostics. O(1) per message, bounded memory. */
export class RateMeter {
  private readonly times: Float64Array;
  private head = 0;
  private n = 0;
  count = 0;
  last = -Infinity;
  private first = Infinity;

  constructor(
    /** Window (s) the rate is measured over. */
    private readonly window = 2,
    capacity = 512,
  ) {
    this.times = new Float64Array(capacity);
  }

  mark(t: number): void {
    if (this.count === 0) this.first = t;
    this.times[this.head] = t;
    this.head = (this.head + 1) % this.times.length;
    if (this.n < this.times.length) this.n++;
    this.count++;
    this.last = t;
  }

  /** Messages per second over the last window ending at `now` (0 when nothing arrived in it). */
  rate(now: number): number {
    let k = 0;
    let oldest = Infinity;
    for (let i = 0; i < this.n; i++) {
      const t = this.times[(this.head - 1 - i + this.times.length) % this.times.length] as number;
      if (now - t > this.window) break;
      k++;
      oldest = t;
    }
    if (k === 0) return 0;
    // Once the stream is older than the window, count over the whole window (a stopped stream decays to 0);
    // before that, over the span actually seen.
    if (now - this.first >= this.window) return k / this.window;
    return k < 2 ? 0 : (k - 1) / (this.last - oldest);
  }
}
