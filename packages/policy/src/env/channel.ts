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

/** One sample of a bandwidth trace: from time t (s) on, until the next sample. */
export interface TraceSample {
  t: number;
  /** Downlink (or the only) throughput, Mbit/s. */
  mbps: number;
  /** Uplink, Mbit/s, when the trace has its own column. */
  upMbps?: number;
  /** Round-trip time, ms, when the trace has a delay column. */
  rttMs?: number;
}

/**
 * A throughput trace, looped from a random offset. Uplink is the trace's own column when it has
 * one, else a fixed fraction of downlink; RTT is the trace's when it has one (with the same
 * log-normal jitter), else log-normal around a median.
 */
export class TraceChannel extends GridChannel {
  readonly radio: 'wifi' | 'lte';
  private readonly offsetS: number;
  constructor(
    readonly name: string,
    private readonly trace: TraceSample[],
    private readonly rng: Rng,
    private readonly o: { upRatio: number; rttMs: number; rttSigma: number; radio: 'wifi' | 'lte' },
  ) {
    super();
    if (trace.length < 2) throw new Error(`trace "${name}" has fewer than 2 samples`);
    this.radio = o.radio;
    this.offsetS = rng.uniform(0, trace.at(-1)!.t);
  }

  protected sample(step: number): NetworkState {
    const tr = this.trace, dur = tr.at(-1)!.t;
    const t = (this.offsetS + (step * STEP_MS) / 1000) % dur;
    // the last sample at or before t
    let lo = 0, hi = tr.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (tr[mid]!.t <= t) lo = mid;
      else hi = mid - 1;
    }
    const x = tr[lo]!;
    const down = Math.max(0.01, x.mbps);
    const up = x.upMbps !== undefined ? Math.max(0.01, x.upMbps) : down * this.o.upRatio;
    const rtt = (x.rttMs ?? this.o.rttMs) * Math.exp(this.o.rttSigma * this.rng.normal());
    return { downMbps: down, upMbps: up, rttMs: rtt };
  }
}

/** Parse a two-column trace ("time_s<TAB or space>Mbit/s" per line; lines that are not two numbers are skipped). */
export function parseTrace(text: string): TraceSample[] {
  const out: TraceSample[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/[\s,;]+/);
    if (f.length < 2) continue;
    const t = Number(f[0]), mbps = Number(f[1]);
    if (f[0] !== '' && Number.isFinite(t) && Number.isFinite(mbps)) out.push({ t, mbps });
  }
  return out;
}

/**
 * Parse a Mahimahi packet-delivery trace: one line per opportunity to deliver one 1500-byte packet,
 * at a millisecond timestamp (repeated timestamps are several packets in that ms); the trace loops
 * after its last timestamp. Binned into `binMs` windows: Mbit/s = packets x 1500 x 8 bits / window.
 */
export function parseMahimahi(text: string, binMs = 500): TraceSample[] {
  const ts: number[] = [];
  for (const line of text.split('\n')) {
    const v = line.trim();
    if (v === '') continue;
    const x = Number(v);
    if (!Number.isFinite(x)) throw new Error(`not a Mahimahi trace line: "${v}"`);
    ts.push(x);
  }
  if (ts.length === 0) return [];
  const end = Math.max(binMs, ts.at(-1)!);
  const bins = new Array<number>(Math.ceil(end / binMs)).fill(0);
  for (const x of ts) bins[Math.min(bins.length - 1, Math.floor(Math.max(0, x - 1e-9) / binMs))]!++;
  const out: TraceSample[] = bins.map((n, i) => ({ t: (i * binMs) / 1000, mbps: (n * 1500 * 8) / (binMs * 1000) }));
  // a closing sample so the last window has a length (the channel loops at the last t)
  out.push({ t: (bins.length * binMs) / 1000, mbps: out.at(-1)!.mbps });
  return out;
}

