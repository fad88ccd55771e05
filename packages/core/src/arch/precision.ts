// Weight precision: what the projection matrices (and the LM head) are stored and read in, chosen
// per side. fp32 is the checkpoint's own arrays; int8 and q4 are the layout onnxruntime's
// com.microsoft MatMulNBits reads (K-blocks of 32, one float scale per block and output channel;
// q4 adds a 4-bit zero point per block). Norms, biases and the embedding table stay fp32.
// The bytes figures here are what the policy's cost model and bench:bound read (arch/quantize.ts
// makes the tensors).
import { F32_BYTES } from './family.ts';

export const WEIGHT_PRECISIONS = ['fp32', 'int8', 'q4'] as const;
export type WeightPrecision = (typeof WEIGHT_PRECISIONS)[number];
export type QuantizedPrecision = Exclude<WeightPrecision, 'fp32'>;

/**
 * What a quantized product computes in (per side): 'fp32' dequantizes the weights in the kernel and
 * keeps activations fp32, so a split equals the whole model to float tolerance; 'int8' also
 * quantizes the activations per 32-block (integer kernels, faster on onnxruntime-node, but split
 * and whole model then agree only to about a quantization step). onnx-graphs' linear.ts has the why.
 */
export const QUANT_ACTIVATIONS = ['fp32', 'int8'] as const;
export type QuantActivations = (typeof QUANT_ACTIVATIONS)[number];

/** K-block of MatMulNBits: weights along a matrix's input dimension share a scale (and zero point) per 32. */
export const QUANT_BLOCK = 32;

/** Bits per stored weight value. */
export const weightBits = (p: WeightPrecision): number => (p === 'fp32' ? 32 : p === 'int8' ? 8 : 4);

/**
 * Bytes per projection weight, scales and zero points included, as the graphs hold and read it:
 *   fp32 4;  int8 1 + 4/32 = 1.125 (a float scale per 32-block: per output channel, repeated per block);
 *   q4 0.5 + 4/32 + 0.5/32 = 0.640625 (a float scale and a 4-bit zero point per 32-block).
 * Rows padded to whole blocks (a unit or chunk whose row count is not a multiple of 32) come on
 * top; quantizedMatrixBytes counts them exactly.
 */
export function bytesPerWeight(p: WeightPrecision): number {
  if (p === 'fp32') return F32_BYTES;
  const bits = weightBits(p), zeroPointBits = p === 'q4' ? 4 : 0;
  return bits / 8 + (F32_BYTES + zeroPointBits / 8) / QUANT_BLOCK;
}

/** Blocks of a K dimension cut into segments that each start a block (zero-padded to a multiple of 32). */
export const paddedBlocks = (segments: readonly number[]): number => segments.reduce((a, w) => a + Math.ceil(w / QUANT_BLOCK), 0);

/** Exact bytes of one quantized [K, N] matrix whose K is cut into `segments` (default: one). */
export function quantizedMatrixBytes(p: QuantizedPrecision, N: number, segments: readonly number[]): number {
  const nb = paddedBlocks(segments), bits = weightBits(p);
  return N * (nb * QUANT_BLOCK * bits / 8 + nb * F32_BYTES + (p === 'q4' ? Math.ceil(nb / 2) : 0));
}

/**
 * How a projection matrix's input rows are cut when a side owns part of a layer: the rows of the
 * output projection belong to attention units, those of the FFN's down projection to FFN chunks;
 * every other projection is cut by columns only. Quantized matrices start a K-block at every
 * such cut, so any subset of units or chunks is a whole quantized tensor.
 */
export type ProjectionRows = 'whole' | 'attn-units' | 'ffn-chunks';

/** One projection matrix of a layer, in the engine's [in, out] layout (K = in, N = out). */
export interface ProjectionRole {
  /** Canonical tensor name. */
  name: string;
  K: number;
  N: number;
  rows: ProjectionRows;
}
