// Network channels for the simulator: Markov-modulated bandwidth and RTT, in 500 ms steps, with
// optional outage bursts, and replay of a bandwidth trace file. Medians follow the research notes
// (shared/research/devices.md, sections 3-4); the spreads and transition rates are modelling
// choices, stated here and in docs/POLICY.md.
import type { NetworkState } from '../cost-model.ts';
import { Rng } from '../rng.ts';

export const STEP_MS = 500;

export interface ChannelState {
  name: string;
  /** Medians of this state. */
  downMbps: number;
  upMbps: number;
  rttMs: number;
}

export interface MarkovChannelSpec {
  kind: 'wifi' | 'lte' | '5g';
  states: ChannelState[];
  /** Row-stochastic transition matrix per 500 ms step. */
  transition: number[][];
  /** Log-normal spread (sigma of ln) of bandwidth and RTT around the state's medians, per step. */
  bwSigma: number;
  rttSigma: number;
  /** Short RTT spikes (e.g. the Wi-Fi hop): probability per step and extra ms range. */
  spike?: { p: number; minMs: number; maxMs: number };
}

export interface OutageSpec {
  /** Outages per second, and their mean length in seconds (exponential). */
  ratePerS: number;
  meanS: number;
  /** What the link looks like during one: a trickle and a long RTT (retries with backoff). */
  downMbps: number;
  upMbps: number;
  rttMs: number;
}

/** Stable home Wi-Fi to a regional cloud: RTT median ~20 ms, Wi-Fi-hop spikes up to 250 ms (p99). */
export const WIFI: MarkovChannelSpec = {
  kind: 'wifi',
  states: [
    { name: 'good', downMbps: 80, upMbps: 40, rttMs: 20 },
    { name: 'congested', downMbps: 25, upMbps: 10, rttMs: 28 },
  ],
  transition: [
    [0.98, 0.02],
    [0.1, 0.9],
  ],
  bwSigma: 0.2,
  rttSigma: 0.25,
  spike: { p: 0.01, minMs: 50, maxMs: 250 },
};

/** LTE-like: Huang et al.'s medians (13 Mbit/s down, 6 up) in the middle state, RTT median ~55 ms. */
export const LTE: MarkovChannelSpec = {
  kind: 'lte',
  states: [
    { name: 'good', downMbps: 30, upMbps: 12, rttMs: 45 },
    { name: 'median', downMbps: 13, upMbps: 6, rttMs: 55 },
    { name: 'poor', downMbps: 3, upMbps: 1, rttMs: 85 },
  ],
  transition: [
    [0.95, 0.05, 0],
    [0.03, 0.94, 0.03],
    [0, 0.08, 0.92],
  ],
  bwSigma: 0.35,
  rttSigma: 0.3,
};

/**
 * 5G-like (5Gophers, mmWave NSA): hundreds of Mbit/s down when on NR, RTT ~35 ms to a regional
 * cloud (26 ms first hop, 53 ms to a server ~1,000 km away), falling back to LTE. Uplink is assumed
 * at a sixth of downlink (no uplink figure in the notes).
 */
export const FIVE_G: MarkovChannelSpec = {
  kind: '5g',
  states: [
    { name: 'nr-high', downMbps: 300, upMbps: 50, rttMs: 30 },
    { name: 'nr-mid', downMbps: 100, upMbps: 17, rttMs: 35 },
    { name: 'lte-fallback', downMbps: 13, upMbps: 6, rttMs: 55 },
  ],
  transition: [
    [0.93, 0.06, 0.01],
    [0.06, 0.9, 0.04],
    [0.02, 0.1, 0.88],
  ],
  bwSigma: 0.3,
  rttSigma: 0.2,
};

export const OUTAGES: OutageSpec = { ratePerS: 1 / 120, meanS: 4, downMbps: 0.05, upMbps: 0.05, rttMs: 1500 };

export interface Channel {
  readonly name: string;
  /** Which radio the channel uses (for the energy model). */
  readonly radio: 'wifi' | 'lte';
  /** The network at time t (ms); t must not go back past the retained history. */
  at(tMs: number): NetworkState;
}

/** Samples on a 500 ms grid, produced on demand, with the recent past kept for history features. */
abstract class GridChannel implements Channel {
  abstract readonly name: string;
  abstract readonly radio: 'wifi' | 'lte';
  private samples: NetworkState[] = [];
  private first = 0; // index of samples[0] on the grid
  protected abstract sample(step: number): NetworkState;

