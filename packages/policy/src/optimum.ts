// The exact per-decision optimum of the drift-plus-penalty objective J (objective.ts) over the full
// head/chunk space, by dynamic programming over the 2L blocks of a forward pass.
//
// Why a DP is exact here: with the network held at its measured value, J is a sum of what each
// step of the schedule costs (edge blocks and layers, cloud calls with their RTT, rows and compute,
// the overlapped share of a mixed block that opens a call), over every pass of the request. What a
// block costs depends only on how many of its heads (or which width of its FFN) run on the cloud,
// and on where the residual is when it starts: the DP state. Four states suffice:
//   S0 free        no cloud call open, residual on the edge
//   S1 edgeAttn    this layer's attention is all on the edge and not yet charged (an edge FFN next
//                  makes the layer one constant-graph call)
//   S2 open        a cloud call is open (it ran at least one cloud-only block)
//   S3 cloudAttn   a call is open and this layer's attention ran there whole, not yet charged (a
//                  cloud FFN next makes it one cloud layer call)
// When the memory-free optimum does not fit the edge's free memory, the DP also carries the edge
// memory used so far (weights and KV of the sub-blocks the edge keeps), exactly, in bytes: each DP
// state holds the Pareto frontier of (memory, J) over the partial plans that reach it, pruned by
// dominance, by the budget, and by a bound (J so far + memory-free cost-to-go > a fitting layer
// split's J). Nothing is rounded, so no plan that fits is lost (an earlier version rounded memory
// into at most 1500 units and could miss fitting plans). The radio's high-power floor (beta x latency) and the LTE tail apply only
// when the cloud is used, so the all-edge plan is evaluated on its own and compared.
// Quantized weights (CostModel.weights) add a KL price per byte each side runs; it is additive, so
// every option carries its own and the DP stays exact. Its cost: when the cloud's weights cost more
// per byte than the edge's (a cloud more quantized than the edge), J falls with nearly every byte
// the edge holds, nearly every distinct memory sum is on the frontier, and a memory-bound decision
// on gpt2-xl took 8-70 s (frontier of 6,000-34,000 entries). A Lagrangian bound (a price per byte
// found by bisection) was tried: it lifted the lower bound from 2 % to 99 % of the optimum and still
// pruned nothing, since the near-ties lie inside the remaining gap.
import type { ModelGraph, PartitionPlan, WirePrecision } from '@splitwise/core';
import { WIRE_PRECISIONS } from '@splitwise/core';
import {
  edgeFixedBytes,
  expectedTailJ,
  ffnBytes,
  headBytes,
  layerFixedBytes,
  quantizableBytes,
  type CostModel,
  type EnergyModel,
  type NetworkState,
  type PlanCounts,
  type RequestShape,
} from './cost-model.ts';
import { evaluateObjective, objectiveCoefficients, type ObjectiveConfig, type QueueState } from './objective.ts';

export interface OptimumOptions {
  precisions?: readonly WirePrecision[];
}

export interface OptimumResult {
  counts: PlanCounts;
  /** Concrete indices: the first c heads, and the chunk subset of each chosen width. */
  plan: PartitionPlan;
  precision: WirePrecision;
  J: number;
  /** Whether the memory-free optimum did not fit and the memory-exact DP ran (for some precision). */
  memoryBound: boolean;
  /** The most Pareto entries the memory-exact DP kept after any block (0 when it did not run). */
  frontierPeak: number;
  feasible: boolean;
}

/** FFN options of a layer: each distinct cloud width with one chunk subset that gives it. */
export function ffnOptions(graph: ModelGraph): Array<{ width: number; chunks: number[] }> {
  const chunks = graph.layers[0]!.ffnChunks;
  const byWidth = new Map<number, number[]>();
  const K = chunks.length;
  if (chunks.every((c) => c.width === chunks[0]!.width)) {
    for (let c = 0; c <= K; c++) byWidth.set(c * chunks[0]!.width, Array.from({ length: c }, (_, i) => i));
  } else {
    if (K > 20) throw new Error(`unequal FFN chunks are only enumerated up to 20 chunks (got ${K})`);
    for (let mask = 0; mask < 1 << K; mask++) {
      const set = chunks.filter((_, i) => mask & (1 << i)).map((c) => c.index);
      const w = set.reduce((a, i) => a + chunks[i]!.width, 0);
      if (!byWidth.has(w)) byWidth.set(w, set);
    }
  }
  return [...byWidth.entries()].sort((a, b) => a[0] - b[0]).map(([width, c]) => ({ width, chunks: c }));
}

