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
// plus the edge memory used so far (weights and KV of the sub-blocks the edge keeps), in units
// that divide every sub-block's bytes when the budget allows (exact), otherwise rounded up (every
// plan found still fits). The radio's high-power floor (beta x latency) and the LTE tail apply only
// when the cloud is used, so the all-edge plan is evaluated on its own and compared.
import type { ModelGraph, PartitionPlan, WirePrecision } from '@splitwise/core';
import { WIRE_PRECISIONS } from '@splitwise/core';
import {
  edgeFixedBytes,
  edgeMemoryBytes,
  expectedTailJ,
  ffnBytes,
  headBytes,
  layerFixedBytes,
  type CostModel,
  type EnergyModel,
  type NetworkState,
  type PlanCounts,
  type RequestShape,
} from './cost-model.ts';
import { evaluateObjective, objectiveCoefficients, type ObjectiveConfig, type QueueState } from './objective.ts';

export interface OptimumOptions {
  precisions?: readonly WirePrecision[];
  /** Most memory units the DP tracks (above this the unit grows and sizes are rounded up). @defaultValue 1500 */
  maxUnits?: number;
}

export interface OptimumResult {
  counts: PlanCounts;
  /** Concrete indices: the first c heads, and the chunk subset of each chosen width. */
  plan: PartitionPlan;
  precision: WirePrecision;
  J: number;
  /** Bytes per memory unit used, and whether the memory accounting was exact. */
  unitBytes: number;
  exactMemory: boolean;
  feasible: boolean;
}

const gcd = (a: number, b: number): number => {
  a = Math.abs(Math.round(a));
  b = Math.abs(Math.round(b));
  while (b) [a, b] = [b, a % b];
  return a;
};

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
    nHead: graph.config.nHead,
    ffnChunks: graph.ffnChunks,
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
  nHead: graph.config.nHead,
  nInner: graph.config.nInner,
  cloudHeads: new Int32Array(graph.config.nLayer),
  cloudWidth: new Int32Array(graph.config.nLayer),
});

