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
function blockBytes(graph: ModelGraph): { head: number; chunk: number[]; attn: number; ffn: number } {
  const head = graph.layers[0]!.heads[0]!.cost.weightBytes;
  const chunk = graph.layers[0]!.ffnChunks.map((c) => c.cost.weightBytes);
  return { head, chunk, attn: head * graph.config.nHead, ffn: chunk.reduce((a, b) => a + b, 0) };
}

/** Block indices by decreasing score (ties: lower index first). */
export function blockOrder(scores: ArrayLike<number>, offset = 0, n = scores.length): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => scores[offset + b]! - scores[offset + a]! || a - b);
  return idx;
}

/** Fill the cloud with f of the layers' weight bytes, blocks taken in score order. */
export function planFromScores(graph: ModelGraph, scores: ArrayLike<number>, fraction: number, offset = 0): PlanCounts {
  const L = graph.config.nLayer, H = graph.config.nHead, W = graph.config.nInner;
  const b = blockBytes(graph);
  const counts: PlanCounts = { nLayer: L, nHead: H, nInner: W, cloudHeads: new Int32Array(L), cloudWidth: new Int32Array(L) };
  if (fraction <= 0) return counts;
  if (fraction >= 1) {
    counts.cloudHeads.fill(H);
    counts.cloudWidth.fill(W);
    return counts;
  }
  let budget = fraction * L * (b.attn + b.ffn);
  for (const blk of blockOrder(scores, offset, 2 * L)) {
    if (budget <= 0) break;
    const l = blk >> 1;
    if (blk % 2 === 0) {
      const c = budget >= b.attn ? H : Math.floor(budget / b.head);
      counts.cloudHeads[l] = c;
      budget -= b.attn;
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
  const nb = 2 * graph.config.nLayer, ctx = req.prompt + req.gen;
  return FRACTIONS.map((f, i) => f >= 1 || edgeMemoryBytes(graph, planFromScores(graph, out.scores, f, i * nb), ctx) <= memoryFreeBytes);
}

export function maskedLogits(logits: Float32Array, mask: boolean[]): Float32Array {
  return logits.map((v, i) => (mask[i] ? v : -1e9));
}

const argmax = (xs: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
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
  const fl = maskedLogits(out.fracLogits, mask);
  const fracIndex = sample ? sampleCategorical(fl, sample.rng) : argmax(fl);
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
