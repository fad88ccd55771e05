// One quantized projection matrix, in the layout onnxruntime's com.microsoft MatMulNBits reads:
// W [K, N] (the engine's [in, out]) stored per output channel n as K-blocks of 32 values.
//   int8: symmetric per output channel: scale s_n = max_k |W[k, n]| / 127, q = round(W / s_n) in
//         [-127, 127], stored as q + 128 (MatMulNBits' default 8-bit zero point); the scale is
//         repeated for each of the channel's blocks (the operator takes one per block).
//   q4:   per 32-block of a channel: asymmetric with a 4-bit zero point (the default; as
//         onnxruntime's MatMul4BitsQuantizer), or symmetric around MatMulNBits' default zero point 8.
// K is cut into segments (the rows of one attention unit or FFN chunk, where a side may own only
// some of them; one segment for matrices cut by columns only). Every segment starts a new block
// and is zero-padded to a multiple of 32, so any subset of segments, and any subset of columns,
// is again a whole quantized matrix: a side's share is gathered, never re-quantized.
import { QuantizationError } from '../errors.ts';
import { QUANT_BLOCK, paddedBlocks, weightBits, type QuantizedPrecision } from '../arch/precision.ts';
import { mergeRanges, type Range } from '../arch/gather.ts';
import type { TensorLike } from '../executor/runtime.ts';

export interface QuantizedMatrix {
  precision: QuantizedPrecision;
  /** Input rows (unpadded) and output channels. */
  K: number;
  N: number;
  /** Widths of the K segments, in row order; they sum to K. */
  segments: number[];
  /** [N, blocks, 32 * bits / 8]: channel n's blocks, each 32 values (q4: two per byte, low nibble first). */
  data: Uint8Array;
  /** [N, blocks] */
  scales: Float32Array;
  /** q4 asymmetric: [N, blocks], one zero point (0..15) per block, unpacked. Absent: the default (int8 128, q4 8). */
  zeroPoints?: Uint8Array;
}

export interface QuantizeMatrixOptions {
  /** How W is laid out: [K, N] (the engine's projections) or [N, K] (the LM head, as Gemm transB reads it). @defaultValue 'in-out' */
  layout?: 'in-out' | 'out-in';
  /** q4 only: symmetric blocks, no zero points. @defaultValue false */
  symmetric?: boolean;
}

export const blobBytes = (p: QuantizedPrecision): number => (QUANT_BLOCK * weightBits(p)) / 8;
export const quantBlocksOf = (q: Pick<QuantizedMatrix, 'segments'>): number => paddedBlocks(q.segments);
/** Bytes a quantized matrix holds (data, scales, zero points as packed for the graph). */
export const heldBytes = (q: QuantizedMatrix): number => q.data.byteLength + q.scales.byteLength + (q.zeroPoints ? Math.ceil(quantBlocksOf(q) / 2) * q.N : 0);

function checkSegments(K: number, segments: readonly number[], what: string): void {
  if (segments.length === 0 || segments.some((w) => !Number.isInteger(w) || w < 1) || segments.reduce((a, w) => a + w, 0) !== K) {
    throw new QuantizationError(`${what}: segments [${segments.join(', ')}] do not cut K=${K} rows`);
  }
}

