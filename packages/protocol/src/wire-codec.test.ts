// The codec and core's wireRound agree bit for bit, and encoding is idempotent: a row that was
// rounded once crosses the wire unchanged. Exact recovery at fp16 and int8 rests on both.
import { describe, expect, it } from 'vitest';
import { WIRE_PRECISIONS, quantizeInt8Rows, wireRound } from '@splitwise/core';
import { decodeRows, encodeRows } from './wire-codec.ts';

const COLS = 64;
function rows(seed: number): Float32Array {
  let s = seed;
  const r = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const x = new Float32Array(12 * COLS).map(() => (r() - 0.5) * 10 ** (6 * r() - 3));
  x.fill(0, 0, COLS); // an all-zero row
  x.fill(-1e-30, COLS, 2 * COLS); // a tiny one
  x[2 * COLS] = 3e4; // an outlier
  x.fill(0.5, 3 * COLS, 4 * COLS); // all equal
  return x;
}
const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe('wire codec', () => {
  for (const p of WIRE_PRECISIONS) {
    it(`${p}: decode(encode(x)) is wireRound(x), and encoding a decoded row gives the same bytes`, () => {
      for (let seed = 1; seed <= 20; seed++) {
        const x = rows(seed);
        const once = encodeRows(x, COLS, p), y = decodeRows(once);
        expect(same(y, wireRound(x, COLS, p))).toBe(true);
        const twice = encodeRows(y, COLS, p);
        expect(Buffer.from(twice.data).equals(Buffer.from(once.data))).toBe(true);
        if (p === 'int8') expect(Buffer.from(twice.scales!).equals(Buffer.from(once.scales!))).toBe(true);
        expect(same(decodeRows(twice), y)).toBe(true);
      }
    });
  }

  it('int8: the scale covers the row (|q| <= 127) and the error is at most half a step', () => {
    const x = rows(7), { q, scales } = quantizeInt8Rows(x, COLS), y = wireRound(x, COLS, 'int8');
    expect(q.every((v) => v >= -127 && v <= 127)).toBe(true);
    for (let r = 0; r < scales.length; r++) {
      for (let i = r * COLS; i < (r + 1) * COLS; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(scales[r]! / 2 + Math.abs(x[i]!) * 1e-6);
    }
  });
});
