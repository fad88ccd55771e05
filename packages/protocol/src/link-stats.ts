// Live network measurements the edge exposes (and the policy reads): RTT from timestamped probes,
// bandwidth from real transfers. Both smoothed with an exponentially weighted moving average.

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
