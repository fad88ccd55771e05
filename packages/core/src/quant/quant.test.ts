// The quantized weight layout: int8 per output channel, q4 per 32-block, K cut into segments that
// each start a block; what a subset gathers is the same quantized tensor, never re-quantized.
import { describe, expect, it } from 'vitest';
import { QuantizationError } from '../errors.ts';
import { PRESETS, bytesPerWeight, decodeWeightBytes, gatherColumns, gatherRows, parameterCount, quantizedMatrixBytes, weightBytes } from '../arch/index.ts';
import { buildModelGraph } from '../graph/model-graph.ts';
import { QUANTIZED_LM_HEAD, lmHead, type Checkpoint } from '../model/checkpoint.ts';
import { dequantizeMatrix, gatherQuantizedColumns, gatherQuantizedRows, heldBytes, packZeroPoints, quantizedFeeds, quantizeMatrix, readQuantizedFeed } from './matrix.ts';
import { parseWeightPrecision, projectionSegments, quantizeCheckpoint } from './checkpoint.ts';
import { familyOf } from '../arch/index.ts';
import { mulberry32 } from '../util/mulberry32.ts';

/** Seeded uniform numbers in [-0.5, 0.5). */
const rng = (seed: number): (() => number) => {
  const u = mulberry32(seed);
  return () => u() - 0.5;
};
const matrix = (K: number, N: number, seed = 1): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: K * N }, (_, i) => r() * (1 + (i % 7)));
};

describe('quantizeMatrix', () => {
  const K = 75, N = 10, segments = [16, 16, 43], W = matrix(K, N);

  it('int8: symmetric per output channel, error at most half a step', () => {
    const q = quantizeMatrix(W, K, N, 'int8', segments);
    const nb = 1 + 1 + 2; // 16 -> 1 block, 16 -> 1, 43 -> 2
    expect(q.data.length).toBe(N * nb * 32);
    expect(q.zeroPoints).toBeUndefined();
    const back = dequantizeMatrix(q);
    for (let n = 0; n < N; n++) {
      const s = q.scales[n * nb]!;
      for (let b = 0; b < nb; b++) expect(q.scales[n * nb + b]).toBe(s); // one scale per channel
      let amax = 0;
      for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(W[k * N + n]!));
      expect(s).toBeCloseTo(amax / 127, 6);
      for (let k = 0; k < K; k++) expect(Math.abs(back[k * N + n]! - W[k * N + n]!)).toBeLessThanOrEqual(s / 2 + 1e-7);
    }
  });

  for (const symmetric of [false, true]) {
    it(`q4 ${symmetric ? 'symmetric' : 'with zero points'}: error at most half a block's step, padding is exactly zero`, () => {
      const q = quantizeMatrix(W, K, N, 'q4', segments, { symmetric });
      expect(q.zeroPoints === undefined).toBe(symmetric);
      const back = dequantizeMatrix(q), nb = 4;
      let k0 = 0, b0 = 0;
      for (const w of segments) {
        for (let i = 0; i < w; i++) {
          for (let n = 0; n < N; n++) {
            const s = q.scales[n * nb + b0 + Math.floor(i / 32)]!;
            expect(Math.abs(back[(k0 + i) * N + n]! - W[(k0 + i) * N + n]!)).toBeLessThanOrEqual(s / 2 + 1e-6);
          }
        }
        k0 += w;
        b0 += Math.ceil(w / 32);
      }
      expect(heldBytes(q)).toBe(quantizedMatrixBytes('q4', N, segments) - (symmetric ? N * 2 : 0));
    });
  }

  it('reads an [out, in] matrix (the LM head) as the same tensor as its transpose', () => {
    const T = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) T[n * K + k] = W[k * N + n]!;
    for (const p of ['int8', 'q4'] as const) {
      const a = quantizeMatrix(W, K, N, p, [K]), b = quantizeMatrix(T, K, N, p, [K], { layout: 'out-in' });
      expect(b.data).toEqual(a.data);
      expect(b.scales).toEqual(a.scales);
    }
  });

  it('refuses what it cannot quantize, with typed errors', () => {
    expect(() => quantizeMatrix(W, K, N, 'int4' as never)).toThrow(QuantizationError);
    expect(() => quantizeMatrix(W.subarray(1), K, N, 'int8')).toThrow(QuantizationError);
    expect(() => quantizeMatrix(W, K, N, 'int8', [16, 16])).toThrow(QuantizationError);
    expect(() => parseWeightPrecision('fp16')).toThrow(/fp32, int8, q4/);
  });
});

