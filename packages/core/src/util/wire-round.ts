// The values a row of float32 takes after crossing the wire at a precision: decode(encode(x)).
// The protocol's codec uses these same functions, so the edge and the cloud can round a row
// locally and get, bit for bit, what the other side decodes. Recovery needs this: every residual
// from which a KV cache is computed is first rounded to the wire's precision, so the partition
// checkpoint (which holds exactly those rows) rebuilds the same caches (docs/ARCHITECTURE.md).
import type { WirePrecision } from '../graph/model-graph.ts';
import { float16BitsToFloat32, float32ToFloat16Bits } from './float16.ts';

/**
 * Symmetric int8 with one float32 scale per row, scale ≈ max|x| / 127. The scale is rounded up to
 * 17 significant bits, so 127·scale and every q·scale are exact in float32: encoding a decoded
 * row gives back the same bytes (the codec is idempotent), and no value ever exceeds ±127.
 */
export function quantizeInt8Rows(x: Float32Array, cols: number): { q: Int8Array; scales: Float32Array } {
  const rows = x.length / cols, q = new Int8Array(x.length), scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let i = r * cols; i < (r + 1) * cols; i++) max = Math.max(max, Math.abs(x[i]!));
    const s = int8Scale(max);
    scales[r] = s;
    for (let i = r * cols; i < (r + 1) * cols; i++) q[i] = Math.max(-127, Math.min(127, Math.round(x[i]! / s)));
  }
  return { q, scales };
}

function int8Scale(max: number): number {
  const raw = max / 127;
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const unit = 2 ** (Math.floor(Math.log2(raw)) - 16); // 17 significant bits
  const s = Math.fround(Math.ceil(raw / unit) * unit);
  return s > 0 ? s : 1;
}

/** decode(encode(x)) at precision p, without the bytes; fp32 returns x itself. */
export function wireRound(x: Float32Array, cols: number, p: WirePrecision): Float32Array {
  switch (p) {
    case 'fp32':
      return x;
    case 'fp16':
      return float16BitsToFloat32(float32ToFloat16Bits(x));
    case 'int8': {
      const { q, scales } = quantizeInt8Rows(x, cols), out = new Float32Array(x.length);
      for (let r = 0; r < scales.length; r++) for (let i = r * cols; i < (r + 1) * cols; i++) out[i] = q[i]! * scales[r]!;
      return out;
    }
  }
}
