import { describe, expect, it } from 'vitest';
import {
  CheckpointError,
  InvalidHeaderError,
  TruncatedFileError,
  UnsupportedDtypeError,
} from './errors.ts';
import { Float16Array } from '@petamoriken/float16';
import { float32ToFloat16Bits } from '@splitwise/core';
import { encodeSafetensors, layoutSafetensors, parseSafetensors, readFloat32 } from './safetensors.ts';

/** A file with a hand-written header (string or object) and data bytes; `len` overrides the length prefix. */
function rawFile(header: unknown, data: Uint8Array | number = 0, len?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  const dv = new DataView(out.buffer);
  const n = len ?? json.length;
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

const f32 = (...v: number[]): Float32Array => new Float32Array(v);

function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${cls.name}`).toBeInstanceOf(cls);
  expect(caught).toBeInstanceOf(CheckpointError);
  expect((caught as Error).message).toMatch(message);
}

describe('encode / parse', () => {
  const tensors = [
    { name: 'b', dtype: 'F32' as const, shape: [2, 3], data: f32(1, 2, 3, 4, 5, 6) },
    { name: 'a', dtype: 'F16' as const, shape: [3], data: f32(0.5, -2, 1 / 3) },
    { name: '0', dtype: 'F32' as const, shape: [], data: f32(7) },
  ];

  it('round-trips F32 exactly and F16 to half precision, with metadata', () => {
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    const file = parseSafetensors(bytes, 'x.safetensors');
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.keys()]).toEqual(['0', 'b', 'a']); // F32 first (Rust order), then by name
    expect(readFloat32(file.tensors.get('b')!)).toEqual(f32(1, 2, 3, 4, 5, 6));
    expect(file.tensors.get('0')!.shape).toEqual([]);
    const a = readFloat32(file.tensors.get('a')!);
    expect(a[0]).toBe(0.5);
    expect(a[1]).toBe(-2);
    expect(Math.abs(a[2]! - 1 / 3)).toBeLessThan(1e-3 / 3);
  });

  it('pads the header with spaces to 8-byte alignment as the Rust library does', () => {
    const { header } = layoutSafetensors(tensors);
    expect(header.length % 8).toBe(0);
    const n = new DataView(header.buffer).getUint32(0, true);
    expect(n).toBe(header.length - 8);
    const text = new TextDecoder().decode(header.subarray(8));
    expect(text).toMatch(/^\{.*\} *$/);
  });

  it('F32 reads are zero-copy views when aligned, and copies when unaligned or asked', () => {
    const bytes = encodeSafetensors([tensors[0]!]);
    const t = parseSafetensors(bytes).tensors.get('b')!;
    expect(readFloat32(t).buffer).toBe(bytes.buffer);
    expect(readFloat32(t, { copy: true }).buffer).not.toBe(bytes.buffer);
    // Shift the whole file by one byte: data is unaligned and must be copied.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const u = parseSafetensors(shifted.subarray(1)).tensors.get('b')!;
    expect(readFloat32(u)).toEqual(f32(1, 2, 3, 4, 5, 6));
  });

  it('converts BF16 and F64', () => {
    const bf = new Uint16Array([0x3f80, 0xc000, 0x3eab]); // 1, -2, ~0.334
    const f64 = new Float64Array([Math.PI, -1e-3]);
    const data = new Uint8Array(6 + 2 + 16);
    data.set(new Uint8Array(f64.buffer), 0);
    data.set(new Uint8Array(bf.buffer), 16);
    const file = parseSafetensors(
      rawFile(
        { d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] }, h: { dtype: 'BF16', shape: [3], data_offsets: [16, 22] }, pad: { dtype: 'U8', shape: [2], data_offsets: [22, 24] } },
        data,
      ),
    );
    expect(readFloat32(file.tensors.get('d')!)).toEqual(f32(Math.PI, -1e-3));
    const h = readFloat32(file.tensors.get('h')!);
    expect(h[0]).toBe(1);
    expect(h[1]).toBe(-2);
    expect(h[2]).toBeCloseTo(0.334, 2);
    expectError(() => readFloat32(file.tensors.get('pad')!), UnsupportedDtypeError, /"pad" has dtype U8/);
  });

  it('float32 -> float16 matches @petamoriken/float16 bit for bit (all exponents, ties, subnormals)', () => {
    // Every 97th float32 bit pattern (44M values) plus every pattern near the rounding ties.
    const chunk = 1 << 20;
    const bits = new Uint32Array(chunk);
    let mismatches = 0;
    const check = (count: number): void => {
      const f = new Float32Array(bits.buffer, 0, count);
      const ours = float32ToFloat16Bits(f);
      const ref = new Uint16Array(new Float16Array(f).buffer);
      for (let i = 0; i < count; i++) {
        if (Number.isNaN(f[i])) {
          if ((ours[i]! & 0x7fff) <= 0x7c00) mismatches++;
        } else if (ours[i] !== ref[i]) mismatches++;
      }
    };
    let k = 0;
    for (let x = 0; x < 2 ** 32; x += 97) {
      bits[k++] = x;
      if (k === chunk) check((k = 0) || chunk);
    }
    check(k);
    k = 0;
    for (let exp = 0; exp < 256; exp++) {
      for (const low of [0x0fff, 0x1000, 0x1001, 0x2fff, 0x3000, 0x3001, 0x7fffff, 0, 1]) {
        for (const sign of [0, 0x80000000]) {
          for (const hi of [0, 0x2000, 0x4000, 0x7fe000]) bits[k++] = (sign | (exp << 23) | ((hi | low) & 0x7fffff)) >>> 0;
        }
      }
    }
    for (let sh = 0; sh < 24; sh++) for (const d of [-1, 0, 1]) bits[k++] = ((0x33000000 + (1 << sh) + d) >>> 0); // subnormal ties
    check(k);
    expect(mismatches).toBe(0);
  });

  it('accepts zero-size tensors and an empty file', () => {
    const file = parseSafetensors(rawFile({ e: { dtype: 'F32', shape: [0, 4], data_offsets: [0, 0] } }));
    expect(readFloat32(file.tensors.get('e')!).length).toBe(0);
    expect(parseSafetensors(encodeSafetensors([])).tensors.size).toBe(0);
  });
});

describe('malformed files are rejected with a typed error naming the problem', () => {
  const good = encodeSafetensors(
    [
      { name: 'w', dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(1) },
      { name: 'b', dtype: 'F32', shape: [4], data: new Float32Array(4) },
    ],
    { format: 'pt' },
  );
  const headerLen = new DataView(good.buffer).getUint32(0, true);

  it('truncated anywhere: inside the length, inside the header, at the header end, inside data', () => {
    for (const cut of [0, 1, 5, 7, 8, 9, 8 + (headerLen >> 1), 8 + headerLen, 8 + headerLen + 10, good.length - 1]) {
      expectError(() => parseSafetensors(good.subarray(0, cut), 'cut.safetensors'), TruncatedFileError, /cut\.safetensors: .*(too short|runs past the end|truncated)/);
    }
  });

  it('header length larger than the file', () => {
    expectError(() => parseSafetensors(rawFile({}, 0, 1000)), TruncatedFileError, /header length 1000 runs past the end of the 10-byte file/);
    // Absurd lengths are corrupt, not truncated.
    expectError(() => parseSafetensors(rawFile({}, 0, 2 ** 40)), InvalidHeaderError, /header length 1099511627776 exceeds/);
  });

  it('header length that lies short (JSON cut off) or is too small', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4, 10)), InvalidHeaderError, /not valid JSON/);
    expectError(() => parseSafetensors(rawFile('{}', 0, 0)), InvalidHeaderError, /too small/);
    // Too long but inside the file: the header swallows data bytes.
    const h = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const data = new Uint8Array(new Float32Array([1.5, -3]).buffer);
    const n = JSON.stringify(h).length;
    expectError(() => parseSafetensors(rawFile(h, data, n + 4)), InvalidHeaderError, /not valid (JSON|UTF-8)/);
  });

  it('non-JSON, non-UTF-8 and non-object headers', () => {
    expectError(() => parseSafetensors(rawFile('{not json}')), InvalidHeaderError, /not valid JSON/);
    expectError(() => parseSafetensors(rawFile('hello')), InvalidHeaderError, /does not start with "\{"/);
    const bad = rawFile('{"a":1}');
    bad[10] = 0xff;
    expectError(() => parseSafetensors(bad), InvalidHeaderError, /not valid UTF-8/);
    expectError(() => parseSafetensors(rawFile('[1,2]')), InvalidHeaderError, /not start with|not an object/);
    expectError(() => parseSafetensors(rawFile({ w: 3 })), InvalidHeaderError, /"w": header entry is not an object/);
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } })), InvalidHeaderError, /"shape" must be/);
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4)), InvalidHeaderError, /"data_offsets" must be/);
    expectError(() => parseSafetensors(rawFile({ __metadata__: { a: 1 } })), InvalidHeaderError, /__metadata__.*"a" is not a string/);
  });

  it('overlapping offsets', () => {
    const h = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expectError(() => parseSafetensors(rawFile(h, 12)), InvalidHeaderError, /tensor "b" data_offsets \[4, 12\] overlap tensor "a"/);
  });

  it('gaps and trailing bytes', () => {
    const h = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    expectError(() => parseSafetensors(rawFile(h, 12)), InvalidHeaderError, /"b" .* leave a gap of 4 bytes/);
    expectError(() => parseSafetensors(rawFile({ a: h.a }, 12)), InvalidHeaderError, /8 bytes after the last tensor/);
  });

  it('offsets out of bounds', () => {
    // Consistent with its shape but past the end: either truncated or lying; both are named.
    const h = { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [250], data_offsets: [16, 1016] } };
    expectError(() => parseSafetensors(rawFile(h, 32)), TruncatedFileError, /tensor "b" data_offsets \[16, 1016\] out of bounds/);
    // Far outside, leaving a gap: a header error.
    const g = { a: h.a, b: { dtype: 'F32', shape: [4], data_offsets: [1000, 1016] } };
    expectError(() => parseSafetensors(rawFile(g, 32)), InvalidHeaderError, /lie outside the 32-byte data section/);
    expectError(() => parseSafetensors(rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8)), InvalidHeaderError, /end before they begin/);
  });

  it('byte size not matching dtype * shape', () => {
    const h = { w: { dtype: 'F32', shape: [3, 2], data_offsets: [0, 16] } };
    expectError(() => parseSafetensors(rawFile(h, 16)), InvalidHeaderError, /"w": data_offsets \[0, 16\] span 16 bytes but F32 \[3, 2\] needs 24/);
  });

  it('unknown dtype', () => {
    const h = { w: { dtype: 'Q4_K', shape: [4], data_offsets: [0, 2] } };
    expectError(() => parseSafetensors(rawFile(h, 2), 'q.safetensors'), UnsupportedDtypeError, /q\.safetensors: tensor "w" has dtype "Q4_K"/);
  });

  it('random garbage never crashes, only throws CheckpointError', () => {
    let seed = 1;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 2000; i++) {
      const bytes = good.slice();
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      try {
        const f = parseSafetensors(bytes.subarray(0, Math.floor(rnd() * (bytes.length + 1))));
        for (const t of f.tensors.values()) if (t.dtype === 'F32') readFloat32(t);
      } catch (e) {
        expect(e).toBeInstanceOf(CheckpointError);
      }
    }
  });
});