/** Which tabular columns mean what, and the factor to seconds, Mbit/s or ms. */
const COLUMN_RULES: Array<{ key: 't' | 'mbps' | 'upMbps' | 'rttMs' | 'owdMs'; re: RegExp }> = [
  { key: 't', re: /^(t|time|timestamp|ts|seconds|sec|elapsed)([_ (\[].*)?$/ },
  { key: 'upMbps', re: /^(up|upload|uplink|ul|up_?bw|upbandwidth|up_?throughput|up_?mbps)([_ (\[].*)?$/ },
  { key: 'mbps', re: /^(mbps|bw|bandwidth|throughput|tput|rate|capacity|down|download|downlink|dl|down_?bw|down_?throughput|down_?mbps|bandwidth_mbps|throughput_mbps)([_ (\[].*)?$/ },
  { key: 'rttMs', re: /^(rtt|ping|round_?trip)([_ (\[].*)?$/ },
  { key: 'owdMs', re: /^(delay|latency|owd|one_?way_?delay)([_ (\[].*)?$/ },
];

/** Factor from a column's unit (in its name, e.g. "bandwidth_kbps", "time (ms)") to s, Mbit/s or ms. */
function unitFactor(key: string, name: string): number {
  const n = name.toLowerCase();
  if (key === 't') return /(^|[_ (\[])ms\b|millis/.test(n) ? 1e-3 : /(^|[_ (\[])(us|µs)\b/.test(n) ? 1e-6 : 1;
  if (key === 'rttMs' || key === 'owdMs') return /(^|[_ (\[])(s|sec|seconds)\b/.test(n) ? 1000 : /(^|[_ (\[])(us|µs)\b/.test(n) ? 1e-3 : 1;
  if (/gbps|gbit/.test(n)) return 1000;
  if (/kbps|kbit/.test(n)) return 1e-3;
  if (/(^|[_ (\[])bps\b|bit\/s|bits/.test(n) && !/mbps|mbit/.test(n)) return 1e-6;
  if (/kb\/s|kbyte|kbs\b/.test(n)) return 8e-3;
  if (/mb\/s|mbyte|mbs\b/.test(n) && !/mbps/.test(n)) return 8;
  return 1;
}

/** Rows of named values (from CSV or JSON) to samples; throws when no time or bandwidth column. */
function samplesFromRows(names: string[], rows: Array<Array<number | string | null | undefined>>, what: string): TraceSample[] {
  const col: Partial<Record<'t' | 'mbps' | 'upMbps' | 'rttMs' | 'owdMs', { i: number; f: number }>> = {};
  names.forEach((raw, i) => {
    const n = raw.trim().toLowerCase().replace(/^"|"$/g, '');
    for (const r of COLUMN_RULES) {
      if (col[r.key] === undefined && r.re.test(n)) {
        col[r.key] = { i, f: unitFactor(r.key, n) };
        break;
      }
    }
  });
  if (!col.mbps) throw new Error(`${what}: no bandwidth column among ${JSON.stringify(names)} (expected e.g. "bandwidth_mbps", "throughput", "down")`);
  const out: TraceSample[] = [];
  rows.forEach((r, k) => {
    const num = (c?: { i: number; f: number }): number | undefined => {
      if (!c) return undefined;
      const v = r[c.i];
      const x = typeof v === 'number' ? v : v === null || v === undefined || String(v).trim() === '' ? NaN : Number(String(v).trim());
      return Number.isFinite(x) ? x * c.f : undefined;
    };
    const mbps = num(col.mbps);
    if (mbps === undefined) return;
    // no time column: one sample per second
    const t = col.t ? num(col.t) : k;
    if (t === undefined) return;
    const s: TraceSample = { t, mbps };
    const up = num(col.upMbps);
    if (up !== undefined) s.upMbps = up;
    const rtt = num(col.rttMs), owd = num(col.owdMs);
    if (rtt !== undefined) s.rttMs = rtt;
    else if (owd !== undefined) s.rttMs = 2 * owd; // a one-way delay: the round trip is twice it
    out.push(s);
  });
  out.sort((a, b) => a.t - b.t);
  // start at 0
  const t0 = out[0]?.t ?? 0;
  for (const s of out) s.t -= t0;
  return out;
}

/** CSV (comma, semicolon or tab separated) with a header row naming time, bandwidth and delay columns. */
export function parseCsvTrace(text: string, what = 'csv trace'): TraceSample[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  if (lines.length < 2) return [];
  const sep = [',', ';', '\t'].reduce((a, c) => (lines[0]!.split(c).length > lines[0]!.split(a).length ? c : a), ',');
  const names = lines[0]!.split(sep);
  return samplesFromRows(names, lines.slice(1).map((l) => l.split(sep)), what);
}

/**
 * JSON: an array of objects ({"time_s": 0, "bandwidth_mbps": 3.1, "rtt_ms": 40}), or such an array
 * under a "samples"/"trace"/"data" key, or an object of equal-length arrays.
 */
export function parseJsonTrace(text: string, what = 'json trace'): TraceSample[] {
  let v: unknown = JSON.parse(text);
  if (v && !Array.isArray(v) && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const inner = o.samples ?? o.trace ?? o.data;
    if (Array.isArray(inner)) v = inner;
    else {
      const names = Object.keys(o).filter((k) => Array.isArray(o[k]));
      const n = Math.max(0, ...names.map((k) => (o[k] as unknown[]).length));
      return samplesFromRows(names, Array.from({ length: n }, (_, i) => names.map((k) => (o[k] as Array<number | string>)[i])), what);
    }
  }
  if (!Array.isArray(v)) throw new Error(`${what}: expected an array of samples`);
  const names = [...new Set(v.flatMap((r) => (r && typeof r === 'object' ? Object.keys(r as object) : [])))];
  return samplesFromRows(names, v.map((r) => names.map((k) => (r as Record<string, number | string>)[k])), what);
}

export type TraceFormat = 'two-column' | 'mahimahi' | 'csv' | 'json';

/** Which reader a file needs: JSON by its first character, Mahimahi when every line is one integer, CSV when the first line has letters. */
export function detectTraceFormat(text: string): TraceFormat {
  const body = text.trim();
  if (body.startsWith('[') || body.startsWith('{')) return 'json';
  const lines = body.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length > 0 && lines.every((l) => /^\d+$/.test(l))) return 'mahimahi';
  if (lines.length > 0 && /[a-df-z]/i.test(lines[0]!)) return 'csv';
  return 'two-column';
}

/** Read a trace file of any of the four formats (detected from its content). */
export function readTrace(text: string, what = 'trace'): { format: TraceFormat; samples: TraceSample[] } {
  const format = detectTraceFormat(text);
  const samples = format === 'json' ? parseJsonTrace(text, what) : format === 'mahimahi' ? parseMahimahi(text) : format === 'csv' ? parseCsvTrace(text, what) : parseTrace(text);
  return { format, samples };
}

/**
 * 5G with the "cloud" an edge server in the operator's network (MEC): the 5G-like radio above, the
 * round trip cut to a fifth (6-11 ms; 5G MEC trials report about 10 ms end to end against 30-50 ms
 * to a regional cloud). One of the two regimes where cutting finer than a layer might pay (issue 10).
 */
export const FIVE_G_MEC: MarkovChannelSpec = { ...FIVE_G, states: FIVE_G.states.map((s) => ({ ...s, rttMs: s.rttMs / 5 })) };

/** A LAN edge server over Wi-Fi 6 (a home or office box): hundreds of Mbit/s, RTT 2-4 ms, the Wi-Fi hop's spikes kept. */
export const WIFI_LAN: MarkovChannelSpec = {
  ...WIFI,
  states: [
    { name: 'good', downMbps: 400, upMbps: 300, rttMs: 2 },
    { name: 'congested', downMbps: 120, upMbps: 80, rttMs: 4 },
  ],
  spike: { p: 0.01, minMs: 10, maxMs: 60 },
};

export type ChannelKind = 'wifi' | 'lte' | '5g';
export const CHANNEL_SPECS: Record<ChannelKind, MarkovChannelSpec> = { wifi: WIFI, lte: LTE, '5g': FIVE_G };

/** Scale a spec's medians (an unseen variant for evaluation). */
export function scaledSpec(spec: MarkovChannelSpec, bw: number, rtt: number): MarkovChannelSpec {
  return { ...spec, states: spec.states.map((s) => ({ ...s, downMbps: s.downMbps * bw, upMbps: s.upMbps * bw, rttMs: s.rttMs * rtt })) };
}
