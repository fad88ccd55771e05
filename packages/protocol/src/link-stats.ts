// Live network measurements the edge exposes (and the policy reads): RTT from timestamped probes,
// bandwidth from real transfers, both smoothed with an exponentially weighted moving average; and
// the cloud's load as the server reports it in every probe's reply.
import { CloudLoadReportSchema } from './messages.ts';

export interface NetworkSnapshot {
  /** Smoothed round-trip time, ms. */
  rttMs: number;
  /** Smallest RTT seen: the path's propagation + processing floor, ms. */
  minRttMs: number;
  /** Smoothed throughput of payload transfers, bits per second (NaN until measured). */
  bandwidthBps: number;
  rttSamples: number;
  bandwidthSamples: number;
  /** Recent RTTs (oldest first), for charts and the policy's history features. */
  recentRttMs: number[];
  recentBandwidthBps: number[];
}

export class NetworkEstimator {
  private rtt = NaN;
  private minRtt = Infinity;
  private bw = NaN;
  private nRtt = 0;
  private nBw = 0;
  private rtts: number[] = [];
  private bws: number[] = [];

  constructor(
    /** Weight of a new sample. @defaultValue 0.2 */
    private readonly alpha = 0.2,
    /** History kept for snapshots. @defaultValue 32 */
    private readonly history = 32,
  ) {}

  addRtt(ms: number): void {
    if (!(ms >= 0)) return;
    this.rtt = this.nRtt++ === 0 ? ms : this.alpha * ms + (1 - this.alpha) * this.rtt;
    this.minRtt = Math.min(this.minRtt, ms);
    this.rtts.push(ms);
    if (this.rtts.length > this.history) this.rtts.shift();
  }

  /**
   * A request/reply that moved `bytes` of payload in `totalMs`, of which the far side computed
   * `computeMs`. What remains after the RTT floor is transfer time. Transfers too short to time
   * (under half a millisecond, or under 1 KiB) are skipped rather than reported as infinite.
   */
  addTransfer(bytes: number, totalMs: number, computeMs: number): void {
    const floor = Number.isFinite(this.minRtt) ? this.minRtt : 0;
    const transferMs = totalMs - computeMs - floor;
    if (bytes < 1024 || transferMs < 0.5) return;
    const bps = (bytes * 8) / (transferMs / 1000);
    this.bw = this.nBw++ === 0 ? bps : this.alpha * bps + (1 - this.alpha) * this.bw;
    this.bws.push(bps);
    if (this.bws.length > this.history) this.bws.shift();
  }

  snapshot(): NetworkSnapshot {
    return {
      rttMs: this.rtt,
      minRttMs: Number.isFinite(this.minRtt) ? this.minRtt : NaN,
      bandwidthBps: this.bw,
      rttSamples: this.nRtt,
      bandwidthSamples: this.nBw,
      recentRttMs: [...this.rtts],
      recentBandwidthBps: [...this.bws],
    };
  }
}

/** The cloud's load as the edge last heard it (each probe's reply carries a CloudLoadReport). */
export interface CloudLoadSnapshot {
  /** Share of the server's recent time spent on other sessions' requests (rho); NaN until a report came. */
  others: number;
  /** The same counting every session, this one's included. */
  all: number;
  /** Mean number of other sessions' requests the server held; NaN until a report came. */
  concurrency: number;
  sessions: number;
  /** What the last report said of batching (undefined: it did not say). */
  batching?: boolean;
  /**
   * The last contention factor any report gave (beta: a request meets 1 + beta x concurrency);
   * undefined before one did. Kept when a later report gives none (no batch of two rows ran
   * lately), so that the history is priced by it too.
   */
  contention?: number;
  /** The last report's share of `concurrency` held by sessions that price congestion (undefined: it did not say). */
  pricingShare?: number;
  samples: number;
  /** Recent `others` and `concurrency` figures (oldest first), for the policy's history. */
  recentOthers: number[];
  recentConcurrency: number[];
}

export class CloudLoadEstimator {
  private last?: { others: number; all: number; concurrency: number; sessions: number; batching?: boolean; contention?: number; pricingShare?: number };
  private n = 0;
  private recent: number[] = [];
  private recentC: number[] = [];

  constructor(
    /** History kept for snapshots. @defaultValue 32 */
    private readonly history = 32,
  ) {}

  /** A report from a probe's reply; anything that is not a well-formed report is ignored (an older server sends none). */
  add(report: unknown): void {
    const r = CloudLoadReportSchema.safeParse(report);
    if (!r.success) return;
    const contention = r.data.contention ?? this.last?.contention;
    this.last = { others: r.data.others, all: r.data.all, concurrency: r.data.concurrency, sessions: r.data.sessions, ...(r.data.batching !== undefined ? { batching: r.data.batching } : {}), ...(contention !== undefined ? { contention } : {}), ...(r.data.pricingShare !== undefined ? { pricingShare: r.data.pricingShare } : {}) };
    this.n++;
    this.recent.push(r.data.others);
    this.recentC.push(r.data.concurrency);
    if (this.recent.length > this.history) this.recent.shift();
    if (this.recentC.length > this.history) this.recentC.shift();
  }

  snapshot(): CloudLoadSnapshot {
    const l = this.last;
    return { others: l?.others ?? NaN, all: l?.all ?? NaN, concurrency: l?.concurrency ?? NaN, sessions: l?.sessions ?? 0, ...(l?.batching !== undefined ? { batching: l.batching } : {}), ...(l?.contention !== undefined ? { contention: l.contention } : {}), ...(l?.pricingShare !== undefined ? { pricingShare: l.pricingShare } : {}), samples: this.n, recentOthers: [...this.recent], recentConcurrency: [...this.recentC] };
  }
}
