// The page's policy mode. The Splitwise policy (an ONNX graph, run here with onnxruntime-web)
// picks the plan and the wire precision in this browser: before each request, and again between
// tokens when the measured bandwidth or RTT moves by more than a threshold. What it sees:
//   - the socket link's NetworkEstimator (RTT from probes; bandwidth from real transfers, and a
//     timed upload probe when no tensor has crossed lately) and its last 8 one-second samples;
//   - this page's request queue (one request at a time, so Q = 1) and its arrival rate;
//   - the energy and accuracy virtual queues of the drift-plus-penalty objective, kept here: after
//     each request they move by the cost model's estimate of what that request used;
//   - the request (prompt length, tokens asked for), the memory the browser reports, the battery.
// Nothing here touches the DOM; the split card draws `view`.
import { syncPointsPerForward, type PartitionPlan, type WirePrecision } from '@splitwise/core';
import {
  CostModel,
  FRACTIONS,
  OBJECTIVE,
  PolicyRunner,
  countsToPlan,
  energyBudget,
  parseProfile,
  requestCost,
  type AccuracyTable,
  type DecisionState,
  type DeviceProfile,
  type NetworkState,
  type PolicyAction,
} from '@splitwise/policy';
import accuracyJson from '../../../packages/policy/profiles/accuracy-gpt2-random.json';
import cloudProfileJson from '../../../packages/policy/profiles/node-epyc-2vcpu.json';
import rpi5Json from '../../../packages/policy/profiles/rpi5-8gb.json';
import rpi5ChromiumJson from '../../../packages/policy/profiles/rpi5-8gb-chromium-wasm.json';
import gpt2PolicyUrl from '../../../packages/policy/trained/gpt2-rpi5-chromium/policy.onnx?url';
import xlPolicyUrl from '../../../packages/policy/trained/policy.onnx?url';
import type { EdgeApp } from './edge.ts';
import type { PolicyView } from './hook-types.ts';

/** A trained policy the page can load, and what it was trained for. */
export interface PolicyEntry {
  name: string;
  url: string;
  /** Layers of the model it was trained for (its block scores are per layer). */
  layers: number;
  trainedFor: string;
  /** The edge device profile its cost model and energy figures come from. */
  edge: DeviceProfile;
}

export const POLICIES: PolicyEntry[] = [
  {
    name: 'splitwise-ppo-gpt2-rpi5-chromium',
    url: gpt2PolicyUrl,
    layers: 12,
    trainedFor: 'gpt2 (124M) shape, a Raspberry Pi 5 running this page in Chromium (onnxruntime-web WASM profile), this repository\'s 2-vCPU server as the cloud (npm run train:policy:page)',
    edge: parseProfile(rpi5ChromiumJson),
  },
  {
    name: 'splitwise-ppo-gpt2xl-rpi5',
    url: xlPolicyUrl,
    layers: 48,
    trainedFor: 'gpt2-xl shape, Raspberry Pi 5 edge, this repository\'s 2-vCPU server as the cloud (npm run train:policy)',
    edge: parseProfile(rpi5Json),
  },
];

/** The trained policy for a model of `layers` layers: an exact match, else the nearest (read by depth; ties: the smaller). */
export const policyFor = (layers: number): PolicyEntry =>
  POLICIES.reduce((best, p) => (Math.abs(p.layers - layers) < Math.abs(best.layers - layers) ? p : best));

export interface PolicyModeOptions {
  /** Memory the edge may use for the model, bytes (the page's ?memory=MB); else from the browser. */
  memoryBytes?: number;
  /** Re-decide mid-answer when bandwidth or RTT changes by more than this factor. @defaultValue 1.5 */
  moveFactor?: number;
  /** ...but not more often than this (the estimates are smoothed; this bounds churn). @defaultValue 2000 */
  minIntervalMs?: number;
}

const GiB = 2 ** 30;
const HISTORY = 8;
/** Below this, RTT changes are jitter, whatever the ratio (loopback swings 0.2 to 1 ms). */
const RTT_FLOOR_MS = 5;

interface BatteryLike {
  level: number;
}

export interface PolicyDecision {
  plan: PartitionPlan;
  precision: WirePrecision;
  action: PolicyAction;
}

export class PagePolicy {
  readonly view: PolicyView;
  private readonly history: NetworkState[] = [];
  private readonly arrivals: number[] = [];
  private readonly cost: CostModel;
  private Ze = 0;
  private Za = 0;
  private seen?: NetworkState;
  private decidedAt = -Infinity;
  private bandwidthAtLeastBps = NaN;
  private battery?: BatteryLike;
  private lastBwSamples = 0;
  private quietTicks = 0;
  private deciding?: Promise<PolicyDecision>;

