// x @ W for a weight W [K, N] that a graph holds in fp32 (MatMul) or quantized (int8 or q4 in
// onnxruntime's com.microsoft MatMulNBits; see @splitwise/core's quant/matrix.ts for the layout).
// Every builder applies its projection matrices through linear(): with fp32 weights it writes the
// very MatMul it always wrote, so fp32 graphs are unchanged byte for byte.
//
// Two ways to compute a quantized product (QuantizedWeights.activations, per side):
//   'fp32' (the default): weights dequantized in the kernel, activations and sums in fp32
//     (MatMulNBits accuracy_level 1). The product is linear in x, so a split equals the monolithic
//     graph quantized the same way to float tolerance, whatever order the partial sums come in.
//   'int8': activations quantized per row and K-block of 32 to symmetric int8, integer dot
//     products (accuracy_level 4): MLAS's int8 kernels on onnxruntime-node, 2-3x faster than the
//     fp32 path. Rounding is not linear: when a split sums its partial results in another order
//     than the whole model does, an activation one float ulp from a rounding boundary lands on the
//     other side of it, so split and monolithic logits agree only to about the quantization step
//     (measured in docs/BENCHMARKS.md), not to 1e-4.
//     onnxruntime-web's WASM build has no MatMulNBits kernel of its own: it dequantizes the weights
//     and multiplies in fp32, ignoring accuracy_level. So the graph quantizes the activation
//     itself, before MatMulNBits; MLAS re-quantizes an already quantized block to the same
//     integers (measured bit for bit), and both runtimes compute one model.
//
// K is cut into segments (attention units' or FFN chunks' rows); each starts a new block. When a
// segment is not a multiple of 32 rows, the activation's columns are spread to the padded layout
// (one Gather over x with a zero column appended); a block never mixes two units or chunks, so the
// activation blocks of a subset are those of the whole layer.
import { QUANT_BLOCK, paddedBlocks, type QuantizedFeed } from '@splitwise/core';
import { MS_DOMAIN, type GraphBuilder } from './graph-builder.ts';

/** MatMulNBits' accuracy_level: 1 computes in fp32, 4 in int8 (activations quantized per block, MLAS's int8 kernels). */
export const ACCURACY_LEVEL = { fp32: 1, int8: 4 } as const;

/** Declare a quantized weight's initializers (`name`, `name.scales`, `name.zero_points`); returns `name` for linear(). */
export function quantizedInitializer(b: GraphBuilder, name: string, q: QuantizedFeed): string {
  b.initializer(name, [...q.data.dims], q.data.data);
  b.initializer(`${name}.scales`, [...q.scales.dims], q.scales.data);
  if (q.zeroPoints) b.initializer(`${name}.zero_points`, [...q.zeroPoints.dims], q.zeroPoints.data);
  b.quantized.set(name, { bits: q.bits, K: q.K, N: q.N, segments: q.segments, zeroPoints: q.zeroPoints !== undefined });
  return name;
}

/** x [T, K] @ w: MatMul for an fp32 weight, the quantized product for one declared by quantizedInitializer. */
export function linear(b: GraphBuilder, x: string, w: string): string {
  const q = b.quantized.get(w);
  if (!q) return b.op('MatMul', [x, w]);
  const blocks = paddedBlocks(q.segments), Kp = blocks * QUANT_BLOCK;
  let a = x;
  if (Kp !== q.K) {
    const index: bigint[] = [];
    let k = 0;
    for (const width of q.segments) {
      for (let i = 0; i < width; i++) index.push(BigInt(k + i));
      for (let i = width; i < Math.ceil(width / QUANT_BLOCK) * QUANT_BLOCK; i++) index.push(BigInt(q.K)); // the zero column
      k += width;
    }
    const withZero = b.op('Pad', [x, b.ints([0, 0, 0, 1])]); // [T, K + 1]
    a = b.op('Gather', [withZero, b.initializer(`${w}.padded_columns`, [Kp], BigInt64Array.from(index))], { axis: 1 });
  }
  if (b.int8Activations) {
    // symmetric int8 per 32-block of each row: scale = max|a| / 127, a <- round(a / scale) * scale
    const grouped = b.op('Reshape', [a, b.ints([0, blocks, QUANT_BLOCK])]);
    const scale = b.op('Max', [b.op('Div', [b.op('ReduceMax', [b.op('Abs', [grouped])], { axes: [-1], keepdims: 1 }), b.float(127)]), b.float(1e-30)]);
    a = b.op('Reshape', [b.op('Mul', [b.op('Round', [b.op('Div', [grouped, scale])]), scale]), b.ints([0, Kp])]);
  }
  const inputs = [a, w, `${w}.scales`, ...(q.zeroPoints ? [`${w}.zero_points`] : [])];
  const accuracy_level = ACCURACY_LEVEL[b.int8Activations ? 'int8' : 'fp32'];
  return b.op('MatMulNBits', inputs, { K: Kp, N: q.N, bits: q.bits, block_size: QUANT_BLOCK, accuracy_level }, MS_DOMAIN);
}
