// The cost model: what a partition plan costs per token and per request, from an edge profile, a
// cloud profile and the network. It walks the same steps the executor runs (core's schedule(): edge
// layers, edge blocks, cloud calls) and charges:
//   - compute on each side from the device profiles (kernel fits: attn / ffn / layer / lmHead / combine);
//   - one RTT per cloud call (a synchronisation point), plus bytes over bandwidth at the wire precision
//     (rows of graph.wireBytesPerToken[p]: the residual up, the residual and the checkpoint rows down,
//     the cloud's partial sum of a mixed block);
//   - the overlap when a mixed block opens its call: the edge computes its share while the cloud
//     computes its own, so that call costs max(edge share, network + cloud share);
//   - optionally (LinkCostOptions, off by default), the measured software overhead of a sync point:
//     a + b*bytes per call (codec, message validation, framing, event-loop hops), the cloud's
//     re-gathering of its mixed-block weights at the first pass after a reset, and `sharedCores`
//     for both sides on one machine, where an overlapped call's compute serialises;
//   - edge energy: active power while the edge computes, idle power while it waits, and the radio
//     (Huang et al.'s P = au*up + ad*down + beta while a request uses the cloud, plus the LTE tail);
//   - accuracy loss: per quantised tensor that feeds the logits, from a measured table, and for
//     quantized weights (int8/q4 per side, weights.ts) the measured whole-model KL at that
//     precision times the share of the quantizable weights each side runs;
//   - weight precision per side (CostModel.weights, weights.ts): a side's weight-bearing kernels
//     at the measured speed of its runtime's quantized kernels, and the edge's memory at the bytes
//     per weight of its precision.
// The API cloud-only plan (PlanCounts.apiCloudOnly) is priced as the engine runs it: per pass one
// call, the token ids up (4 bytes each), the cloud's embeddings, every layer and the LM head, and
// the logits the sampler reads down (LinkCostOptions.apiLogits); no edge compute, no accuracy loss.
//
// Everything linear in the past context P is kept as (A + B*P), so a request of g tokens is summed in
// closed form except for the overlapped calls, which take a max per token.
import type { ModelGraph, PartitionPlan, WeightPrecision, WirePrecision } from '@splitwise/core';
import { familyOf, headDim, TOKEN_ID_BYTES } from '@splitwise/core';
import { kernelMs, shapeFor, type DeviceProfile, type KernelKind, type RadioModel } from './profile.ts';
import { atPrecision, FP32_WEIGHTS, weightTimeFactor, type SideWeights } from './weights.ts';

export interface NetworkState {
  rttMs: number;
  upMbps: number;
  downMbps: number;
}

export interface RequestShape {
  /** Prompt tokens (prefilled in one pass). */
  prompt: number;
  /** Tokens generated: one from the prefill pass, then gen - 1 decode passes. */
  gen: number;
}

/**
 * Measured accuracy loss (scripts/measure-accuracy.ts): mean KL(fp32 || quantised) of the
 * next-token distribution, in nats, per quantised residual the edge continues from (a cloud call's
 * returned residual) and per quantised partial sum (a mixed block's cloud share, computed from a
 * quantised residual and sent back quantised).
 */
export interface AccuracyTable {
  klPerResidual: Record<WirePrecision, number>;
  klPerPartial: Record<WirePrecision, number>;
  /**
   * Mean KL with every projection and the LM head at a weight precision (fp32 activations),
   * profiles/accuracy-weights.json. Absent: quantized weights are taken to cost no accuracy.
   */
  klPerWeights?: Record<WeightPrecision, number>;
  source: string;
}

export const NO_ACCURACY_LOSS: AccuracyTable = { klPerResidual: { fp32: 0, fp16: 0, int8: 0 }, klPerPartial: { fp32: 0, fp16: 0, int8: 0 }, source: 'none' };

/**
 * A plan as the cost model sees it: per layer, how many heads run on the cloud and which hidden
 * units of the FFN (as a width) do. Heads of a layer are interchangeable, chunks matter by width.
 */