  private constructor(
    private readonly app: EdgeApp,
    private readonly runner: PolicyRunner,
    readonly entry: PolicyEntry,
    private readonly o: PolicyModeOptions,
  ) {
    const accuracy: AccuracyTable = { klPerResidual: accuracyJson.klPerResidual, klPerPartial: accuracyJson.klPerPartial, source: 'profiles/accuracy-gpt2-random.json' };
    this.cost = new CostModel(app.graph, entry.edge, parseProfile(cloudProfileJson), accuracy);
    this.view = {
      policy: entry.name,
      trainedFor: entry.trainedFor,
      trainedLayers: entry.layers,
      modelLayers: app.graph.config.nLayer,
      mapped: entry.layers !== app.graph.config.nLayer,
      decisions: 0,
      Ze: 0,
      Za: 0,
      log: [],
    };
  }

  static async create(app: EdgeApp, o: PolicyModeOptions = {}): Promise<PagePolicy> {
    const entry = policyFor(app.graph.config.nLayer);
    const res = await fetch(entry.url);
    if (!res.ok) throw new Error(`policy ${entry.name}: HTTP ${res.status} for ${entry.url}`);
    const runner = await PolicyRunner.create(app.runtime, new Uint8Array(await res.arrayBuffer()), app.graph, { mapLayers: true });
    const p = new PagePolicy(app, runner, entry, o);
    const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
    p.battery = await nav.getBattery?.().catch(() => undefined);
    return p;
  }

  /**
   * The network as the link measures it now (one bandwidth figure: the link times both directions
   * together). Where every transfer was too quick to time (a LAN, loopback), the bandwidth is at
   * least what the largest probe implies, and that lower bound is what the policy sees.
   */
  private network(): NetworkState | undefined {
    const s = this.app.link.network.snapshot();
    const bps = s.bandwidthBps > 0 ? s.bandwidthBps : this.bandwidthAtLeastBps;
    if (!(s.rttMs >= 0) || !(bps > 0)) return undefined;
    const mbps = bps / 1e6;
    return { rttMs: s.rttMs, downMbps: mbps, upMbps: mbps };
  }

  /**
   * Once a second: keep the history the policy reads, and when no tensor has crossed for a few
   * seconds (an edge-heavy plan), time an upload so the bandwidth stays measured.
   */
  tick(): void {
    const s = this.app.link.network.snapshot();
    if (s.bandwidthSamples === this.lastBwSamples) this.quietTicks++;
    else this.quietTicks = 0;
    this.lastBwSamples = s.bandwidthSamples;
    if (this.quietTicks >= 5) {
      this.quietTicks = 0;
      void this.app.link.probeBandwidth(32 * 1024).catch(() => undefined);
    }
    const net = this.network();
    if (net) {
      this.history.push(net);
      if (this.history.length > HISTORY) this.history.shift();
    }
  }

  /** Has the network moved by more than the threshold since the last decision? */
  moved(): { from: NetworkState; to: NetworkState } | undefined {
    const to = this.network(), from = this.seen;
    if (!to || !from || this.deciding) return undefined;
    if (performance.now() - this.decidedAt < (this.o.minIntervalMs ?? 2000)) return undefined;
    const f = this.o.moveFactor ?? 1.5;
    const ratio = (a: number, b: number): number => Math.max(a / b, b / a);
    const bw = ratio(to.downMbps, from.downMbps) > f;
    const rtt = ratio(to.rttMs, from.rttMs) > f && Math.abs(to.rttMs - from.rttMs) > RTT_FLOOR_MS;
    return bw || rtt ? { from, to } : undefined;
  }

  /** Timed uploads of growing size until one is slow enough to time. */
  private async measureBandwidth(): Promise<void> {
    for (const bytes of [64 * 1024, 256 * 1024]) {
      const t = performance.now();
      if ((await this.app.link.probeBandwidth(bytes)) > 0) return;
      // too quick to time: at least this many bits in (at most) this much time
      this.bandwidthAtLeastBps = Math.max(this.bandwidthAtLeastBps || 0, (bytes * 8) / (Math.max(0.5, performance.now() - t) / 1000));
    }
  }

