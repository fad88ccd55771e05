// The hierarchical action and how it becomes a plan. Platform-neutral: the trainer, the Node
// evaluation and the browser's PolicyRunner all decode the network's outputs with this code.
//
//   high level: a cloud fraction f (of the layers' weight bytes) from FRACTIONS, and a wire precision;
//   low level:  a score per block (2L: attention and FFN of each layer), given f. The blocks go to
//               the cloud in decreasing score order until f of the bytes is there; the block where
//               the budget runs out gets as many heads (or FFN chunks) as fit, so at most one block
//               is mixed. Heads of a layer cost the same, so only counts matter; the concrete
//               indices are the first c heads / chunks (countsToPlan).
// Fractions that would not fit the edge's free memory are masked out before the high level picks.
import type { ModelGraph, WirePrecision } from '@splitwise/core';
import { edgeMemoryBytes, type PlanCounts, type RequestShape } from './cost-model.ts';
import type { Rng } from './rng.ts';

/** Cloud shares of the layers' weight bytes, in sixteenths (3 of gpt2-xl's 48 layers per step). */
export const FRACTIONS: readonly number[] = Array.from({ length: 17 }, (_, i) => i / 16);
export const PRECISIONS: readonly WirePrecision[] = ['fp32', 'fp16', 'int8'];
export const NF = FRACTIONS.length;
export const NP = PRECISIONS.length;

/** What the policy network computes for one state. */
export interface PolicyOutputs {
  fracLogits: Float32Array; // [NF]
  precLogits: Float32Array; // [NP]
  /** Block scores for every fraction bucket, [NF, 2L] row-major. */
  scores: Float32Array;
}

export interface PolicyAction {
  fracIndex: number;
  precIndex: number;
  /** The scores the plan was built from (the sampled ones while training). */
  scores: Float32Array;
  counts: PlanCounts;
  precision: WirePrecision;
  /** Which fraction buckets fit the edge's memory. */
  mask: boolean[];
}

/** Weight bytes of every head and every FFN chunk are what the fraction counts. */
interface BlockBytes {
  head: number;
  chunk: number[];
  attn: number;
  ffn: number;
}
function blockBytes(graph: ModelGraph): BlockBytes {
  const head = graph.layers[0]!.heads[0]!.cost.weightBytes;
  const chunk = graph.layers[0]!.ffnChunks.map((c) => c.cost.weightBytes);
  return { head, chunk, attn: head * graph.attnUnits, ffn: chunk.reduce((a, b) => a + b, 0) };
}

/**
 * What building a plan needs per graph, made once: the block bytes, and scratch for the order and
 * for the counts of the memory mask. Decoding a decision then allocates only what it returns (the
 * mask builds 17 plans of 2L blocks per decision; allocating them made the browser's decisions
 * slow in the tail: garbage collection and its background sweeping on a small machine).
 */
interface PlanScratch {
  bytes: BlockBytes;
  /** Width of layer l's FFN chunks that fit when the whole FFN block does (all of them). */
  fullWidth: Float64Array;
  order: Int32Array;
  tmp: Int32Array;
  counts: PlanCounts;
}
const scratches = new WeakMap<ModelGraph, PlanScratch>();
function scratchFor(graph: ModelGraph): PlanScratch {
  let s = scratches.get(graph);
  if (!s) {
    const { nLayer: L, nInner: W } = graph.config, H = graph.attnUnits;
    const bytes = blockBytes(graph);
    s = {
      bytes,
      fullWidth: Float64Array.from(graph.layers, (layer) => {
        let w = 0;
        for (let c = 0; c < Math.min(layer.ffnChunks.length, bytes.chunk.length); c++) w += layer.ffnChunks[c]!.width;
        return w;
      }),
      order: new Int32Array(2 * L),
      tmp: new Int32Array(2 * L),
      counts: { nLayer: L, nHead: H, nInner: W, cloudHeads: new Int32Array(L), cloudWidth: new Int32Array(L) },
    };
    scratches.set(graph, s);
  }
  return s;
}

/** Block indices by decreasing score (ties: lower index first). */
export function blockOrder(scores: ArrayLike<number>, offset = 0, n = scores.length): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => scores[offset + b]! - scores[offset + a]! || a - b);
  return idx;
}

/**
 * blockOrder into `order` without allocating: a bottom-up merge sort with blockOrder's comparator
 * (a strict total order for finite scores, so the order is the same as blockOrder's).
 */
