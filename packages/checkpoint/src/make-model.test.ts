import { describe, expect, it } from 'vitest';
import { PRESETS, expectedTensors } from '@splitwise/core';
import { fillNormal, makeRandomGpt2, randomGpt2Tensor, tensorRngState } from './make-model.ts';
import { encodeSafetensors } from './safetensors.ts';
import type { Gpt2Checkpoint } from '@splitwise/core';

const tiny = PRESETS.tiny;
const bytesOf = (c: Gpt2Checkpoint): Uint8Array =>
  encodeSafetensors([...c.tensors].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data })));

function fnv(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

// vitest's deep equality is far too slow for megabytes.
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function stats(a: Float32Array): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (const x of a) {
    s += x;
    s2 += x * x;
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean) };
}

describe('makeRandomGpt2', () => {
  it('same seed gives the same bytes; another seed different bytes', () => {
    const a = bytesOf(makeRandomGpt2(tiny, 7));
    expect(sameBytes(bytesOf(makeRandomGpt2(tiny, 7)), a)).toBe(true);
    const b = bytesOf(makeRandomGpt2(tiny, 8));
    expect(b.length).toBe(a.length);
    expect(sameBytes(a, b)).toBe(false);
  });

  it('is pinned bit for bit (guards determinism across platforms and versions)', () => {
    expect(fnv(bytesOf(makeRandomGpt2(tiny, 7)))).toBe(GOLDEN_TINY_SEED7);
    const w = randomGpt2Tensor(tiny, 123, 'h.0.attn.c_attn.weight', [4]);
    expect([...new Uint32Array(w.buffer)].map((x) => x.toString(16))).toEqual(GOLDEN_FIRST4);
  });

  it('tensors do not depend on generation order and differ between tensors', () => {
    const ckpt = makeRandomGpt2(tiny, 3);
    const name = 'h.1.mlp.c_fc.weight';
    expect(randomGpt2Tensor(tiny, 3, name, ckpt.tensors.get(name)!.shape)).toEqual(ckpt.tensors.get(name)!.data);
    expect(tensorRngState(3, 'h.0.ln_1.bias')).not.toEqual(tensorRngState(3, 'h.0.ln_2.bias'));
    expect(tensorRngState(3, 'a')).not.toEqual(tensorRngState(2 ** 32 + 3, 'a'));
  });

  it('has the GPT-2 init: N(0, .02), scaled c_proj, LN weight 1 + N(0, .1), nonzero biases', () => {
    const c = PRESETS.tiny;
    const ckpt = makeRandomGpt2(c, 1);
    expect([...ckpt.tensors.keys()]).toEqual([...expectedTensors(c).keys()]);
    const near = (a: Float32Array, mean: number, std: number): void => {
      const s = stats(a);
      expect(Math.abs(s.mean - mean)).toBeLessThan(std * 0.5);
      expect(Math.abs(s.std / std - 1)).toBeLessThan(0.25);
    };
    near(ckpt.tensors.get('wte.weight')!.data, 0, 0.02);
    near(ckpt.tensors.get('wpe.weight')!.data, 0, 0.02);
    near(ckpt.tensors.get('h.0.attn.c_attn.weight')!.data, 0, 0.02);
    near(ckpt.tensors.get('h.1.attn.c_proj.weight')!.data, 0, 0.02 / Math.sqrt(2 * c.nLayer));
    near(ckpt.tensors.get('h.1.mlp.c_proj.weight')!.data, 0, 0.02 / Math.sqrt(2 * c.nLayer));
    near(ckpt.tensors.get('h.0.ln_1.weight')!.data, 1, 0.1);
    near(ckpt.tensors.get('ln_f.bias')!.data, 0, 0.05);
    near(ckpt.tensors.get('h.0.mlp.c_fc.bias')!.data, 0, 0.02);
    for (const [, t] of ckpt.tensors) expect(t.data.every((x) => x !== 0 && Number.isFinite(x))).toBe(true);
  });

  it('draws standard normals (moments) fast', () => {
    const n = 20_000_000;
    const out = new Float32Array(n);
    const t0 = performance.now();
    fillNormal(out, tensorRngState(1, 'bench'), 0, 1);
    const dt = (performance.now() - t0) / 1000;
    console.log(`fillNormal: ${(n / dt / 1e6).toFixed(1)} M normals/s`);
    let s = 0;
    let s2 = 0;
    let s4 = 0;
    let tail = 0;
    for (let i = 0; i < n; i += 10) {
      const x = out[i]!;
      s += x;
      s2 += x * x;
      s4 += x * x * x * x;
      if (Math.abs(x) > 3) tail++;
    }
    const m = n / 10;
    expect(Math.abs(s / m)).toBeLessThan(0.005);
    expect(Math.abs(s2 / m - 1)).toBeLessThan(0.01);
    expect(Math.abs(s4 / m - 3)).toBeLessThan(0.05); // kurtosis of a normal
    expect(Math.abs(tail / m - 0.0027)).toBeLessThan(0.0005); // P(|x| > 3)
  });
});

// Recorded once on x86-64 Node 20; any change means the generator (or its seeding) changed.
const GOLDEN_TINY_SEED7 = '8b6f3ac5';
const GOLDEN_FIRST4 = ['3cafd690', 'bca970da', 'bc2ef4c5', '3cab7e39'];