export interface PlanCounts {
  nLayer: number;
  nHead: number;
  nInner: number;
  cloudHeads: Int32Array;
  cloudWidth: Int32Array;
  /**
   * API cloud-only (every layer on the cloud, with the embeddings and the LM head): the edge
   * sends token ids and gets logits back. Absent: a partition plan.
   */
  apiCloudOnly?: true;
}

export function planCounts(graph: ModelGraph, plan: PartitionPlan): PlanCounts {
  const L = graph.config.nLayer;
  const cloudHeads = new Int32Array(L), cloudWidth = new Int32Array(L);
  plan.layers.forEach((l, i) => {
    cloudHeads[i] = l.cloudHeads.length;
    cloudWidth[i] = l.cloudFfnChunks.reduce((a, k) => a + graph.layers[i]!.ffnChunks[k]!.width, 0);
  });
  return { nLayer: L, nHead: graph.attnUnits, nInner: graph.config.nInner, cloudHeads, cloudWidth, ...(plan.apiCloudOnly ? { apiCloudOnly: true as const } : {}) };
}

/** The API cloud-only plan as counts: every head and hidden unit on the cloud, and the ids with them. */
export function apiCloudOnlyCounts(graph: ModelGraph): PlanCounts {
  const L = graph.config.nLayer;
  return {
    nLayer: L,
    nHead: graph.attnUnits,
    nInner: graph.config.nInner,
    cloudHeads: new Int32Array(L).fill(graph.attnUnits),
    cloudWidth: new Int32Array(L).fill(graph.config.nInner),
    apiCloudOnly: true,
  };
}

const F32 = 4;

type Owner = 'edge' | 'cloud' | 'mixed';
const owner = (cloud: number, total: number): Owner => (cloud === 0 ? 'edge' : cloud === total ? 'cloud' : 'mixed');

/** Linear in the past context P: ms = a + b * P. */
interface Lin {
  a: number;
  b: number;
}
const lin = (a = 0, b = 0): Lin => ({ a, b });
const addLin = (x: Lin, y: Lin): void => {
  x.a += y.a;
  x.b += y.b;
};
const at = (x: Lin, P: number): number => x.a + x.b * P;

/** One cloud call of a pass: rows up and down, the cloud's compute, and the edge's concurrent share. */
export interface CallModel {
  rowsUp: number;
  rowsDown: number;
  cloud: Lin;
  /** The edge's share of a mixed block that opens this call, computed during it. */
  overlap?: Lin;
  /** Bytes of weights in the cloud's share of the call's mixed blocks (gathered into new arrays after a reset). */
  gatherBytes: number;
  /** Bytes beyond the rows, whatever the wire precision (API cloud-only: token ids up, logits down). */
  bytesUp?: number;
  bytesDown?: number;
}

/**
 * The software cost of one sync point that is neither network nor kernel time, measured on the
 * real engine (scripts/fit-link-overhead.ts, profiles/link-overhead-node.json):
 *
 *   per call:  msPerCall + msPerByte * (bytes up + bytes down)
 *
 * (encoding and decoding rows, message validation, socket framing, event-loop hops), charged on
 * the critical path of every cloud call; and, at the first pass of a sequence only,
 * gatherMsPerByte * (bytes of weights in the cloud's share of the call's mixed blocks): the cloud
 * starts every sequence (a 'reset') with its gathered weight subsets cleared, and gathers them
 * again the first time it runs those blocks.
 */
export interface LinkOverhead {
  msPerCall: number;
  msPerByte: number;
  gatherMsPerByte: number;
}

export const NO_LINK_OVERHEAD: LinkOverhead = { msPerCall: 0, msPerByte: 0, gatherMsPerByte: 0 };

/**
 * Optional terms of the cost model, off by default (the simulator and the trained policy use
 * none of them).
 */
export interface LinkCostOptions {
  /** Per-call software overhead (see LinkOverhead). Absent: 0. */
  overhead?: LinkOverhead;
  /**
   * Both sides share one machine's cores (the engine in one process, or a server on loopback):
   * an overlapped call's edge share and the cloud's compute serialise, so the call costs
   * max(edge share + cloud share + overhead, network + cloud share + overhead) instead of
   * max(edge share, network + cloud share + overhead). Network time can still hide the edge share.
   */
  sharedCores?: boolean;
  /**
   * Logits an API cloud-only cloud sends back per pass: the K largest with their ids (8 bytes
   * each), which is what a greedy (K = 1) or top-k sampler reads, or 0 for the whole row at fp32
   * (4 bytes a vocabulary entry). Absent: 1, greedy decoding.
   */
  apiLogits?: number;
}

