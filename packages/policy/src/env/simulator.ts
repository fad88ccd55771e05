// The environment: one edge device serving a queue of chat requests with help from the cloud, on
// the cost model. Requests arrive as a Markov-modulated Poisson process (a normal rate and bursts at
// four times it); the edge serves them one at a time, choosing a plan and a wire precision for each
// (one decision per request: the plan holds for the request's whole decode, so KV caches never move).
// While a request is served the network keeps changing (the channel is asked at every forward pass).
// After each decision the queues move:
//   Q   = requests waiting (incl. the one about to be served), Z_e, Z_a the virtual queues (objective.ts)
// and the reward is the drift-plus-penalty -(Δ + V p).
import type { WirePrecision } from '@splitwise/core';
import {
  CostModel,
  requestCost,
  type EnergyModel,
  type NetworkState,
  type PlanCounts,
  type RequestShape,
} from '../cost-model.ts';
import { energyBudget, type ObjectiveConfig, type QueueState } from '../objective.ts';
import type { DecisionState } from '../features.ts';
import { HISTORY } from '../features.ts';
import type { DeviceProfile } from '../profile.ts';
import { Rng } from '../rng.ts';
import type { Channel } from './channel.ts';
import { CloudLoadProcess, NO_SWITCH, allWeightsResident, switchCost, type DynamicsOptions } from '../dynamics.ts';

export interface WorkloadSpec {
  /** Offered load range: the normal arrival rate is load / (nominal service time). */
  loadMin: number;
  loadMax: number;
  /** Bursts: rate multiplier, mean seconds between bursts and mean burst length. */
  burstFactor: number;
  meanSecondsBetweenBursts: number;
  meanBurstSeconds: number;
  /** Log-normal prompt and generation lengths (median, sigma), clipped. */
  prompt: { median: number; sigma: number; min: number; max: number };
  gen: { median: number; sigma: number; min: number; max: number };
}

export const DEFAULT_WORKLOAD: WorkloadSpec = {
  loadMin: 0.1,
  loadMax: 0.6,
  burstFactor: 4,
  meanSecondsBetweenBursts: 900,
  meanBurstSeconds: 90,
  prompt: { median: 96, sigma: 0.8, min: 8, max: 640 },
  gen: { median: 48, sigma: 0.6, min: 4, max: 256 },
};

export interface EnvConfig {
  model: CostModel;
  edgeProfile: DeviceProfile;
  objective: ObjectiveConfig;
  workload: WorkloadSpec;
  /** A fresh channel for an episode. */
  channel: (rng: Rng) => Channel;
  /** Edge memory free for the model, drawn per episode (bytes). */
  memoryMinBytes: number;
  memoryMaxBytes: number;
  /** Battery capacity in J (drained by edge energy); initial charge drawn in [batteryMin, 1]. */
  batteryCapacityJ: number;
  batteryMin: number;
  /** Decisions per episode. */
  episodeLength: number;
  /** Seconds a nominal request takes cloud-only at the channel's first sample (sets the arrival rate). */
  nominalServiceS: number;
  /** Relative noise of the edge's bandwidth/RTT measurements (sigma of ln). */
  measurementSigma: number;
  /**
   * Opt-in (issue 10, dynamics.ts): switching costs when the plan changes, and a contended cloud
   * whose load the edge sees. Absent: the environment is exactly the one the shipped policies were
   * trained and evaluated in (no extra random draws either).
   */
  dynamics?: DynamicsOptions;
}

export interface StepInfo {
  request: RequestShape;
  precision: WirePrecision;
  /** Queue wait + service, and each alone, seconds. */
  latencyS: number;
  waitS: number;
  serviceS: number;
  energyJ: number;
  accuracyLoss: number;
  syncs: number;
  bytesUp: number;
  bytesDown: number;
  cloudFraction: number;
  drift: number;
  penalty: number;
  Q: number;
  Ze: number;
  Za: number;
  memoryOk: boolean;
  /** With switching costs (dynamics): seconds spent changing the plan before this request (in serviceS), and whether it changed. */
  switchS?: number;
  switched?: boolean;
  /** With contention: the cloud's slowdown when the request started. */
  cloudSlowdown?: number;
}

export interface Transition {
  state: DecisionState;
  reward: number;
  done: boolean;
  info: StepInfo;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

export class SplitwiseEnv {
  /** Separate streams, so that arrivals and channels are the same whatever the decisions. */
  private rng!: Rng;
  private noise!: Rng;
  private channel!: Channel;
  private t = 0; // ms
  private queue: Array<{ arrival: number; req: RequestShape }> = [];
  private nextArrival = 0;
  private burst = false;
  private nextSwitch = 0;
  private baseRate = 0; // per ms
  private arrivals: number[] = []; // recent arrival times for the rate estimate
  private Ze = 0;
  private Za = 0;
  private battery = 1;
  private memory = 0;
  private steps = 0;
  private load?: CloudLoadProcess;
  private loadNoise?: Rng;
  private current?: { counts: PlanCounts; precision: WirePrecision };

