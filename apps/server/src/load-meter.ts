// How busy the cloud is, as a probe's reply reports it (protocol CloudLoadReport). Every cloud
// request is an interval from when the server takes it to when it answers. Over the last window:
// the share of it covered by the union of those intervals, of every session's (all) and of every
// session's but the asking one's (others); and the mean number of other sessions' requests in hand
// (concurrency: their summed lengths over the window). The server shares its compute between the
// requests it holds, so the asking edge's requests take about 1 + concurrency times as long, which
// is what the policy prices (measured against a real server: scripts/measure-contention.ts). And
// the share of that concurrency held by sessions that said they price congestion (their toll is
// reciprocal: it reads this share). One
// meter per process: with --workers each worker reports its own, which its sessions share.
import type { CloudLoadReport } from '@splitwise/protocol';

interface Interval {
  session: string;
  /** The session said it prices congestion when this request began. */
  pricing: boolean;
  start: number;
  /** Infinity while the request is in hand. */
  end: number;
}

export class LoadMeter {
  private intervals: Interval[] = [];
  /** Reports by asking session, reused for `reuseMs`: a client that probes in a loop costs one computation per period. */
  private cache = new Map<string, { at: number; report: CloudLoadReport }>();

  constructor(
    /** @defaultValue 5000 */
    readonly windowMs = 5000,
    private readonly now: () => number = () => performance.now(),
    /** Kept intervals at most (the oldest go first), whatever the request rate. @defaultValue 20000 */
    private readonly maxIntervals = 20_000,
    /** A session's report is reused this long. @defaultValue 100 */
    private readonly reuseMs = 100,
  ) {}

  /** A request of `session` starts now; call the returned function when it is answered (or fails). */
  begin(session: string, pricing = false): () => void {
    const iv: Interval = { session, pricing, start: this.now(), end: Infinity };
    this.intervals.push(iv);
    if (this.intervals.length > this.maxIntervals) this.prune(true);
    return () => {
      iv.end = this.now();
    };
  }

  report(session?: string): CloudLoadReport {
    const t = this.now(), key = session ?? '', hit = this.cache.get(key);
    if (hit && t - hit.at < this.reuseMs) return hit.report;
    const report = this.compute(session, t);
    if (this.cache.size > 4096) this.cache.clear();
    this.cache.set(key, { at: t, report });
    return report;
  }

  private compute(session: string | undefined, t: number): CloudLoadReport {
    this.prune(false);
    const from = t - this.windowMs;
    const sessions = new Set<string>();
    for (const iv of this.intervals) if (iv.end > from) sessions.add(iv.session);
    const concurrency = this.held(from, t, (iv) => iv.session !== session);
    const priced = this.held(from, t, (iv) => iv.session !== session && iv.pricing);
    return {
      all: this.covered(from, t, () => true),
      others: this.covered(from, t, (iv) => iv.session !== session),
      concurrency,
      sessions: sessions.size,
      windowMs: this.windowMs,
      pricingShare: concurrency > 0 ? Math.min(1, priced / concurrency) : 0,
    };
  }

  /** Mean number of the selected intervals in hand over [from, to] (their summed lengths over its length). */
  private held(from: number, to: number, keep: (iv: Interval) => boolean): number {
    let total = 0;
    for (const iv of this.intervals) if (keep(iv) && iv.end > from) total += Math.max(0, Math.min(to, iv.end) - Math.max(from, iv.start));
    return total / (to - from);
  }

  /** Share of [from, to] covered by the union of the intervals `keep` selects. */
  private covered(from: number, to: number, keep: (iv: Interval) => boolean): number {
    const spans = this.intervals
      .filter((iv) => keep(iv) && iv.end > from)
      .map((iv) => [Math.max(from, iv.start), Math.min(to, iv.end)] as const)
      .filter(([a, b]) => b > a)
      .sort((x, y) => x[0] - y[0]);
    let total = 0, reached = from;
    for (const [a, b] of spans) {
      // the part of [a, b) not already counted
      if (b > reached) total += b - Math.max(a, reached);
      reached = Math.max(reached, b);
    }
    return Math.min(1, total / (to - from));
  }

  /** Drop intervals that ended before the window (and, when over the cap, the oldest ended ones). */
  private prune(overCap: boolean): void {
    const from = this.now() - this.windowMs;
    this.intervals = this.intervals.filter((iv) => iv.end > from);
    if (overCap && this.intervals.length > this.maxIntervals) {
      const ended = this.intervals.filter((iv) => iv.end !== Infinity);
      const drop = new Set(ended.slice(0, this.intervals.length - this.maxIntervals));
      this.intervals = this.intervals.filter((iv) => !drop.has(iv));
    }
  }
}