/** Options of one pass: the model's LinkCostOptions, and whether it is the first pass of a sequence. */
export interface PassOptions extends LinkCostOptions {
  /** The first pass after a reset: the cloud re-gathers the weights of its mixed-block shares. */
  sequenceStart?: boolean;
  /** Opt-in (cloud contention, dynamics.ts): the cloud's kernels take this many times as long. Absent: 1. */
  cloudFactor?: number;
}

/** One forward pass of n rows (decode: n = 1), linear in P. */
export interface PassModel {
  n: number;
  /** Edge compute outside overlapped calls (edge blocks and layers, shares after a reply, combines, LM head). */
  edge: Lin;
  calls: CallModel[];
  /** Per pass: cloud calls whose returned residual the edge continues from, and mixed blocks (see AccuracyTable). */
  residualCrossings: number;
  partialCrossings: number;
}

/** Kernel times of one side as (A + B*P), for a model's dimensions, with its weights at `weights`. */
export class KernelCosts {
  private cache = new Map<string, Lin>();
  constructor(
    readonly graph: ModelGraph,
    readonly profile: DeviceProfile,
    readonly weights: WeightPrecision = 'fp32',
  ) {}

  /** ms of `kind` over `n` rows, with `heads` heads / `width` hidden units, as a function of P. */
  of(kind: KernelKind, n: number, heads = this.graph.attnUnits, width = this.graph.config.nInner): Lin {
    const key = `${kind}:${n}:${heads}:${width}`;
    let v = this.cache.get(key);
    if (!v) {
      const s = (P: number) => shapeFor(this.graph.config, { n, P, heads, width });
      const f = weightTimeFactor(this.profile, kind, this.weights);
      const t0 = f * kernelMs(this.profile, kind, s(0)), t1 = f * kernelMs(this.profile, kind, s(1000));
      v = lin(t0, (t1 - t0) / 1000);
      this.cache.set(key, v);
    }
    return v;
  }
}

/**
 * A forward pass of n rows under the counts, step by step as core's schedule() lays it out:
 * an edge-owned attention followed by an edge-owned FFN is one edge-layer call; a run of
 * cloud-only blocks, optionally ending in one mixed block, is one cloud call.
 */