function blockOrderInto(scores: ArrayLike<number>, offset: number, order: Int32Array, tmp: Int32Array): Int32Array {
  const n = order.length;
  for (let i = 0; i < n; i++) order[i] = i;
  let src = order, dst = tmp;
  for (let w = 1; w < n; w *= 2) {
    for (let lo = 0; lo < n; lo += 2 * w) {
      const mid = Math.min(lo + w, n), hi = Math.min(lo + 2 * w, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        const a = src[i]!, b = src[j]!;
        // b before a exactly when blockOrder's comparator says so
        if ((scores[offset + a]! - scores[offset + b]! || b - a) < 0) {
          dst[k++] = b;
          j++;
        } else {
          dst[k++] = a;
          i++;
        }
      }
      while (i < mid) dst[k++] = src[i++]!;
      while (j < hi) dst[k++] = src[j++]!;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== order) order.set(src);
  return order;
}

/** Fill the cloud with f of the layers' weight bytes, blocks taken in score order. */
export function planFromScores(graph: ModelGraph, scores: ArrayLike<number>, fraction: number, offset = 0): PlanCounts {
  const L = graph.config.nLayer;
  const counts: PlanCounts = { nLayer: L, nHead: graph.attnUnits, nInner: graph.config.nInner, cloudHeads: new Int32Array(L), cloudWidth: new Int32Array(L) };
  return fillPlan(graph, scores, fraction, offset, counts, scratchFor(graph));
}

/** planFromScores into `counts` (overwritten), with the graph's scratch: allocates nothing. */
function fillPlan(graph: ModelGraph, scores: ArrayLike<number>, fraction: number, offset: number, counts: PlanCounts, s: PlanScratch): PlanCounts {
  const L = graph.config.nLayer, H = graph.attnUnits, W = graph.config.nInner;
  const b = s.bytes;
  counts.cloudHeads.fill(0);
  counts.cloudWidth.fill(0);
  if (fraction <= 0) return counts;
  if (fraction >= 1) {
    counts.cloudHeads.fill(H);
    counts.cloudWidth.fill(W);
    return counts;
  }
  let budget = fraction * L * (b.attn + b.ffn);
  const order = blockOrderInto(scores, offset, s.order, s.tmp);
  for (let o = 0; o < order.length; o++) {
    const blk = order[o]!;
    if (budget <= 0) break;
    const l = blk >> 1;
    if (blk % 2 === 0) {
      const c = budget >= b.attn ? H : Math.floor(budget / b.head);
      counts.cloudHeads[l] = c;
      budget -= b.attn;
    } else if (b.ffn <= budget + 1e-6) {
      // every chunk fits (the loop below would take them all: the chunk bytes are positive)
      counts.cloudWidth[l] = s.fullWidth[l]!;
      budget -= b.ffn;
    } else {
      let c = 0, width = 0, used = 0;
      const chunks = graph.layers[l]!.ffnChunks;
      while (c < chunks.length && used + b.chunk[c]! <= budget + 1e-6) {
        used += b.chunk[c]!;
        width += chunks[c]!.width;
        c++;
      }
      counts.cloudWidth[l] = width;
      budget -= b.ffn;
    }
  }
  return counts;
}

/** Buckets whose plan fits the edge memory (cloud-only always allowed: it is the least there is). */
export function fractionMask(graph: ModelGraph, out: PolicyOutputs, req: RequestShape, memoryFreeBytes: number): boolean[] {
  const nb = 2 * graph.config.nLayer, ctx = req.prompt + req.gen, s = scratchFor(graph);
  const mask = new Array<boolean>(NF);
  for (let i = 0; i < NF; i++) {
    const f = FRACTIONS[i]!;
    mask[i] = f >= 1 || edgeMemoryBytes(graph, fillPlan(graph, out.scores, f, i * nb, s.counts, s), ctx) <= memoryFreeBytes;
  }
  return mask;
}

export function maskedLogits(logits: Float32Array, mask: boolean[]): Float32Array {
  return logits.map((v, i) => (mask[i] ? v : -1e9));
}

const argmax = (xs: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
};

const MASKED = Math.fround(-1e9);
/** argmax(maskedLogits(logits, mask)) without the copy. */
const maskedArgmax = (logits: Float32Array, mask: boolean[]): number => {
  let best = 0, bv = mask[0] ? logits[0]! : MASKED;
  for (let i = 1; i < logits.length; i++) {
    const v = mask[i] ? logits[i]! : MASKED;
    if (v > bv) {
      best = i;
      bv = v;
    }
  }
  return best;
};

function sampleCategorical(logits: ArrayLike<number>, rng: Rng): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]!);
  const p = Array.from(logits, (v) => Math.exp(v - m));
  const s = p.reduce((a, v) => a + v, 0);
  let u = rng.next() * s;
  for (let i = 0; i < p.length; i++) {
    u -= p[i]!;
    if (u < 0) return i;
  }
  return p.length - 1;
}

/**
 * Turn network outputs into a plan. Greedy (evaluation, the exported policy): argmax of the masked
 * fraction and precision logits, mean scores. Sampling (training): categorical draws and scores
 * perturbed by N(0, std^2).
 */
export function decodeAction(
  graph: ModelGraph,
  out: PolicyOutputs,
  req: RequestShape,
  memoryFreeBytes: number,
  sample?: { rng: Rng; std: Float32Array },
): PolicyAction {
  const nb = 2 * graph.config.nLayer;
  const mask = fractionMask(graph, out, req, memoryFreeBytes);
  const fracIndex = sample ? sampleCategorical(maskedLogits(out.fracLogits, mask), sample.rng) : maskedArgmax(out.fracLogits, mask);
  const precIndex = sample ? sampleCategorical(out.precLogits, sample.rng) : argmax(out.precLogits);
  const mean = out.scores.subarray(fracIndex * nb, (fracIndex + 1) * nb);
  const scores = sample ? mean.map((m, i) => m + sample.std[i]! * sample.rng.normal()) : Float32Array.from(mean);
  let counts = planFromScores(graph, scores, FRACTIONS[fracIndex]!);
  // the sampled order may place KV-heavy heads differently than the mean did: never exceed memory
  if (FRACTIONS[fracIndex]! < 1 && edgeMemoryBytes(graph, counts, req.prompt + req.gen) > memoryFreeBytes) {
    counts = planFromScores(graph, scores, 1);
  }
  return { fracIndex, precIndex, scores, counts, precision: PRECISIONS[precIndex]!, mask };
}

/** Is the low-level choice (the order) relevant? Not when nothing or everything goes to the cloud. */
export const lowLevelActive = (fracIndex: number): boolean => FRACTIONS[fracIndex]! > 0 && FRACTIONS[fracIndex]! < 1;
/** Is the precision relevant? Not when nothing crosses the wire. */
export const precisionActive = (fracIndex: number): boolean => FRACTIONS[fracIndex]! > 0;