export const cloudOnlyCounts = (graph: ModelGraph): PlanCounts => ({
  ...edgeOnlyCounts(graph),
  cloudHeads: new Int32Array(graph.config.nLayer).fill(graph.config.nHead),
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
  const graph = model.graph, c = graph.config, L = c.nLayer, H = c.nHead, W = c.nInner;
  const ctx = req.prompt + req.gen;
  const fixed = edgeFixedBytes(graph, ctx) + L * layerFixedBytes(graph);
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
    const feasible = edgeMemoryBytes(graph, counts, ctx) <= memoryBytes;
    return { J: evaluateObjective(model, model.compile(counts, 'fp32'), req, net, energy, o, s).J, feasible };
  };

  const fOpts = ffnOptions(graph);
  const kLat = kLatCloud;
  const eJ = (ms: number): number => (kLat + kEdge) * ms; // edge compute adds latency and active energy
  const rJ = (ms: number): number => kLat * ms; // remote time adds latency only

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
    const hb = headBytes(graph, ctx);
    return {
      attn: Array.from({ length: H + 1 }, (_, h) => mk('attn', h, H, (H - h) * hb)),
      ffn: fOpts.map((f) => mk('ffn', f.width, W, ffnBytes(graph, W - f.width))),
      callOpen,
      downRow,
      close: kr,
      edgeLayer: eJ(tot('edge', 'layer')),
      cloudLayer: rJ(tot('cloud', 'layer')),
      edgeAttnFull: eJ(tot('edge', 'attn')) + edgeComb,
      cloudAttnFull: rJ(tot('cloud', 'attn')) + cloudComb,
      constJ: eJ(tot('edge', 'lmHead')),
    };
  }

  // memory units
  const budget = memoryBytes - fixed;
  const allMem = [headBytes(graph, ctx), ...fOpts.map((f) => ffnBytes(graph, W - f.width)).filter((m) => m > 0)];
  const unitExact = allMem.reduce((a, m) => gcd(a, m), 0) || 1;
  const maxUnits = opts.maxUnits ?? 1500;

  function solve(p: WirePrecision, useMemory: boolean): { J: number; counts: PlanCounts } | undefined {
    const t = optionTables(p);
    let unit = 1, U = 0;
    if (useMemory) {
      if (budget < 0) return undefined;
      unit = Math.max(unitExact, Math.ceil(budget / maxUnits));
      U = Math.floor(budget / unit);
    }
    const du = (mem: number): number => (useMemory ? Math.ceil(mem / unit - 1e-9) : 0);
    const S = 4, size = U + 1;
    let cur = new Float64Array(S * size).fill(Infinity);
    cur[0] = 0; // S0, memory 0
    const back: Int32Array[] = [];
    for (let b = 0; b < 2 * L; b++) {
      const isAttn = b % 2 === 0;
      const next = new Float64Array(S * size).fill(Infinity);
      const bp = new Int32Array(S * size).fill(-1);
      const options = isAttn ? t.attn : t.ffn;
      const relax = (from: number, m: number, base: number, oi: number, to: number, cost: number, dm: number): void => {
        const m2 = m + dm;
        if (m2 > U) return;
        const v = base + cost, idx = to * size + m2;
        if (v < next[idx]!) {
          next[idx] = v;
          bp[idx] = (from << 16) | oi;
        }
      };
      for (let st = 0; st < S; st++) {
        for (let m = 0; m <= U; m++) {
          const base = cur[st * size + m]!;
          if (base === Infinity) continue;
          for (let oi = 0; oi < options.length; oi++) {
            const op = options[oi]!, dm = du(op.mem);
            if (isAttn) {
              // st is S0 or S2 at an attention block
              if (st === 0) {
                if (op.owner === 'edge') relax(st, m, base, oi, 1, 0, dm);
                else if (op.owner === 'cloud') relax(st, m, base, oi, 3, t.callOpen, dm);
                else relax(st, m, base, oi, 0, op.alone, dm);
              } else if (st === 2) {
                if (op.owner === 'edge') relax(st, m, base, oi, 1, t.close, dm);
                else if (op.owner === 'cloud') relax(st, m, base, oi, 3, t.downRow, dm);
                else relax(st, m, base, oi, 0, op.last, dm);
              }
            } else {
              // an FFN block: resolve what is pending, then place it
              let pend = 0, from: 0 | 2 = 0;
              if (st === 1) {
                if (op.owner === 'edge') {
                  relax(st, m, base, oi, 0, t.edgeLayer, dm);
                  continue;
                }
                pend = t.edgeAttnFull;
                from = 0;
              } else if (st === 3) {
                if (op.owner === 'cloud') {
                  relax(st, m, base, oi, 2, t.cloudLayer, dm);
                  continue;
                }
                pend = t.cloudAttnFull;
                from = 2;
              } else from = st as 0 | 2;
              if (from === 0) {
                if (op.owner === 'edge') relax(st, m, base, oi, 0, pend + op.edgeFull, dm);
                else if (op.owner === 'cloud') relax(st, m, base, oi, 2, pend + t.callOpen + op.cloudFull, dm);
                else relax(st, m, base, oi, 0, pend + op.alone, dm);
              } else {
                if (op.owner === 'edge') relax(st, m, base, oi, 0, pend + t.close + op.edgeFull, dm);
                else if (op.owner === 'cloud') relax(st, m, base, oi, 2, pend + op.cloudFull, dm);
                else relax(st, m, base, oi, 0, pend + op.last, dm);
              }
            }
          }
        }
      }
      back.push(bp);
      cur = next;
    }
    // end: S0 as is, S2 closes its call
    let best = Infinity, bs = -1, bm = -1;
    for (const st of [0, 2]) {
      for (let m = 0; m <= U; m++) {
        const v = cur[st * size + m]! + (st === 2 ? t.close : 0);
        if (v < best) [best, bs, bm] = [v, st, m];
      }
    }
    if (bs < 0) return undefined;
    const counts = edgeOnlyCounts(graph);
    let st = bs, m = bm;
    for (let b = 2 * L - 1; b >= 0; b--) {
      const v = back[b]![st * size + m]!;
      const from = v >> 16, oi = v & 0xffff;
      const op = (b % 2 === 0 ? t.attn : t.ffn)[oi]!;
      if (b % 2 === 0) counts.cloudHeads[b >> 1] = op.cloud;
      else counts.cloudWidth[b >> 1] = op.cloud;
      m -= du(op.mem);
      st = from;
    }
    return { J: best + t.constJ, counts };
  }

  const precisions = opts.precisions ?? WIRE_PRECISIONS;
  let best: { J: number; counts: PlanCounts; precision: WirePrecision } | undefined;
  let exactMemory = true, unitBytes = 1;
  const tail = expectedTailJ(energy.radio, s.Q > 1, s.lambdaPerS) * cE;
  for (const p of precisions) {
    // unconstrained first: if it fits, it is the optimum
    let r = solve(p, false);
    if (r && edgeMemoryBytes(graph, r.counts, ctx) > memoryBytes) {
      r = solve(p, true);
      unitBytes = Math.max(unitExact, Math.ceil(Math.max(0, budget) / maxUnits));
      exactMemory = unitBytes === unitExact;
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
  return { counts: best.counts, plan: countsToPlan(graph, best.counts), precision: best.precision, J: best.J, unitBytes, exactMemory, feasible };
}