describe('a subset of a quantized matrix is the same quantized tensor', () => {
  const K = 96, N = 24, segments = [24, 24, 24, 24], W = matrix(K, N, 3);
  for (const p of ['int8', 'q4'] as const) {
    const q = quantizeMatrix(W, K, N, p, segments);
    const full = dequantizeMatrix(q);

    it(`${p}: columns`, () => {
      const ranges = [{ start: 20, width: 4 }, { start: 2, width: 5 }];
      const sub = gatherQuantizedColumns(q, ranges);
      expect(sub.N).toBe(9);
      expect(dequantizeMatrix(sub)).toEqual(gatherColumns(full, K, N, ranges));
      expect(gatherQuantizedColumns(q, [{ start: 0, width: N }])).toBe(q); // all of it: no copy
    });

    it(`${p}: rows of whole segments, in any order`, () => {
      const ranges = [{ start: 72, width: 24 }, { start: 0, width: 48 }];
      const sub = gatherQuantizedRows(q, ranges);
      expect(sub.segments).toEqual([24, 24, 24]);
      expect(dequantizeMatrix(sub)).toEqual(gatherRows(full, N, ranges));
      expect(() => gatherQuantizedRows(q, [{ start: 8, width: 24 }])).toThrow(QuantizationError);
      expect(() => gatherQuantizedRows(q, [{ start: 24, width: 30 }])).toThrow(QuantizationError);
    });

    it(`${p}: as graph feeds and back`, () => {
      const f = quantizedFeeds('w_o', q), r = readQuantizedFeed(f, 'w_o')!;
      expect(r).toMatchObject({ bits: p === 'int8' ? 8 : 4, K, N, segments });
      expect(r.data.dims).toEqual([N, 4, p === 'int8' ? 32 : 16]);
      expect(r.zeroPoints?.data).toEqual(packZeroPoints(q));
      expect(readQuantizedFeed({ w: { dtype: 'float32', dims: [1], data: new Float32Array(1) } }, 'w')).toBeUndefined();
    });
  }
});

describe('quantizeCheckpoint', () => {
  const rand = rng(9);
  const fill = (c: (typeof PRESETS)['llama-tiny']): Checkpoint => {
    const tensors = new Map(familyOf(c).tensors(c).map((t) => {
      const shape = t.transposed ? [...t.storedShape].reverse() : t.storedShape;
      return [t.name, { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand()) }] as const;
    }));
    return { config: c, tensors };
  };

  it('quantizes every projection and the LM head, cut at the units and chunks a plan places', () => {
    const c = PRESETS['llama-tiny'], ckpt = fill(c), graph = buildModelGraph(c);
    const q = quantizeCheckpoint(ckpt, 'q4');
    expect(q.quantized).toMatchObject({ precision: 'q4', ffnChunks: graph.ffnChunks, activations: 'fp32', symmetric: false });
    const roles = familyOf(c).projections(c, 1);
    for (const r of roles) {
      expect(q.tensors.has(r.name)).toBe(false); // not kept in fp32
      expect(q.quantized!.matrices.get(r.name)!.segments).toEqual(projectionSegments(c, r, graph.ffnChunks));
    }
    expect(q.quantized!.matrices.get('layers.1.self_attn.o_proj.weight')!.segments).toEqual([16, 16, 16, 16]); // 4 KV groups of 2 heads of 8
    expect(q.quantized!.matrices.get('layers.1.mlp.down_proj.weight')!.segments).toEqual(graph.layers[1]!.ffnChunks.map((k) => k.width));
    expect(q.tensors.has('lm_head.weight')).toBe(false);
    expect(q.tensors.has('embed_tokens.weight')).toBe(true);
    expect(dequantizeMatrix(q.quantized!.matrices.get(QUANTIZED_LM_HEAD)!).length).toBe(lmHead(ckpt).length);
    expect(quantizeCheckpoint(ckpt, 'fp32')).toBe(ckpt);
    expect(quantizeCheckpoint(q, 'q4')).toBe(q);
    expect(() => quantizeCheckpoint(q, 'int8')).toThrow(QuantizationError);
    expect(() => quantizeCheckpoint(q, 'fp32')).toThrow(/needs the fp32 checkpoint/);
  });
});

describe('weight bytes per precision (what the policy reads)', () => {
  it('bytesPerWeight: fp32 4, int8 1.125, q4 0.640625', () => {
    expect([bytesPerWeight('fp32'), bytesPerWeight('int8'), bytesPerWeight('q4')]).toEqual([4, 1.125, 0.640625]);
  });
  it('weightBytes at fp32 is every parameter at 4 bytes; quantized models are smaller, decode reads less', () => {
    for (const c of [PRESETS.gpt2, PRESETS['smollm-135m'], PRESETS.stories260K]) {
      expect(weightBytes(c, 'fp32')).toBe(parameterCount(c) * 4);
      expect(weightBytes(c, 'int8')).toBeLessThan(weightBytes(c, 'fp32'));
      expect(weightBytes(c, 'q4')).toBeLessThan(weightBytes(c, 'int8'));
      expect(decodeWeightBytes(c, 'q4')).toBeLessThan(decodeWeightBytes(c, 'int8'));
    }
    // gpt2-small: 85M projection weights and the 38.6M LM head are read per token
    expect(decodeWeightBytes(PRESETS.gpt2, 'fp32') / 2 ** 20).toBeCloseTo(471.5, 0);
  });
});
