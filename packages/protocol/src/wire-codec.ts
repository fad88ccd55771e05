// WireCodec: rows of float32 (residuals, partial sums, checkpoints) to bytes and back, at the
// precision a request chooses. fp32 is exact; fp16 halves the bytes; int8 quarters them with one
// float32 scale per row (symmetric: scale = max|x| / 127, rounded up to 17 significant bits so
// that encoding a decoded tensor gives back the same bytes).
import { float16BitsToFloat32, float32ToFloat16Bits, quantizeInt8Rows, type WirePrecision } from '@splitwise/core';
import { ProtocolError } from './errors.ts';

/** A tensor on the wire: [rows, cols] in `dtype`, raw little-endian bytes as a binary attachment. */
export interface WireTensor {
  dtype: WirePrecision;
  rows: number;
  cols: number;
  data: Uint8Array;
  /** int8 only: one float32 scale per row. */
  scales?: Uint8Array;
}

const BYTES: Record<WirePrecision, number> = { fp32: 4, fp16: 2, int8: 1 };

/** Bytes a [rows, cols] tensor takes on the wire at `p` (what the cost model charges). */
export const wireBytes = (rows: number, cols: number, p: WirePrecision): number => rows * cols * BYTES[p] + (p === 'int8' ? 4 * rows : 0);

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function encodeRows(x: Float32Array, cols: number, dtype: WirePrecision): WireTensor {
  if (cols <= 0 || x.length % cols !== 0) throw new ProtocolError('bad_tensor', `cannot encode ${x.length} values as rows of ${cols}`);
  const rows = x.length / cols;
  switch (dtype) {
    case 'fp32':
      return { dtype, rows, cols, data: bytesOf(x.slice()) };
    case 'fp16':
      return { dtype, rows, cols, data: bytesOf(float32ToFloat16Bits(x)) };
    case 'int8': {
      // core's quantizer: the edge and cloud round rows locally to exactly what this decodes to
      const { q, scales } = quantizeInt8Rows(x, cols);
      return { dtype, rows, cols, data: bytesOf(q), scales: bytesOf(scales) };
    }
  }
}

/** x - x is 0 for every finite x and NaN for NaN and ±Infinity: one branch-free pass. */
function allFinite(a: Float32Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i]! - a[i]!;
  return acc === 0;
}

/** Copy into an aligned buffer: received binary (a Node Buffer slice) may start at any offset. */
function aligned(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

/** Decode and check a tensor from the wire; `expect` pins the shape where the receiver knows it. */
export function decodeRows(t: WireTensor, expect?: { rows?: number; cols?: number }): Float32Array {
  const { dtype, rows, cols } = t;
  if (!(dtype in BYTES)) throw new ProtocolError('bad_tensor', `unknown wire dtype "${String(dtype)}"`);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 1) throw new ProtocolError('bad_tensor', `bad tensor shape [${rows}, ${cols}]`);
  if (expect?.rows !== undefined && rows !== expect.rows) throw new ProtocolError('bad_tensor', `tensor has ${rows} rows, expected ${expect.rows}`);
  if (expect?.cols !== undefined && cols !== expect.cols) throw new ProtocolError('bad_tensor', `tensor has ${cols} columns, expected ${expect.cols}`);
  if (t.data.byteLength !== rows * cols * BYTES[dtype]) {
    throw new ProtocolError('bad_tensor', `${dtype} tensor [${rows}, ${cols}] needs ${rows * cols * BYTES[dtype]} bytes, got ${t.data.byteLength}`);
  }
  switch (dtype) {
    case 'fp32': {
      const out = new Float32Array(aligned(t.data));
      if (!allFinite(out)) throw new ProtocolError('bad_tensor', 'tensor holds NaN or infinity');
      return out;
    }
    case 'fp16': {
      const out = float16BitsToFloat32(new Uint16Array(aligned(t.data)));
      if (!allFinite(out)) throw new ProtocolError('bad_tensor', 'tensor holds NaN or infinity');
      return out;
    }
    case 'int8': {
      if (t.scales?.byteLength !== 4 * rows) throw new ProtocolError('bad_tensor', `int8 tensor needs ${rows} float32 scales`);
      const q = new Int8Array(aligned(t.data)), s = new Float32Array(aligned(t.scales));
      if (!s.every((v) => Number.isFinite(v) && v > 0)) throw new ProtocolError('bad_tensor', 'int8 scales must be finite and positive');
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let i = r * cols; i < (r + 1) * cols; i++) out[i] = q[i]! * s[r]!;
      return out;
    }
  }
}