  at(tMs: number): NetworkState {
    const step = Math.max(0, Math.floor(tMs / STEP_MS));
    while (this.first + this.samples.length <= step) {
      this.samples.push(this.sample(this.first + this.samples.length));
      if (this.samples.length > 4096) {
        this.samples.splice(0, 2048);
        this.first += 2048;
      }
    }
    const s = this.samples[step - this.first];
    if (!s) throw new Error(`channel "${this.name}": time ${tMs} ms is no longer retained`);
    return s;
  }
}

export class MarkovChannel extends GridChannel {
  readonly name: string;
  readonly radio: 'wifi' | 'lte';
  private state = 0;
  private outageUntil = -1;

  constructor(
    readonly spec: MarkovChannelSpec,
    private readonly rng: Rng,
    private readonly outages?: OutageSpec,
  ) {
    super();
    this.name = spec.kind + (outages ? '+outages' : '');
    this.radio = spec.kind === 'wifi' ? 'wifi' : 'lte';
    this.state = rng.int(0, spec.states.length - 1);
  }

  protected sample(step: number): NetworkState {
    const { spec, rng } = this;
    // state transition
    const row = spec.transition[this.state]!;
    let u = rng.next(), next = 0;
    while (next < row.length - 1 && u >= row[next]!) u -= row[next++]!;
    this.state = next;
    const st = spec.states[this.state]!;
    const bwNoise = Math.exp(spec.bwSigma * rng.normal());
    let rtt = st.rttMs * Math.exp(spec.rttSigma * rng.normal());
    if (spec.spike && rng.next() < spec.spike.p) rtt += rng.uniform(spec.spike.minMs, spec.spike.maxMs);
    const o = this.outages;
    if (o) {
      const t = step * STEP_MS;
      if (t >= this.outageUntil && rng.next() < o.ratePerS * (STEP_MS / 1000)) this.outageUntil = t + rng.exponential(1 / o.meanS) * 1000;
      if (t < this.outageUntil) return { downMbps: o.downMbps, upMbps: o.upMbps, rttMs: o.rttMs };
    }
    return { downMbps: st.downMbps * bwNoise, upMbps: st.upMbps * bwNoise, rttMs: rtt };
  }
}

/** A throughput trace (time s, Mbit/s), looped; uplink a fixed fraction of it; RTT log-normal around a median. */
export class TraceChannel extends GridChannel {
  readonly radio: 'wifi' | 'lte';
  private readonly offsetS: number;
  constructor(
    readonly name: string,
    private readonly trace: Array<{ t: number; mbps: number }>,
    private readonly rng: Rng,
    private readonly o: { upRatio: number; rttMs: number; rttSigma: number; radio: 'wifi' | 'lte' },
  ) {
    super();
    if (trace.length < 2) throw new Error(`trace "${name}" has fewer than 2 samples`);
    this.radio = o.radio;
    this.offsetS = rng.uniform(0, trace.at(-1)!.t);
  }

  protected sample(step: number): NetworkState {
    const dur = this.trace.at(-1)!.t;
    const t = (this.offsetS + (step * STEP_MS) / 1000) % dur;
    let i = 0;
    while (i < this.trace.length - 1 && this.trace[i + 1]!.t <= t) i++;
    const down = Math.max(0.01, this.trace[i]!.mbps);
    return { downMbps: down, upMbps: down * this.o.upRatio, rttMs: this.o.rttMs * Math.exp(this.o.rttSigma * this.rng.normal()) };
  }
}

/** Parse a two-column trace ("time_s<TAB or space>Mbit/s" per line). */
export function parseTrace(text: string): Array<{ t: number; mbps: number }> {
  const out: Array<{ t: number; mbps: number }> = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2) continue;
    const t = Number(f[0]), mbps = Number(f[1]);
    if (Number.isFinite(t) && Number.isFinite(mbps)) out.push({ t, mbps });
  }
  return out;
}

export type ChannelKind = 'wifi' | 'lte' | '5g';
export const CHANNEL_SPECS: Record<ChannelKind, MarkovChannelSpec> = { wifi: WIFI, lte: LTE, '5g': FIVE_G };

/** Scale a spec's medians (an unseen variant for evaluation). */
export function scaledSpec(spec: MarkovChannelSpec, bw: number, rtt: number): MarkovChannelSpec {
  return { ...spec, states: spec.states.map((s) => ({ ...s, downMbps: s.downMbps * bw, upMbps: s.upMbps * bw, rttMs: s.rttMs * rtt })) };
}