  private memoryBytes(): number {
    if (this.o.memoryBytes) return this.o.memoryBytes;
    // Chrome reports device memory in GiB, capped at 8; the page may use about half, and
    // onnxruntime-web's 32-bit WASM heap cannot grow past 4 GiB whatever the device has
    const device = ((navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4) * GiB;
    return Math.min(device / 2, 4 * GiB);
  }

  private lambdaPerS(now: number): number {
    const windowMs = 10 * 60_000;
    while (this.arrivals.length && now - this.arrivals[0]! > windowMs) this.arrivals.shift();
    const span = Math.max(60_000, now - (this.arrivals[0] ?? now));
    return this.arrivals.length / (span / 1000);
  }

  /**
   * Decide a plan and precision for a request of `prompt` tokens asking for `gen` more. `reason`
   * is what the panel shows: before a request, or the network moving mid-answer.
   */
  decide(reason: string, request: { prompt: number; gen: number }, arrival = false): Promise<PolicyDecision> {
    const run = async (): Promise<PolicyDecision> => {
      if (arrival) this.arrivals.push(performance.now());
      if (!(this.app.link.network.snapshot().rttMs >= 0)) await this.app.link.probe();
      if (!(this.app.link.network.snapshot().bandwidthBps > 0)) await this.measureBandwidth();
      const net = this.network();
      if (!net) throw new Error('the link has no RTT or bandwidth measurement yet');
      const state: DecisionState = {
        net,
        netHistory: this.history.length ? [...this.history] : [net],
        Q: 1,
        lambdaPerS: this.lambdaPerS(performance.now()),
        Ze: this.Ze,
        Za: this.Za,
        request,
        memoryFreeBytes: this.memoryBytes(),
        battery: this.battery?.level ?? 1,
        radio: (navigator as Navigator & { connection?: { type?: string } }).connection?.type === 'cellular' ? 'lte' : 'wifi',
      };
      const { action, ms } = await this.runner.decide(state);
      const plan = countsToPlan(this.app.graph, action.counts);
      this.seen = net;
      this.decidedAt = performance.now();
      const layers = action.counts.nLayer, total = layers * (action.counts.nHead + action.counts.nInner);
      let cloud = 0;
      for (let l = 0; l < layers; l++) cloud += action.counts.cloudHeads[l]! + action.counts.cloudWidth[l]!;
      this.view.decisions++;
      this.view.last = {
        reason,
        at: Date.now(),
        ms,
        seen: {
          rttMs: net.rttMs,
          downMbps: net.downMbps,
          upMbps: net.upMbps,
          Q: state.Q,
          lambdaPerMin: state.lambdaPerS * 60,
          Ze: state.Ze,
          Za: state.Za,
          prompt: request.prompt,
          gen: request.gen,
          memoryFreeMB: state.memoryFreeBytes / 2 ** 20,
          battery: state.battery,
          radio: state.radio,
        },
        fraction: FRACTIONS[action.fracIndex]!,
        masked: action.mask.filter((m) => !m).length,
        precision: action.precision,
        cloudUnits: cloud / total,
        syncPoints: syncPointsPerForward(plan),
      };
      this.view.log = [...this.view.log, { reason, fraction: this.view.last.fraction, precision: action.precision, at: this.view.last.at }].slice(-8);
      if (this.runner.trainedLayers !== undefined) this.view.trainedLayers = this.runner.trainedLayers;
      return { plan, precision: action.precision, action };
    };
    const p = run().finally(() => {
      if (this.deciding === p) this.deciding = undefined;
    });
    this.deciding = p;
    return p;
  }

  /**
   * A request finished: move the energy and accuracy virtual queues by what the cost model says it
   * used (Z' = max(0, Z + used / budget - 1), as in training), at the network the policy last saw.
   */
  finished(request: { prompt: number; gen: number }, plan: PartitionPlan, precision: WirePrecision): void {
    if (request.gen < 1) return;
    const net = this.network() ?? this.seen;
    const p = this.entry.edge;
    if (!net || !p.power || !p.radio) return;
    const energy = { activeW: p.power.activeW, idleW: p.power.idleW ?? 0, radio: p.radio[this.view.last?.seen.radio ?? 'wifi'] };
    const c = requestCost(this.cost, this.cost.compile(plan, precision), request, net, energy);
    const battery = this.battery?.level ?? 1;
    this.Ze = Math.max(0, this.Ze + c.energyJ / (energyBudget(OBJECTIVE, battery) * request.gen) - 1);
    this.Za = Math.max(0, this.Za + c.accuracyLoss / OBJECTIVE.accuracyBudget - 1);
    this.view.Ze = this.Ze;
    this.view.Za = this.Za;
    this.view.lastRequest = { energyJ: c.energyJ, accuracyLoss: c.accuracyLoss, predictedMs: c.latencyMs };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