export function passModel(counts: PlanCounts, edge: KernelCosts, cloud: KernelCosts, n: number): PassModel {
  const { nLayer: L, nHead: H, nInner: W } = counts;
  const nb = 2 * L;
  const cloudOf = (b: number): number => (b % 2 === 0 ? counts.cloudHeads[b >> 1]! : counts.cloudWidth[b >> 1]!);
  const totalOf = (b: number): number => (b % 2 === 0 ? H : W);
  const own = (b: number): Owner => owner(cloudOf(b), totalOf(b));
  const share = (k: KernelCosts, b: number, side: 'edge' | 'cloud'): Lin => {
    const c = cloudOf(b), mine = side === 'cloud' ? c : totalOf(b) - c;
    return b % 2 === 0 ? k.of('attn', n, mine) : k.of('ffn', n, H, mine);
  };
  const comb = (k: KernelCosts): Lin => k.of('combine', n);
  // weights of the cloud's share of a mixed block (the family's unit and chunk weight bytes)
  const unitBytes = cloud.graph.layers[0]!.heads[0]!.cost.weightBytes;
  const gatherOf = (b: number): number => (b % 2 === 0 ? cloudOf(b) * unitBytes : ffnBytes(cloud.graph, cloudOf(b)));
  const e = lin();
  const calls: CallModel[] = [];
  let resQ = 0, partQ = 0;
  let i = 0;
  while (i < nb) {
    const o = own(i);
    if (o === 'edge') {
      if (i % 2 === 0 && i + 1 < nb && own(i + 1) === 'edge') {
        addLin(e, edge.of('layer', n));
        i += 2;
      } else {
        addLin(e, share(edge, i, 'edge'));
        addLin(e, comb(edge));
        i += 1;
      }
      continue;
    }
    let j = i;
    while (j < nb && own(j) === 'cloud') j++;
    const to = j < nb && own(j) === 'mixed' ? j : j - 1;
    const call: CallModel = { rowsUp: 1, rowsDown: 1, cloud: lin(), gatherBytes: 0 };
    for (let b = i; b <= to; ) {
      const ob = own(b);
      // checkpoint rows: the residual at every attention the call runs, except its first block and a mixed last one
      if (b % 2 === 0 && b !== i && !(b === to && ob === 'mixed')) call.rowsDown += 1;
      if (ob === 'mixed') {
        addLin(call.cloud, share(cloud, b, 'cloud'));
        call.gatherBytes += gatherOf(b);
        call.rowsDown += 1; // the partial sum
        partQ += 1;
        if (b === i) {
          call.overlap = share(edge, b, 'edge'); // opens the call: computed concurrently
        } else {
          resQ += 1; // the edge adds its share to the residual the cloud returned
          addLin(e, share(edge, b, 'edge'));
        }
        addLin(e, comb(edge));
        b += 1;
      } else if (b % 2 === 0 && b + 1 <= to && own(b + 1) === 'cloud') {
        addLin(call.cloud, cloud.of('layer', n));
        b += 2;
      } else {
        addLin(call.cloud, share(cloud, b, 'cloud'));
        addLin(call.cloud, comb(cloud));
        b += 1;
      }
    }
    if (own(to) !== 'mixed') resQ += 1; // the residual comes back and is used
    calls.push(call);
    i = to + 1;
  }
  addLin(e, edge.of('lmHead', 1));
  return { n, edge: e, calls, residualCrossings: resQ, partialCrossings: partQ };
}

/**
 * A forward pass of n token ids under API cloud-only: one call carrying the ids up (4 bytes each)
 * and `logitsBytes` down, in which the cloud runs every layer and the LM head (the embedding is a
 * gather, as the other plans leave it unpriced on the edge). The edge computes nothing; nothing is
 * quantised.
 */
export function apiPassModel(cloud: KernelCosts, n: number, logitsBytes: number): PassModel {
  const c = lin();
  for (let l = 0; l < cloud.graph.config.nLayer; l++) addLin(c, cloud.of('layer', n));
  addLin(c, cloud.of('lmHead', 1));
  const call: CallModel = { rowsUp: 0, rowsDown: 0, cloud: c, gatherBytes: 0, bytesUp: TOKEN_ID_BYTES * n, bytesDown: logitsBytes };
  return { n, edge: lin(), calls: [call], residualCrossings: 0, partialCrossings: 0 };
}

/** Bytes of logits an API cloud-only pass brings back (see LinkCostOptions.apiLogits). */
export function apiLogitsBytes(graph: ModelGraph, apiLogits = 1): number {
  return apiLogits > 0 ? Math.min(apiLogits, graph.config.vocabSize) * (F32 + TOKEN_ID_BYTES) : graph.config.vocabSize * F32;
}

export interface CompiledPlan {
  counts: PlanCounts;
  precision: WirePrecision;
  /** Wire bytes of one row at this precision. */
  rowBytes: number;
  decode: PassModel;
  /** Prefill passes by prompt length (built on demand). */
  prefill(n: number): PassModel;
  /** Sync points (cloud calls) per forward pass. */
  syncsPerPass: number;
  usesCloud: boolean;
}

export class CostModel {
  readonly edgeK: KernelCosts;
  readonly cloudK: KernelCosts;
  private siblings = new Map<string, CostModel>();
  constructor(
    readonly graph: ModelGraph,
    readonly edge: DeviceProfile,
    readonly cloud: DeviceProfile,
    readonly accuracy: AccuracyTable = NO_ACCURACY_LOSS,
    /** Per-call overhead and shared cores (off unless given): requestCost prices every pass with them. */
    readonly link: LinkCostOptions = {},
    /** The precision each side holds its weights at (a deployment choice, weights.ts). */
    readonly weights: SideWeights = FP32_WEIGHTS,
  ) {
    this.edgeK = new KernelCosts(graph, edge, weights.edge);
    this.cloudK = new KernelCosts(graph, cloud, weights.cloud);
  }