export function countsToPlan(graph: ModelGraph, counts: PlanCounts): PartitionPlan {
  const opts = ffnOptions(graph);
  return {
    nHead: graph.attnUnits,
    ffnChunks: graph.ffnChunks,
    ...(counts.apiCloudOnly ? { apiCloudOnly: true as const } : {}),
    layers: Array.from({ length: counts.nLayer }, (_, l) => {
      const w = counts.cloudWidth[l]!;
      const o = opts.find((x) => x.width === w);
      if (!o) throw new Error(`no chunk subset of layer ${l} has cloud width ${w}`);
      return { cloudHeads: Array.from({ length: counts.cloudHeads[l]! }, (_, i) => i), cloudFfnChunks: o.chunks };
    }),
  };
}

export const edgeOnlyCounts = (graph: ModelGraph): PlanCounts => ({
  nLayer: graph.config.nLayer,
  nHead: graph.attnUnits,
  nInner: graph.config.nInner,
  cloudHeads: new Int32Array(graph.config.nLayer),
  cloudWidth: new Int32Array(graph.config.nLayer),
});

export const cloudOnlyCounts = (graph: ModelGraph): PlanCounts => ({
  ...edgeOnlyCounts(graph),
  cloudHeads: new Int32Array(graph.config.nLayer).fill(graph.attnUnits),
  cloudWidth: new Int32Array(graph.config.nLayer).fill(graph.config.nInner),
});

interface Opt {
  /** cloud heads (attn) or cloud width (ffn) */
  cloud: number;
  owner: 'edge' | 'cloud' | 'mixed';
  mem: number; // bytes the edge holds for this option
  /** J of the option in each role (see the transitions below). */
  edgeFull: number; // edge block (attn: not fused) incl. combine
  cloudFull: number; // cloud block (not fused) incl. cloud combine
  alone: number; // mixed block opening its own call (all of the call's cost)
  last: number; // mixed block ending an open call (cloud share, partial row, edge share after, combine, accuracy)
  /** J of the option's quantized weights (where its bytes run), whatever its role; absent: 0. */
  wq?: number;
}

/**
 * The plan (and wire precision) minimising J for this request, network and queue state within
 * `memoryBytes` of edge memory.
 */
