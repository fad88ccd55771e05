// Weight precision per side, as the cost model prices it (issue 12). Each side holds its projection
// matrices and LM head at fp32, int8 or q4 (core's arch/precision.ts); the choice changes three
// things, each from a measurement:
//   - time: a side's weight-bearing calls (attn, ffn, layer, lmHead) take 1/speed of their fp32
//     time, where speed is the measured decode speed over fp32 of that runtime's quantized kernels
//     (WEIGHT_SPEED; onnxruntime-node's MatMulNBits is fast at q4, its int8 with fp32 activations
//     and every quantized form in onnxruntime-web's WASM build are slower than fp32);
//   - edge memory: the edge's unit, chunk and LM-head weights at bytesPerWeight(p) instead of 4;
//   - accuracy: the measured whole-model KL at p, charged per side in proportion to the
//     quantizable weight bytes (layer units, chunks, LM head) that side runs under the plan.
// The engine loads a side's weights once (`--weights`, `--cloud-weights`, `?weights=`), so the
// precision is a deployment choice: the evaluation fits it per scenario family on training traces
// (scripts/eval-policy.ts --weights), as it fits the static split, and no planner switches it
// mid-session.
import { bytesPerWeight, type WeightPrecision, WEIGHT_PRECISIONS } from '@splitwise/core';
import type { DeviceProfile, KernelKind } from './profile.ts';

export interface SideWeights {
  edge: WeightPrecision;
  cloud: WeightPrecision;
}

export const FP32_WEIGHTS: SideWeights = { edge: 'fp32', cloud: 'fp32' };

export const sideWeightsName = (w: SideWeights): string => `edge ${w.edge} · cloud ${w.cloud}`;
export const isFp32 = (w: SideWeights): boolean => w.edge === 'fp32' && w.cloud === 'fp32';

/** "edge/cloud" (e.g. "q4/fp32") → SideWeights. */
export function parseSideWeights(s: string): SideWeights {
  const [edge, cloud, extra] = s.split('/');
  const ok = (p: string | undefined): p is WeightPrecision => (WEIGHT_PRECISIONS as readonly string[]).includes(p ?? '');
  if (!ok(edge) || !ok(cloud) || extra !== undefined) throw new Error(`weights "${s}": expected edge/cloud, each one of ${WEIGHT_PRECISIONS.join(', ')}`);
  return { edge, cloud };
}

export type WeightRuntime = 'onnxruntime-node' | 'onnxruntime-web-wasm';

/**
 * Decode speed over fp32 (fp32 time ÷ quantized time) of whole-side plans, gpt2-small shape, with
 * fp32 activations (the exact split). docs/BENCHMARKS.md, "Quantized weights": onnxruntime-node from
 * `npm run bench:bound -- --tokens 12 --rounds 3` (2 Dec 2026, 18:53 UTC: edge-only int8 0.10,
 * q4 1.97; cloud-only 0.11, 2.01); onnxruntime-web from `npm run bench:e2e -- --compare weights=…`
 * in Chromium (edge-only int8 0.17, q4 0.12). Prefill was not measured per precision: the same
 * ratio is applied to it (an assumption).
 */
export const WEIGHT_SPEED: Record<WeightRuntime, Record<WeightPrecision, number>> = {
  'onnxruntime-node': { fp32: 1, int8: 0.1, q4: 1.98 },
  'onnxruntime-web-wasm': { fp32: 1, int8: 0.17, q4: 0.12 },
};

/** The runtime whose quantized kernels a profile's device runs (a derived profile: the runtime it was derived from). */
export const weightRuntimeOf = (p: DeviceProfile): WeightRuntime => (p.runtime.includes('onnxruntime-web') ? 'onnxruntime-web-wasm' : 'onnxruntime-node');

const WEIGHT_KINDS: ReadonlySet<KernelKind> = new Set(['attn', 'ffn', 'layer', 'lmHead']);

/** Multiplier on a kernel's fp32 time when its side holds weights at `p`. */
export function weightTimeFactor(profile: DeviceProfile, kind: KernelKind, p: WeightPrecision): number {
  return p === 'fp32' || !WEIGHT_KINDS.has(kind) ? 1 : 1 / WEIGHT_SPEED[weightRuntimeOf(profile)][p];
}

/** Bytes of fp32-counted weights stored at `p` (biases are counted at the matrix rate: under 0.1 % of a unit). */
export const atPrecision = (fp32Bytes: number, p: WeightPrecision): number => (p === 'fp32' ? fp32Bytes : (fp32Bytes * bytesPerWeight(p)) / 4);