  /** The same model with the sides' weights at `w` (one instance per precision pair, so kernel caches are kept). */
  withWeights(w: SideWeights): CostModel {
    if (w.edge === this.weights.edge && w.cloud === this.weights.cloud) return this;
    const key = `${w.edge}/${w.cloud}`;
    let m = this.siblings.get(key);
    if (!m) this.siblings.set(key, (m = new CostModel(this.graph, this.edge, this.cloud, this.accuracy, this.link, w)));
    return m;
  }

  compile(plan: PartitionPlan | PlanCounts, precision: WirePrecision): CompiledPlan {
    const counts = 'layers' in plan ? planCounts(this.graph, plan) : plan;
    const logitsBytes = apiLogitsBytes(this.graph, this.link.apiLogits);
    const pass = (n: number): PassModel => (counts.apiCloudOnly ? apiPassModel(this.cloudK, n, logitsBytes) : passModel(counts, this.edgeK, this.cloudK, n));
    const decode = pass(1);
    const prefills = new Map<number, PassModel>();
    return {
      counts,
      precision,
      rowBytes: this.graph.wireBytesPerToken[precision],
      decode,
      prefill: (n) => {
        let p = prefills.get(n);
        if (!p) prefills.set(n, (p = pass(n)));
        return p;
      },
      syncsPerPass: decode.calls.length,
      usesCloud: decode.calls.length > 0,
    };
  }

  /** Bytes the edge holds for this plan at a context of `ctx` tokens (weights once at the edge's precision, KV of edge heads, checkpoint, LM head). */
  edgeMemoryBytes(counts: PlanCounts, ctx: number): number {
    return edgeMemoryBytes(this.graph, counts, ctx, this.weights.edge);
  }
}

/**
 * Bytes the edge must hold that no plan changes: embeddings (fp32: a lookup), the LM head graph's
 * copy at the edge's weight precision, the partition checkpoint.
 */
export function edgeFixedBytes(graph: ModelGraph, ctx: number, p: WeightPrecision = 'fp32'): number {
  const c = graph.config;
  return graph.edgeFixed.weightBytes + atPrecision(c.vocabSize * c.nEmbd * F32, p) + c.nLayer * ctx * c.nEmbd * F32;
}

/** Bytes of one attention unit on the edge: its weights at `p` and its KV cache (fp32) for `ctx` tokens. */
export const headBytes = (graph: ModelGraph, ctx: number, p: WeightPrecision = 'fp32'): number => {
  const h = graph.layers[0]!.heads[0]!.cost;
  return atPrecision(h.weightBytes, p) + h.kvBytesPerToken * ctx;
};
/** Bytes of `width` hidden units of one layer's FFN (weights and their biases) at `p`, from the family. */
export const ffnBytes = (graph: ModelGraph, width: number, p: WeightPrecision = 'fp32'): number =>
  atPrecision(familyOf(graph.config).ffnChunkCost(graph.config, width).weightBytes, p);
/** Per-layer bytes every side running a whole layer or a bias needs (norms, biases): charged to the edge. */
export const layerFixedBytes = (graph: ModelGraph): number => familyOf(graph.config).layerSharedBytes(graph.config);

export function edgeMemoryBytes(graph: ModelGraph, counts: PlanCounts, ctx: number, p: WeightPrecision = 'fp32'): number {
  if (counts.apiCloudOnly) return ctx * TOKEN_ID_BYTES; // the token ids it keeps, nothing of the model
  let m = edgeFixedBytes(graph, ctx, p) + counts.nLayer * layerFixedBytes(graph);
  const hb = headBytes(graph, ctx, p);
  for (let l = 0; l < counts.nLayer; l++) {
    m += (counts.nHead - counts.cloudHeads[l]!) * hb + ffnBytes(graph, counts.nInner - counts.cloudWidth[l]!, p);
  }
  return m;
}

/**
 * fp32 bytes of the weights a precision applies to, and how they split: one attention unit, the
 * whole FFN of a layer, the LM head. KL of quantized weights is charged per byte of these.
 */