export function exactOptimum(
  model: CostModel,
  req: RequestShape,
  net: NetworkState,
  energy: EnergyModel,
  o: ObjectiveConfig,
  s: QueueState,
  memoryBytes: number,
  opts: OptimumOptions = {},
): OptimumResult {
  const graph = model.graph, c = graph.config, L = c.nLayer, H = graph.attnUnits, W = c.nInner;
  const ctx = req.prompt + req.gen;
  const pe = model.weights.edge; // the edge's weight precision: its memory per unit and chunk
  const fixed = edgeFixedBytes(graph, ctx, pe) + L * layerFixedBytes(graph);
  const g = req.gen, n0 = req.prompt;
  const sumP = (g - 1) * n0 + ((g - 1) * (g - 2)) / 2;
  const rowsTot = n0 + (g - 1); // rows per pass summed over passes
  const { cL, cE, cA } = objectiveCoefficients(o, s, req.gen);
  const kEdge = (cE * (energy.activeW - energy.idleW)) / 1000; // per ms of edge compute
  const kLatCloud = (cL + cE * energy.idleW + (cE * energy.radio.betaMw) / 1000) / 1000; // per ms of latency, cloud used
  const kUpByte = (cE * energy.radio.alphaUpMwPerMbps * 8e-6) / 1000;
  const kDownByte = (cE * energy.radio.alphaDownMwPerMbps * 8e-6) / 1000;
  const acc = model.accuracy;

  // total ms over all passes of a kernel on one side
  const tot = (k: 'edge' | 'cloud', kind: 'attn' | 'ffn' | 'layer' | 'combine' | 'lmHead', heads = H, width = W): number => {
    const K = k === 'edge' ? model.edgeK : model.cloudK;
    if (kind === 'lmHead') return g * K.of('lmHead', 1).a;
    const pre = K.of(kind, n0, heads, width), dec = K.of(kind, 1, heads, width);
    return pre.a + (g > 1 ? (g - 1) * dec.a + dec.b * sumP : 0);
  };
  /** ms of one pass: the prefill pass (P = 0) or a decode pass at past context P. */
  const perPass = (k: 'edge' | 'cloud', kind: 'attn' | 'ffn', heads: number, width: number): ((prefill: boolean, P: number) => number) => {
    const K = k === 'edge' ? model.edgeK : model.cloudK;
    const pre = K.of(kind, n0, heads, width), dec = K.of(kind, 1, heads, width);
    return (prefill, P) => (prefill ? pre.a + pre.b * P : dec.a + dec.b * P);
  };

  const edgeOnlyEval = (): { J: number; feasible: boolean } => {
    const counts = edgeOnlyCounts(graph);
    const feasible = model.edgeMemoryBytes(counts, ctx) <= memoryBytes;
    return { J: evaluateObjective(model, model.compile(counts, 'fp32'), req, net, energy, o, s).J, feasible };
  };

  const fOpts = ffnOptions(graph);
  const kLat = kLatCloud;
  const eJ = (ms: number): number => (kLat + kEdge) * ms; // edge compute adds latency and active energy
  const rJ = (ms: number): number => kLat * ms; // remote time adds latency only

  // Quantized weights' accuracy (cost-model weightsKl): J per fp32 byte a side runs, exact per
  // option since it is additive over sub-blocks; 0 at fp32 on both sides.
  const qb = quantizableBytes(graph), klw = acc.klPerWeights;
  const wq = {
    unit: qb.unit,
    lmHead: qb.lmHead,
    edge: klw ? (cA * klw[model.weights.edge]) / qb.total : 0,
    cloud: klw ? (cA * klw[model.weights.cloud]) / qb.total : 0,
  };
  const withWq = (op: Opt, edgeBytes: number, cloudBytes: number): Opt => {
    const add = wq.edge * edgeBytes + wq.cloud * cloudBytes;
    return add === 0 ? op : { ...op, wq: add };
  };

  function optionTables(p: WirePrecision): { attn: Opt[]; ffn: Opt[]; callOpen: number; downRow: number; close: number; edgeLayer: number; cloudLayer: number; edgeAttnFull: number; cloudAttnFull: number; constJ: number } {
    const rowBytes = graph.wireBytesPerToken[p];
    const upRowMs = (rowBytes * 8e-3) / net.upMbps, downRowMs = (rowBytes * 8e-3) / net.downMbps;
    const upRow = rJ(rowsTot * upRowMs) + kUpByte * rowsTot * rowBytes;
    const downRow = rJ(rowsTot * downRowMs) + kDownByte * rowsTot * rowBytes;
    const callOpen = rJ(g * net.rttMs) + upRow + downRow;
    const kr = cA * acc.klPerResidual[p], kp = cA * acc.klPerPartial[p];
    const edgeComb = eJ(tot('edge', 'combine')), cloudComb = rJ(tot('cloud', 'combine'));
    const mk = (kind: 'attn' | 'ffn', cloud: number, total: number, mem: number): Opt => {
      const owner = cloud === 0 ? 'edge' : cloud === total ? 'cloud' : 'mixed';
      const hc = kind === 'attn' ? cloud : H, he = kind === 'attn' ? total - cloud : H;
      const wc = kind === 'attn' ? W : cloud, we = kind === 'attn' ? W : total - cloud;
      const edgeShare = owner === 'cloud' ? 0 : tot('edge', kind, he, we);
      const cloudShare = owner === 'edge' ? 0 : tot('cloud', kind, hc, wc);
      let alone = Infinity, last = Infinity;
      if (owner === 'mixed') {
        // every pass: max(edge share, rtt + x up + x and partial down + cloud share)
        const es = perPass('edge', kind, he, we), cs = perPass('cloud', kind, hc, wc);
        let maxSum = 0;
        const one = (prefill: boolean, n: number, P: number): void => {
          const remote = net.rttMs + n * upRowMs + 2 * n * downRowMs + cs(prefill, P);
          maxSum += Math.max(es(prefill, P), remote);
        };
        one(true, n0, 0);
        for (let k = 1; k < g; k++) one(false, 1, n0 + k - 1);
        alone = kLat * maxSum + kEdge * edgeShare + kUpByte * rowsTot * rowBytes + 2 * kDownByte * rowsTot * rowBytes + kp + edgeComb;
        last = rJ(cloudShare) + downRow + kr + kp + eJ(edgeShare) + edgeComb;
      }
      return { cloud, owner, mem, edgeFull: eJ(edgeShare) + edgeComb, cloudFull: rJ(cloudShare) + cloudComb, alone, last };
    };
    const hb = headBytes(graph, ctx, pe);
    return {
      attn: Array.from({ length: H + 1 }, (_, h) => withWq(mk('attn', h, H, (H - h) * hb), wq.unit * (H - h), wq.unit * h)),
      ffn: fOpts.map((f) => withWq(mk('ffn', f.width, W, ffnBytes(graph, W - f.width, pe)), ffnBytes(graph, W - f.width), ffnBytes(graph, f.width))),
      callOpen,
      downRow,
      close: kr,
      edgeLayer: eJ(tot('edge', 'layer')),
      cloudLayer: rJ(tot('cloud', 'layer')),
      edgeAttnFull: eJ(tot('edge', 'attn')) + edgeComb,
      cloudAttnFull: rJ(tot('cloud', 'attn')) + cloudComb,
      constJ: eJ(tot('edge', 'lmHead')) + wq.edge * wq.lmHead,
    };
  }

  // The DP's step costs: from state `st`, placing option `op` of an attention (or FFN) block, the
  // state after and what the step adds to J. Attention blocks start in S0 or S2 only.
  type Tables = ReturnType<typeof optionTables>;
  const step = (t: Tables, isAttn: boolean, st: number, op: Opt): [number, number] => {
    const r = placement(t, isAttn, st, op);
    if (op.wq) r[1] += op.wq;
    return r;
  };
  const placement = (t: Tables, isAttn: boolean, st: number, op: Opt): [number, number] => {
    if (isAttn) {
      if (st === 0) return op.owner === 'edge' ? [1, 0] : op.owner === 'cloud' ? [3, t.callOpen] : [0, op.alone];
      return op.owner === 'edge' ? [1, t.close] : op.owner === 'cloud' ? [3, t.downRow] : [0, op.last];
    }
    // an FFN block: resolve what is pending, then place it
    let pend = 0, from = st;
    if (st === 1) {
      if (op.owner === 'edge') return [0, t.edgeLayer];
      pend = t.edgeAttnFull;
      from = 0;
    } else if (st === 3) {
      if (op.owner === 'cloud') return [2, t.cloudLayer];
      pend = t.cloudAttnFull;
      from = 2;
    }
    if (from === 0) return op.owner === 'edge' ? [0, pend + op.edgeFull] : op.owner === 'cloud' ? [2, pend + t.callOpen + op.cloudFull] : [0, pend + op.alone];
    return op.owner === 'edge' ? [0, pend + t.close + op.edgeFull] : op.owner === 'cloud' ? [2, pend + op.cloudFull] : [0, pend + op.last];
  };
  const S = 4;
  const endCost = (t: Tables, st: number): number => (st === 0 ? 0 : st === 2 ? t.close : Infinity);

  /** Least J from each state before block b to the end, memory ignored (a lower bound for pruning). */
  function costToGo(t: Tables): Float64Array[] {
    const h = Array.from({ length: 2 * L + 1 }, () => new Float64Array(S).fill(Infinity));
    for (let st = 0; st < S; st++) h[2 * L]![st] = endCost(t, st);
    for (let b = 2 * L - 1; b >= 0; b--) {
      const isAttn = b % 2 === 0, options = isAttn ? t.attn : t.ffn;
      for (let st = 0; st < S; st++) {
        if (isAttn && (st === 1 || st === 3)) continue;
        let best = Infinity;
        for (const op of options) {
          const [to, c] = step(t, isAttn, st, op);
          best = Math.min(best, c + h[b + 1]![to]!);
        }
        h[b]![st] = best;
      }
    }
    return h;
  }

  const budget = memoryBytes - fixed;
  const hb = headBytes(graph, ctx, pe), layerBytes = H * hb + ffnBytes(graph, W, pe);
  let frontierPeak = 0;

  /**
   * Exact DP with memory: per block and state, the Pareto frontier of (edge bytes so far, J so far)
   * over partial plans; an entry is dropped only when another in the same state holds no more
   * memory for no more J (it can then finish every way the dropped one can, as cheaply), when it
   * exceeds the budget, or when its J plus the memory-free cost-to-go exceeds a plan already known
   * to fit (the best fitting layer split). None of the three can drop the optimum, so the result
   * is exact; memory is summed in bytes, never rounded.
   */
  function solve(p: WirePrecision, useMemory: boolean): { J: number; counts: PlanCounts } | undefined {
    const t = optionTables(p);
    if (useMemory && budget < 0) return undefined;
    const h = costToGo(t);
    // an upper bound: the best layer split (k edge layers, the rest on the cloud) that fits
    let ub = Infinity;
    if (useMemory) {
      const edgeA = t.attn[0]!, cloudA = t.attn[H]!, edgeF = t.ffn[0]!, cloudF = t.ffn[t.ffn.length - 1]!;
      for (let k = 0; k < L; k++) {
        if (k * layerBytes > budget) break;
        // walk the layer split's path through the DP's own steps
        let st = 0, J = 0;
        for (let l = 0; l < L; l++) {
          for (const [isAttn, op] of [
            [true, l < k ? edgeA : cloudA],
            [false, l < k ? edgeF : cloudF],
          ] as const) {
            const [to, c] = step(t, isAttn, st, op);
            st = to;
            J += c;
          }
        }
        ub = Math.min(ub, J + endCost(t, st));
      }
    } else ub = Math.min(h[0]![0]!, Infinity);
    const slack = (x: number): number => x + 1e-9 * Math.abs(x) + 1e-12;
    // flat entries per block: state, memory, J, parent entry, option index
    interface Layer {
      st: Int8Array;
      mem: Float64Array;
      cost: Float64Array;
      parent: Int32Array;
      opt: Int16Array;
    }
    let prev: Layer = { st: Int8Array.of(0), mem: Float64Array.of(0), cost: Float64Array.of(0), parent: Int32Array.of(-1), opt: Int16Array.of(-1) };
    const layers: Layer[] = [];
    for (let b = 0; b < 2 * L; b++) {
      const isAttn = b % 2 === 0, options = isAttn ? t.attn : t.ffn, hn = h[b + 1]!;
      const cand: Array<{ mem: number[]; cost: number[]; parent: number[]; opt: number[] }> = Array.from({ length: S }, () => ({ mem: [], cost: [], parent: [], opt: [] }));
      for (let e = 0; e < prev.st.length; e++) {
        const st = prev.st[e]!, m = prev.mem[e]!, base = prev.cost[e]!;
        for (let oi = 0; oi < options.length; oi++) {
          const op = options[oi]!;
          const m2 = useMemory ? m + op.mem : 0;
          if (m2 > budget) continue;
          const [to, c] = step(t, isAttn, st, op);
          const v = base + c;
          if (v + hn[to]! > slack(ub)) continue;
          const cs = cand[to]!;
          cs.mem.push(m2);
          cs.cost.push(v);
          cs.parent.push(e);
          cs.opt.push(oi);
        }
      }
      // keep each state's Pareto frontier: by memory ascending, J strictly decreasing
      const keep: Array<[number, number]> = [];
      for (let to = 0; to < S; to++) {
        const cs = cand[to]!, n = cs.mem.length;
        if (n === 0) continue;
        const idx = Array.from({ length: n }, (_, i) => i).sort((a, x) => cs.mem[a]! - cs.mem[x]! || cs.cost[a]! - cs.cost[x]!);
        let bestCost = Infinity;
        for (const i of idx) {
          if (cs.cost[i]! < bestCost) {
            bestCost = cs.cost[i]!;
            keep.push([to, i]);
          }
        }
      }
      const n = keep.length;
      const next: Layer = { st: new Int8Array(n), mem: new Float64Array(n), cost: new Float64Array(n), parent: new Int32Array(n), opt: new Int16Array(n) };
      keep.forEach(([to, i], k) => {
        const cs = cand[to]!;
        next.st[k] = to;
        next.mem[k] = cs.mem[i]!;
        next.cost[k] = cs.cost[i]!;
        next.parent[k] = cs.parent[i]!;
        next.opt[k] = cs.opt[i]!;
      });
      frontierPeak = Math.max(frontierPeak, n);
      layers.push(next);
      prev = next;
      if (n === 0) return undefined;
    }
    // end: S0 as is, S2 closes its call
    let best = Infinity, be = -1;
    for (let e = 0; e < prev.st.length; e++) {
      const v = prev.cost[e]! + endCost(t, prev.st[e]!);
      if (v < best) [best, be] = [v, e];
    }
    if (be < 0) return undefined;
    const counts = edgeOnlyCounts(graph);
    for (let b = 2 * L - 1, e = be; b >= 0; b--) {
      const ly = layers[b]!, op = (b % 2 === 0 ? t.attn : t.ffn)[ly.opt[e]!]!;
      if (b % 2 === 0) counts.cloudHeads[b >> 1] = op.cloud;
      else counts.cloudWidth[b >> 1] = op.cloud;
      e = ly.parent[e]!;
    }
    return { J: best + t.constJ, counts };
  }

  const precisions = opts.precisions ?? WIRE_PRECISIONS;
  let best: { J: number; counts: PlanCounts; precision: WirePrecision } | undefined;
  let memoryBound = false;
  const tail = expectedTailJ(energy.radio, s.Q > 1, s.lambdaPerS) * cE;
  for (const p of precisions) {
    // unconstrained first: if it fits, it is the optimum
    let r = solve(p, false);
    if (r && model.edgeMemoryBytes(r.counts, ctx) > memoryBytes) {
      r = solve(p, true);
      memoryBound = true;
    }
    if (!r) continue;
    const usesCloud = r.counts.cloudHeads.some((x) => x > 0) || r.counts.cloudWidth.some((x) => x > 0);
    const J = r.J + (usesCloud ? tail : 0);
    if (usesCloud && (!best || J < best.J)) best = { J, counts: r.counts, precision: p };
  }
  const eo = edgeOnlyEval();
  if (eo.feasible && (!best || eo.J <= best.J)) best = { J: eo.J, counts: edgeOnlyCounts(graph), precision: 'fp32' };
  let feasible = true;
  if (!best) {
    // nothing fits, not even the embeddings and LM head: cloud-only is the least edge memory there
    // is, and always allowed (as for every other planner); its best precision is still a choice
    feasible = false;
    const cloud = cloudOnlyCounts(graph);
    for (const p of precisions) {
      const J = evaluateObjective(model, model.compile(cloud, p), req, net, energy, o, s).J;
      if (!best || J < best.J) best = { J, counts: cloud, precision: p };
    }
  }
  if (!best) throw new Error('no wire precision to choose from');
  return { counts: best.counts, plan: countsToPlan(graph, best.counts), precision: best.precision, J: best.J, memoryBound, frontierPeak, feasible };
}