  constructor(readonly cfg: EnvConfig) {}

  get graph() {
    return this.cfg.model.graph;
  }

  energyModel(): EnergyModel {
    const p = this.cfg.edgeProfile;
    if (!p.power || !p.radio) throw new Error(`profile "${p.name}" has no power or radio figures`);
    return { activeW: p.power.activeW, idleW: p.power.idleW ?? 0, radio: p.radio[this.channel.radio] };
  }

  private drawLen(s: WorkloadSpec['prompt']): number {
    return Math.round(clamp(s.median * Math.exp(s.sigma * this.rng.normal()), s.min, s.max));
  }

  private newRequest(): RequestShape {
    const w = this.cfg.workload, ctx = this.graph.config.nPositions;
    const prompt = this.drawLen(w.prompt);
    const gen = Math.min(this.drawLen(w.gen), ctx - prompt);
    return { prompt, gen: Math.max(1, gen) };
  }

  private rate(): number {
    return this.baseRate * (this.burst ? this.cfg.workload.burstFactor : 1);
  }

  /** Move the arrival process up to time `until`, queueing what arrives. */
  private arriveUntil(until: number): void {
    const w = this.cfg.workload;
    while (this.nextArrival <= until || this.nextSwitch <= until) {
      if (this.nextSwitch < this.nextArrival) {
        this.burst = !this.burst;
        const mean = this.burst ? w.meanBurstSeconds : w.meanSecondsBetweenBursts;
        const t = this.nextSwitch;
        this.nextSwitch = t + this.rng.exponential(1 / mean) * 1000;
        // memoryless: redraw the next arrival at the new rate
        this.nextArrival = t + this.rng.exponential(this.rate());
      } else {
        this.queue.push({ arrival: this.nextArrival, req: this.newRequest() });
        this.arrivals.push(this.nextArrival);
        this.nextArrival += this.rng.exponential(this.rate());
      }
    }
  }

  /** Idle until a request is queued (a burst switch may redraw the next arrival on the way). */
  private waitForArrival(): void {
    while (this.queue.length === 0) {
      this.t = Math.max(this.t, this.nextArrival);
      this.arriveUntil(this.t);
    }
  }

  private measured(n: NetworkState): NetworkState {
    const s = this.cfg.measurementSigma, r = this.noise;
    return { downMbps: n.downMbps * Math.exp(s * r.normal()), upMbps: n.upMbps * Math.exp(s * r.normal()), rttMs: n.rttMs * Math.exp(s * r.normal()) };
  }

  /** What the edge sees before deciding on the request at the head of the queue. */
  private observe(): DecisionState {
    const hist: NetworkState[] = [];
    for (let k = HISTORY; k >= 1; k--) hist.push(this.measured(this.channel.at(Math.max(0, this.t - k * 1000))));
    const win = 600_000;
    this.arrivals = this.arrivals.filter((a) => a > this.t - win);
    const span = Math.min(win, Math.max(this.t, 60_000));
    return {
      net: this.measured(this.channel.at(this.t)),
      netHistory: hist,
      Q: this.queue.length,
      lambdaPerS: (this.arrivals.length / span) * 1000,
      Ze: this.Ze,
      Za: this.Za,
      request: this.queue[0]!.req,
      memoryFreeBytes: this.memory,
      battery: this.battery,
      radio: this.channel.radio,
      ...(this.cfg.dynamics ? this.observeDynamics() : {}),
    };
  }

  /** The opt-in part of the state: the cloud's reported load and its history, the plan in place. */
  private observeDynamics(): Pick<DecisionState, 'cloud' | 'current'> {
    const out: Pick<DecisionState, 'cloud' | 'current'> = {};
    const c = this.cfg.dynamics?.contention;
    if (this.load && this.loadNoise && c) {
      const rep = (t: number): number => {
        const slow = this.load!.slowdown(Math.max(0, t)) * Math.exp(c.reportSigma * this.loadNoise!.normal());
        return Math.max(1, slow);
      };
      const history: number[] = [];
      for (let k = HISTORY; k >= 1; k--) history.push(1 - 1 / rep(this.t - k * 1000));
      const slowdown = rep(this.t);
      out.cloud = { load: 1 - 1 / slowdown, slowdown, history };
    }
    if (this.current) out.current = this.current;
    return out;
  }

  queueState(s: DecisionState): QueueState {
    return { Q: s.Q, Ze: s.Ze, Za: s.Za, lambdaPerS: s.lambdaPerS, battery: s.battery };
  }