export function quantizableBytes(graph: ModelGraph): { unit: number; total: number; lmHead: number } {
  const c = graph.config, unit = graph.layers[0]!.heads[0]!.cost.weightBytes, lmHead = c.vocabSize * c.nEmbd * F32;
  return { unit, lmHead, total: c.nLayer * (graph.attnUnits * unit + ffnBytes(graph, c.nInner)) + lmHead };
}

/**
 * Mean KL per token that the sides' quantized weights cost under a plan: each side's whole-model
 * KL at its precision (AccuracyTable.klPerWeights) times the share of the quantizable weights it
 * runs (the LM head on the edge, or on the cloud under API cloud-only). Additive over sub-blocks,
 * which is how small perturbations combine to first order; at fp32 on both sides it is 0.
 */
export function weightsKl(model: CostModel, counts: PlanCounts): number {
  const kl = model.accuracy.klPerWeights;
  if (!kl) return 0;
  const kE = kl[model.weights.edge], kC = kl[model.weights.cloud];
  if (kE === 0 && kC === 0) return 0;
  if (counts.apiCloudOnly) return kC;
  const q = quantizableBytes(model.graph);
  let cloud = 0;
  for (let l = 0; l < counts.nLayer; l++) cloud += counts.cloudHeads[l]! * q.unit + ffnBytes(model.graph, counts.cloudWidth[l]!);
  return (kE * (q.total - cloud) + kC * cloud) / q.total;
}

export interface EnergyModel {
  activeW: number;
  idleW: number;
  radio: RadioModel;
}

export interface RequestCost {
  latencyMs: number;
  prefillMs: number;
  /** Mean per decoded token (NaN when gen = 1). */
  decodeMsPerToken: number;
  edgeComputeMs: number;
  edgeWaitMs: number;
  bytesUp: number;
  bytesDown: number;
  syncs: number;
  /** Edge energy in joules: compute + idle + radio (without any LTE tail after the request). */
  energyJ: number;
  radioJ: number;
  /** Mean KL per generated token, nats. */
  accuracyLoss: number;
}

/**
 * ms and edge-compute ms of one pass at past context P over a network. Each sync point costs
 * RTT + bytes / bandwidth + the cloud's compute, plus, with `o.overhead`, its software overhead
 * (msPerCall + msPerByte * bytes, and at a sequence start the cloud's weight gather). Without
 * options this is the model as it always was (the overhead terms are not even added as zeros).
 * The overhead is not counted as edge compute (edgeMs): it is part of the wait.
 */
export function passTime(p: PassModel, rowBytes: number, P: number, net: NetworkState, o: PassOptions = {}): { ms: number; edgeMs: number; up: number; down: number } {
  let ms = at(p.edge, P), edgeMs = ms, up = 0, down = 0;
  const upMsPerByte = 8e-3 / net.upMbps, downMsPerByte = 8e-3 / net.downMbps;
  const oh = o.overhead;
  for (const c of p.calls) {
    const u = c.rowsUp * p.n * rowBytes + (c.bytesUp ?? 0), d = c.rowsDown * p.n * rowBytes + (c.bytesDown ?? 0);
    let cloudMs = at(c.cloud, P);
    if (o.cloudFactor !== undefined) cloudMs *= o.cloudFactor;
    if (oh) {
      if (o.sequenceStart) cloudMs += oh.gatherMsPerByte * c.gatherBytes;
      cloudMs += oh.msPerCall + oh.msPerByte * (u + d); // on the critical path like the cloud's compute
    }
    const remote = net.rttMs + u * upMsPerByte + d * downMsPerByte + cloudMs;
    up += u;
    down += d;
    if (c.overlap) {
      const mine = at(c.overlap, P);
      edgeMs += mine;
      // on shared cores the edge's share and the cloud's work take turns; only the network hides it
      ms += Math.max(o.sharedCores ? mine + cloudMs : mine, remote);
    } else ms += remote;
  }
  return { ms, edgeMs, up, down };
}

/** Software overhead (ms) one pass is charged: calls x msPerCall + bytes x msPerByte (+ the gather at a sequence start). */
export function passOverheadMs(p: PassModel, rowBytes: number, o: LinkOverhead, sequenceStart = false): number {
  let ms = 0;
  for (const c of p.calls) {
    ms += o.msPerCall + o.msPerByte * (c.rowsUp + c.rowsDown) * p.n * rowBytes;
    if (c.bytesUp || c.bytesDown) ms += o.msPerByte * ((c.bytesUp ?? 0) + (c.bytesDown ?? 0));
    if (sequenceStart) ms += o.gatherMsPerByte * c.gatherBytes;
  }
  return ms;
}