/** Quantize W (see QuantizeMatrixOptions for its layout) with K cut into `segments`. */
export function quantizeMatrix(W: Float32Array, K: number, N: number, precision: QuantizedPrecision, segments: readonly number[] = [K], o: QuantizeMatrixOptions = {}): QuantizedMatrix {
  if (precision !== 'int8' && precision !== 'q4') throw new QuantizationError(`unknown weight precision "${String(precision)}" (int8 or q4)`);
  if (W.length !== K * N) throw new QuantizationError(`matrix has ${W.length} values; K=${K} x N=${N} needs ${K * N}`);
  checkSegments(K, segments, 'quantizeMatrix');
  const outIn = o.layout === 'out-in';
  const at = outIn ? (k: number, n: number) => W[n * K + k]! : (k: number, n: number) => W[k * N + n]!;
  const nb = paddedBlocks(segments), blob = blobBytes(precision);
  const data = new Uint8Array(N * nb * blob), scales = new Float32Array(N * nb);
  const asym = precision === 'q4' && !o.symmetric;
  const zeroPoints = asym ? new Uint8Array(N * nb) : undefined;
  const col = new Float32Array(nb * QUANT_BLOCK); // one channel, padded per segment
  for (let n = 0; n < N; n++) {
    col.fill(0);
    let k = 0, p = 0;
    for (const w of segments) {
      if (outIn) col.set(W.subarray(n * K + k, n * K + k + w), p);
      else for (let i = 0; i < w; i++) col[p + i] = at(k + i, n);
      k += w;
      p += Math.ceil(w / QUANT_BLOCK) * QUANT_BLOCK;
    }
    if (precision === 'int8') {
      let amax = 0;
      for (let i = 0; i < col.length; i++) amax = Math.max(amax, Math.abs(col[i]!));
      const s = amax / 127, inv = s > 0 ? 1 / s : 0;
      scales.fill(s, n * nb, (n + 1) * nb);
      const base = n * nb * blob;
      for (let i = 0; i < col.length; i++) data[base + i] = Math.max(-127, Math.min(127, Math.round(col[i]! * inv))) + 128;
      continue;
    }
    for (let b = 0; b < nb; b++) {
      let mn = 0, mx = 0, amax = 0;
      for (let i = b * QUANT_BLOCK; i < (b + 1) * QUANT_BLOCK; i++) {
        const v = col[i]!;
        mn = Math.min(mn, v);
        mx = Math.max(mx, v);
        amax = Math.max(amax, Math.abs(v));
      }
      let s: number, zp: number;
      if (asym) {
        s = (mx - mn) / 15;
        zp = s > 0 ? Math.max(0, Math.min(15, Math.round(-mn / s))) : 0;
        zeroPoints![n * nb + b] = zp;
      } else {
        s = amax / 7;
        zp = 8;
      }
      scales[n * nb + b] = s;
      const inv = s > 0 ? 1 / s : 0, base = (n * nb + b) * blob;
      for (let i = 0; i < QUANT_BLOCK; i++) {
        const q = Math.max(0, Math.min(15, Math.round(col[b * QUANT_BLOCK + i]! * inv) + zp));
        data[base + (i >> 1)]! |= q << ((i & 1) * 4);
      }
    }
  }
  return { precision, K, N, segments: [...segments], data, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/** The value stored for (channel n, padded row i): the quantized integer and its block. */
function storedValue(q: QuantizedMatrix, nb: number, blob: number, n: number, i: number): number {
  const b = Math.floor(i / QUANT_BLOCK), j = i % QUANT_BLOCK, byte = q.data[(n * nb + b) * blob + (q.precision === 'q4' ? j >> 1 : j)]!;
  return q.precision === 'q4' ? (byte >> ((j & 1) * 4)) & 15 : byte;
}

/** What the quantized matrix stands for: W' [K, N] in fp32 (for tests and references). */
export function dequantizeMatrix(q: QuantizedMatrix): Float32Array {
  const nb = quantBlocksOf(q), blob = blobBytes(q.precision), out = new Float32Array(q.K * q.N);
  const defaultZp = q.precision === 'int8' ? 128 : 8;
  for (let n = 0; n < q.N; n++) {
    let k = 0, p = 0;
    for (const w of q.segments) {
      for (let i = 0; i < w; i++) {
        const b = Math.floor((p + i) / QUANT_BLOCK), zp = q.zeroPoints ? q.zeroPoints[n * nb + b]! : defaultZp;
        out[(k + i) * q.N + n] = (storedValue(q, nb, blob, n, p + i) - zp) * q.scales[n * nb + b]!;
      }
      k += w;
      p += Math.ceil(w / QUANT_BLOCK) * QUANT_BLOCK;
    }
  }
  return out;
}


/** Output channels `ranges` of q, in order (q itself when that is all of it). */
export function gatherQuantizedColumns(q: QuantizedMatrix, ranges: readonly Range[]): QuantizedMatrix {
  const rs = mergeRanges(ranges);
  if (rs.length === 1 && rs[0]!.start === 0 && rs[0]!.width === q.N) return q;
  const nb = quantBlocksOf(q), blob = blobBytes(q.precision), N = rs.reduce((a, r) => a + r.width, 0);
  const data = new Uint8Array(N * nb * blob), scales = new Float32Array(N * nb), zeroPoints = q.zeroPoints ? new Uint8Array(N * nb) : undefined;
  let o = 0;
  for (const { start, width } of rs) {
    if (start < 0 || start + width > q.N) throw new QuantizationError(`columns [${start}, ${start + width}) are outside the ${q.N} of a quantized matrix`);
    data.set(q.data.subarray(start * nb * blob, (start + width) * nb * blob), o * nb * blob);
    scales.set(q.scales.subarray(start * nb, (start + width) * nb), o * nb);
    zeroPoints?.set(q.zeroPoints!.subarray(start * nb, (start + width) * nb), o * nb);
    o += width;
  }
  return { ...q, N, data, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/**
 * Input rows `ranges` of q, in order. Each range must be a run of whole segments (the rows of
 * whole attention units or FFN chunks): a range that cuts a segment would cut a quantized block.
 */
export function gatherQuantizedRows(q: QuantizedMatrix, ranges: readonly Range[]): QuantizedMatrix {
  const starts: number[] = [];
  q.segments.reduce((k, w) => (starts.push(k), k + w), 0);
  const picked: number[] = [];
  for (const { start, width } of ranges) {
    let i = starts.indexOf(start), end = start;
    if (i < 0) throw new QuantizationError(`rows [${start}, ${start + width}) start inside a quantized segment (segments start at ${starts.slice(0, 8).join(', ')}${starts.length > 8 ? ', ...' : ''})`);
    while (end < start + width && i < q.segments.length) {
      picked.push(i);
      end += q.segments[i++]!;
    }
    if (end !== start + width) throw new QuantizationError(`rows [${start}, ${start + width}) end inside a quantized segment`);
  }
  if (picked.length === q.segments.length && picked.every((s, i) => s === i)) return q;
  const nb = quantBlocksOf(q), blob = blobBytes(q.precision);
  const blockStart: number[] = [];
  q.segments.reduce((b, w) => (blockStart.push(b), b + Math.ceil(w / QUANT_BLOCK)), 0);
  const segments = picked.map((i) => q.segments[i]!), nb2 = paddedBlocks(segments);
  const data = new Uint8Array(q.N * nb2 * blob), scales = new Float32Array(q.N * nb2), zeroPoints = q.zeroPoints ? new Uint8Array(q.N * nb2) : undefined;
  for (let n = 0; n < q.N; n++) {
    let o = 0;
    for (const i of picked) {
      const b0 = n * nb + blockStart[i]!, count = Math.ceil(q.segments[i]! / QUANT_BLOCK), d = n * nb2 + o;
      data.set(q.data.subarray(b0 * blob, (b0 + count) * blob), d * blob);
      scales.set(q.scales.subarray(b0, b0 + count), d);
      zeroPoints?.set(q.zeroPoints!.subarray(b0, b0 + count), d);
      o += count;
    }
  }
  return { ...q, K: segments.reduce((a, w) => a + w, 0), segments, data, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

// ---------------------------------------------------------------- as graph feeds

/** Suffixes of the feeds that carry one quantized weight `name` (the graph builders read them back). */
export const QUANT_FEED = { scales: '.scales', zeroPoints: '.zero_points', segments: '.k_segments' } as const;

/** Zero points as MatMulNBits takes them: [N, ceil(blocks / 2)], two 4-bit values per byte, low first. */
export function packZeroPoints(q: QuantizedMatrix): Uint8Array | undefined {
  if (!q.zeroPoints) return undefined;
  const nb = quantBlocksOf(q), per = Math.ceil(nb / 2), out = new Uint8Array(q.N * per);
  for (let n = 0; n < q.N; n++) for (let b = 0; b < nb; b++) out[n * per + (b >> 1)]! |= q.zeroPoints[n * nb + b]! << ((b & 1) * 4);
  return out;
}

/**
 * A quantized matrix as the feeds of one weight input `name`: `name` (uint8 [N, blocks, blob]),
 * `name.scales` (float32 [N * blocks]), `name.zero_points` (uint8, q4 asymmetric only) and
 * `name.k_segments` (int64 widths of the K segments, which the graph pads to whole blocks).
 * Only graphs that hold weights as initializers take these (see onnx-graphs' linear()).
 */
export function quantizedFeeds(name: string, q: QuantizedMatrix): Record<string, TensorLike> {
  const nb = quantBlocksOf(q), zp = packZeroPoints(q);
  return {
    [name]: { dtype: 'uint8', dims: [q.N, nb, blobBytes(q.precision)], data: q.data },
    [name + QUANT_FEED.scales]: { dtype: 'float32', dims: [q.N * nb], data: q.scales },
    ...(zp ? { [name + QUANT_FEED.zeroPoints]: { dtype: 'uint8', dims: [zp.length], data: zp } as TensorLike } : {}),
    [name + QUANT_FEED.segments]: { dtype: 'int64', dims: [q.segments.length], data: BigInt64Array.from(q.segments.map(BigInt)) },
  };
}

/** What a graph builder needs of a quantized weight's feeds; undefined when `name` is an fp32 weight. */
export interface QuantizedFeed {
  bits: 4 | 8;
  K: number;
  N: number;
  segments: number[];
  data: TensorLike & { dtype: 'uint8' };
  scales: TensorLike & { dtype: 'float32' };
  zeroPoints?: TensorLike & { dtype: 'uint8' };
}

export function readQuantizedFeed(feeds: Readonly<Record<string, TensorLike>>, name: string): QuantizedFeed | undefined {
  const data = feeds[name];
  if (!data || data.dtype !== 'uint8') return undefined;
  const scales = feeds[name + QUANT_FEED.scales], segs = feeds[name + QUANT_FEED.segments], zp = feeds[name + QUANT_FEED.zeroPoints];
  if (scales?.dtype !== 'float32' || segs?.dtype !== 'int64' || (zp !== undefined && zp.dtype !== 'uint8') || data.dims.length !== 3) {
    throw new QuantizationError(`quantized weight "${name}" lacks its scales or segments, or has the wrong dtypes`);
  }
  const [N, nb, blob] = data.dims as [number, number, number];
  const segments = Array.from(segs.data, Number);
  if ((blob !== 16 && blob !== 32) || nb !== paddedBlocks(segments) || scales.data.length !== N * nb) {
    throw new QuantizationError(`quantized weight "${name}": data [${data.dims.join(', ')}], ${scales.data.length} scales and segments [${segments.join(', ')}] do not agree`);
  }
  return {
    bits: blob === 16 ? 4 : 8,
    K: segments.reduce((a, w) => a + w, 0),
    N,
    segments,
    data: data as QuantizedFeed['data'],
    scales: scales as QuantizedFeed['scales'],
    ...(zp ? { zeroPoints: zp as QuantizedFeed['zeroPoints'] } : {}),
  };
}
