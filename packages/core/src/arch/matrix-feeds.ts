// The feeds of a split graph's weight matrix, cut to the columns or rows a side owns, from a
// checkpoint that holds the matrix in fp32 (the checkpoint's arrays, gathered) or quantized
// (ckpt.quantized, gathered the same way: see quant/matrix.ts). Both families' bind() read their
// projection matrices through these two, so fp32 feeds are exactly what they always were.
import { QuantizationError } from '../errors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { f32 } from '../executor/runtime.ts';
import { gatherQuantizedColumns, gatherQuantizedRows, quantizedFeeds, type QuantizedMatrix } from '../quant/matrix.ts';
import type { Feeds } from './family.ts';
import { gatherColumns, gatherRows, type Range } from './gather.ts';

const width = (ranges: readonly Range[]): number => ranges.reduce((a, r) => a + r.width, 0);

function quantized(ckpt: Checkpoint, name: string, K: number, N: number): QuantizedMatrix | undefined {
  const q = ckpt.quantized?.matrices.get(name);
  if (q && (q.K !== K || q.N !== N)) throw new QuantizationError(`quantized "${name}" is [${q.K}, ${q.N}]; the model needs [${K}, ${N}]`);
  return q;
}

function fp32(ckpt: Checkpoint, name: string): Float32Array {
  const t = ckpt.tensors.get(name);
  if (!t) throw new Error(`checkpoint has no tensor "${name}"`);
  return t.data;
}

/** Weight input `feed`: columns `ranges` of matrix `name` [K, N], as [K, m]. */
export function matrixColumns(ckpt: Checkpoint, feed: string, name: string, K: number, N: number, ranges: readonly Range[]): Feeds {
  const q = quantized(ckpt, name, K, N);
  if (q) return quantizedFeeds(feed, gatherQuantizedColumns(q, ranges));
  return { [feed]: f32(gatherColumns(fp32(ckpt, name), K, N, ranges), [K, width(ranges)]) };
}

/** Weight input `feed`: rows `ranges` of matrix `name` [K, N] (whole attention units or FFN chunks), as [m, N]. */
export function matrixRows(ckpt: Checkpoint, feed: string, name: string, K: number, N: number, ranges: readonly Range[]): Feeds {
  const q = quantized(ckpt, name, K, N);
  if (q) return quantizedFeeds(feed, gatherQuantizedRows(q, ranges));
  return { [feed]: f32(gatherRows(fp32(ckpt, name), N, ranges), [width(ranges), N]) };
}

/** Refuse a quantized checkpoint whose FFN segments were cut for another chunking than `ffnChunks`. */
export function checkQuantizedLayout(ckpt: Checkpoint, ffnChunks: number): void {
  const q = ckpt.quantized;
  if (q && q.ffnChunks !== ffnChunks) {
    throw new QuantizationError(
      `the ${q.precision} weights were quantized for ${q.ffnChunks} FFN chunks per layer, but this model graph has ${ffnChunks}: ` +
        `a chunk would cut a quantized block. Use --ffn-chunks ${q.ffnChunks}, or quantize the fp32 checkpoint with --ffn-chunks ${ffnChunks}`,
    );
  }
}