  reset(seed: number): DecisionState {
    const root = new Rng(seed);
    this.channel = this.cfg.channel(root.fork());
    this.noise = root.fork();
    this.rng = root.fork();
    const w = this.cfg.workload;
    const load = this.rng.uniform(w.loadMin, w.loadMax);
    this.baseRate = load / (this.cfg.nominalServiceS * 1000);
    this.t = 0;
    this.queue = [];
    this.arrivals = [];
    this.burst = false;
    this.nextSwitch = this.rng.exponential(1 / w.meanSecondsBetweenBursts) * 1000;
    this.nextArrival = this.rng.exponential(this.baseRate);
    this.Ze = 0;
    this.Za = 0;
    this.battery = this.rng.uniform(this.cfg.batteryMin, 1);
    this.memory = this.rng.uniform(this.cfg.memoryMinBytes, this.cfg.memoryMaxBytes);
    this.steps = 0;
    this.current = undefined;
    this.load = undefined;
    this.loadNoise = undefined;
    if (this.cfg.dynamics?.contention) {
      // forked after the other streams, so they stay what they are without dynamics
      this.load = new CloudLoadProcess(this.cfg.dynamics.contention, root.fork());
      this.loadNoise = root.fork();
    }
    // start at the first arrival, with a little history behind it
    this.t = 10_000;
    this.arriveUntil(this.t);
    this.waitForArrival();
    return this.observe();
  }

  /** Serve the head request with `plan` at `precision`. */
  step(plan: PlanCounts, precision: WirePrecision): Transition {
    const { model, objective: o } = this.cfg;
    const head = this.queue.shift()!;
    const s0: QueueState = { Q: this.queue.length + 1, Ze: this.Ze, Za: this.Za, lambdaPerS: 0, battery: this.battery };
    const energy = this.energyModel();
    const compiled = model.compile(plan, precision);
    const ctx = head.req.prompt + head.req.gen;
    const memoryOk = model.edgeMemoryBytes(plan, ctx) <= this.memory;
    const start = this.t;
    const dyn = this.cfg.dynamics, load = this.load;
    // the plan change first (weights move; between requests no KV is carried over), then the request
    const sw = dyn?.switching
      ? switchCost(model, this.current?.counts, { counts: plan, precision }, dyn.switching, this.channel.at(start), energy, 0, allWeightsResident(model, this.memory, ctx), load?.slowdown(start) ?? 1)
      : NO_SWITCH;
    const begin = start + sw.ms;
    const cost = requestCost(model, compiled, head.req, (ms) => this.channel.at(begin + ms), energy, load ? (ms) => load.slowdown(begin + ms) : undefined);
    if (dyn) this.current = { counts: { ...plan, cloudHeads: Int32Array.from(plan.cloudHeads), cloudWidth: Int32Array.from(plan.cloudWidth) }, precision };
    this.t = begin + cost.latencyMs;
    this.arriveUntil(this.t);
    let energyJ = cost.energyJ + sw.energyJ;
    // nothing queued: the radio's tail after this request until the next one starts (LTE)
    if (compiled.usesCloud && this.queue.length === 0 && energy.radio.tailS > 0) {
      const gap = Math.min(energy.radio.tailS * 1000, this.nextArrival - this.t);
      energyJ += (energy.radio.tailMw / 1000) * (gap / 1000);
    }
    this.waitForArrival();
    this.battery = Math.max(0, this.battery - energyJ / this.cfg.batteryCapacityJ);
    // queues
    const g = head.req.gen;
    const Eb = energyBudget(o, s0.battery) * g;
    const Ze1 = Math.max(0, this.Ze + energyJ / Eb - 1);
    const Za1 = Math.max(0, this.Za + cost.accuracyLoss / o.accuracyBudget - 1);
    const Q1 = this.queue.length;
    const drift = 0.5 * (Q1 * Q1 - s0.Q * s0.Q + Ze1 * Ze1 - this.Ze * this.Ze + Za1 * Za1 - this.Za * this.Za);
    const serviceS = (sw.ms + cost.latencyMs) / 1000;
    const penalty = serviceS / g + (o.wEnergy * energyJ) / Eb + (o.wAccuracy * cost.accuracyLoss) / o.accuracyBudget;
    const reward = -(drift + o.V * penalty);
    this.Ze = Ze1;
    this.Za = Za1;
    this.steps++;
    const layers = plan.nLayer, total = layers * (plan.nHead + plan.nInner);
    let cloudUnits = 0;
    for (let l = 0; l < layers; l++) cloudUnits += plan.cloudHeads[l]! + plan.cloudWidth[l]!;
    const info: StepInfo = {
      request: head.req,
      precision,
      latencyS: (start - head.arrival) / 1000 + serviceS,
      waitS: (start - head.arrival) / 1000,
      serviceS,
      energyJ,
      accuracyLoss: cost.accuracyLoss,
      syncs: cost.syncs,
      bytesUp: cost.bytesUp,
      bytesDown: cost.bytesDown,
      cloudFraction: cloudUnits / total,
      drift,
      penalty,
      Q: s0.Q,
      Ze: this.Ze,
      Za: this.Za,
      memoryOk,
      ...(dyn?.switching ? { switchS: sw.ms / 1000, switched: sw.layers > 0 } : {}),
      ...(load ? { cloudSlowdown: load.slowdown(start) } : {}),
    };
    return { state: this.observe(), reward, done: this.steps >= this.cfg.episodeLength, info };
  }

  /** The energy model of the current episode's radio (for planners that price energy). */
  get currentChannel(): Channel {
    return this.channel;
  }
}
