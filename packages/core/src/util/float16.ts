// IEEE half precision <-> float32, for F16 checkpoints and the fp16 wire precision. Both
// directions are bit-exact with @petamoriken/float16 (checked in its tests) but far faster:
// decoding is one table lookup per value, encoding plain integer arithmetic.
import { getFloat16 } from '@petamoriken/float16';

let f16Table: Float32Array | undefined;
/** All 65536 half-precision values as float32, decoded once by @petamoriken/float16. */
export function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    const dv = new DataView(new ArrayBuffer(2));
    for (let bits = 0; bits < 65536; bits++) {
      dv.setUint16(0, bits, true);
      f16Table[bits] = getFloat16(dv, 0, true);
    }
  }
  return f16Table;
}

/** Decode half-precision bits to float32. */
export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const table = float16Table(), out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/**
 * float32 -> IEEE half bits, rounding to nearest even (subnormals, overflow to ±Infinity, NaN kept
 * NaN). Bit-identical to @petamoriken/float16's Float16Array for every non-NaN input (the tests
 * check this against it), but ~10x faster on large tensors, which matters for gpt2-xl in F16.
 */
export function float32ToFloat16Bits(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    const e = exp - 112; // rebias 127 -> 15
    let h: number;
    if (e > 0 && e < 31) {
      // Normal: keep 10 mantissa bits, round half to even without branches (round bit AND
      // (sticky bits OR lsb)); a carry rolls into the exponent, up to Infinity.
      h = (e << 10) | (mant >>> 13);
      h += (mant >>> 12) & 1 & ((((mant & 0xfff) + 0xfff) >>> 12) | h);
    } else if (exp === 0xff) {
      h = 0x7c00 | (mant !== 0 ? 0x200 : 0); // Infinity, or a quiet NaN
    } else if (e >= 31) {
      h = 0x7c00; // overflow
    } else if (e < -10) {
      h = 0; // below half the smallest subnormal
    } else {
      const m = mant | 0x800000; // subnormal half: shift the implicit 1 in
      const shift = 14 - e;
      const rem = m & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      h = m >>> shift;
      if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    }
    out[i] = sign | h;
  }
  return out;
}