/**
 * What serving one request costs: the prefill pass and gen - 1 decode passes. `net` may change
 * during the request: it is asked for the network at the start of every pass (ms since the start).
 * The prefill starts a sequence (the engine resets per request), so it carries the cloud's weight
 * gather when the model has a LinkOverhead.
 */
export function requestCost(
  model: CostModel,
  plan: CompiledPlan,
  req: RequestShape,
  net: NetworkState | ((tMs: number) => NetworkState),
  energy?: EnergyModel,
  /** Opt-in (cloud contention): the cloud's slowdown at ms since the start, asked at every pass. */
  cloudFactorAt?: (tMs: number) => number,
): RequestCost {
  const netAt = typeof net === 'function' ? net : () => net;
  let t = 0, edgeMs = 0, up = 0, down = 0;
  const opts = (tMs: number, o: PassOptions): PassOptions => (cloudFactorAt ? { ...o, cloudFactor: cloudFactorAt(tMs) } : o);
  const pre = passTime(plan.prefill(req.prompt), plan.rowBytes, 0, netAt(0), opts(0, { ...model.link, sequenceStart: true }));
  t += pre.ms;
  edgeMs += pre.edgeMs;
  up += pre.up;
  down += pre.down;
  const prefillMs = pre.ms;
  for (let k = 1; k < req.gen; k++) {
    const r = passTime(plan.decode, plan.rowBytes, req.prompt + k - 1, netAt(t), cloudFactorAt ? opts(t, model.link) : model.link);
    t += r.ms;
    edgeMs += r.edgeMs;
    up += r.up;
    down += r.down;
  }
  const passes = req.gen;
  let energyJ = NaN, radioJ = 0;
  if (energy) {
    radioJ = plan.usesCloud ? radioEnergyJ(energy.radio, up, down, t) : 0;
    energyJ = (energy.activeW * edgeMs + energy.idleW * (t - edgeMs)) / 1000 + radioJ;
  }
  return {
    latencyMs: t,
    prefillMs,
    decodeMsPerToken: req.gen > 1 ? (t - prefillMs) / (req.gen - 1) : NaN,
    edgeComputeMs: edgeMs,
    edgeWaitMs: t - edgeMs,
    bytesUp: up,
    bytesDown: down,
    syncs: plan.syncsPerPass * passes,
    energyJ,
    radioJ,
    accuracyLoss: accuracyLoss(model.accuracy, plan.decode, plan.precision) + weightsKl(model, plan.counts),
  };
}

/** Mean KL per token of a pass structure at a precision. */
export const accuracyLoss = (a: AccuracyTable, p: PassModel, precision: WirePrecision): number =>
  p.residualCrossings * a.klPerResidual[precision] + p.partialCrossings * a.klPerPartial[precision];

/** Radio energy of a request that talks to the cloud for `ms`: per-bit costs plus the high-power floor. */
export function radioEnergyJ(r: RadioModel, bytesUp: number, bytesDown: number, ms: number): number {
  const mbUp = (bytesUp * 8) / 1e6, mbDown = (bytesDown * 8) / 1e6;
  // au [mW/Mbps] x Mbit = mJ
  return (r.alphaUpMwPerMbps * mbUp + r.alphaDownMwPerMbps * mbDown) / 1000 + (r.betaMw / 1000) * (ms / 1000);
}

/** Expected LTE tail energy after a request when the next one arrives at rate lambda (/s); 0 when one is queued. */
export function expectedTailJ(r: RadioModel, queued: boolean, lambdaPerS: number): number {
  if (queued || r.tailS === 0) return 0;
  const expMin = lambdaPerS > 0 ? (1 - Math.exp(-lambdaPerS * r.tailS)) / lambdaPerS : r.tailS;
  return (r.tailMw / 1000) * expMin;
}

export const hd = (graph: ModelGraph): number => headDim(graph.config);
