// Quantized products (linear.ts) on both runtimes: onnxruntime-node's MLAS kernels and
// onnxruntime-web's WASM build (run here in Node), against a float64 product of the dequantized
// weights, for int8 and q4, fp32 and int8 activations, with K segments that need padding. And the
// whole quantized model: one graph gives the same logits on both runtimes, so a browser edge and a
// Node cloud compute one quantized model.
import { describe, expect, it } from 'vitest';
import ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import {
  MONOLITHIC_IO,
  PRESETS,
  QUANT_BLOCK,
  dequantizeMatrix,
  expectedTensors,
  quantizeCheckpoint,
  quantizedFeeds,
  quantizeMatrix,
  readQuantizedFeed,
  type Checkpoint,
  type ModelConfig,
  type QuantActivations,
  type TensorLike,
  mulberry32,
} from '@splitwise/core';
import { GraphBuilder } from './graph-builder.ts';
import { linear, quantizedInitializer } from './linear.ts';
import { buildMonolithicGraph } from './monolithic-graph.ts';

ortWeb.env.wasm.numThreads = 1;
ortWeb.env.logLevel = 'error';

/** Seeded uniform numbers in [-0.5, 0.5). */
const rng = (seed: number): (() => number) => {
  const u = mulberry32(seed);
  return () => u() - 0.5;
};

type Runtime = 'node' | 'wasm';
async function run(runtime: Runtime, model: Uint8Array, feeds: Record<string, TensorLike>): Promise<Record<string, Float32Array>> {
  const ort = (runtime === 'node' ? ortNode : ortWeb) as typeof ortNode;
  const s = await ort.InferenceSession.create(model, runtime === 'node' ? { executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3 } : { executionProviders: ['wasm'], logSeverityLevel: 3 });
  const input: Record<string, ortNode.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) input[k] = new ort.Tensor(v.dtype, v.data, v.dims);
  const r = await s.run(input);
  await s.release();
  return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.data as Float32Array]));
}

/** What the graph quantizes an activation row to (int8 activations): per 32-block of the padded layout. */
function quantizeActivations(x: Float32Array, T: number, segments: number[]): Float64Array {
  const K = segments.reduce((a, w) => a + w, 0), out = new Float64Array(T * K);
  for (let t = 0; t < T; t++) {
    let k0 = 0;
    for (const w of segments) {
      for (let b = 0; b < w; b += QUANT_BLOCK) {
        const n = Math.min(QUANT_BLOCK, w - b);
        let amax = 0;
        for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(x[t * K + k0 + b + i]!));
        const s = Math.fround(Math.max(Math.fround(amax / 127), 1e-30));
        for (let i = 0; i < n; i++) out[t * K + k0 + b + i] = Math.round(Math.fround(x[t * K + k0 + b + i]! / s)) * s;
      }
      k0 += w;
    }
  }
  return out;
}

describe('one quantized product, both runtimes', () => {
  const T = 3, N = 40;
  for (const segments of [[75], [16, 16, 43, 43]]) {
    const K = segments.reduce((a, w) => a + w, 0), r = rng(K);
    const W = Float32Array.from({ length: K * N }, () => r());
    const x = Float32Array.from({ length: T * K }, (_, i) => r() * (i % 11 === 0 ? 8 : 1));
    for (const p of ['int8', 'q4'] as const) {
      for (const act of ['fp32', 'int8'] as const) {
        it(`${p}, ${act} activations, segments [${segments.join(', ')}]: node = wasm = float64 product of the dequantized weights`, async () => {
          const q = quantizeMatrix(W, K, N, p, segments);
          const b = new GraphBuilder('linear');
          b.int8Activations = act === 'int8';
          const xin = b.input('x', 'float32', ['T', K]);
          b.output(linear(b, xin, quantizedInitializer(b, 'w', readQuantizedFeed(quantizedFeeds('w', q), 'w')!)), 'y', 'float32', ['T', N]);
          const model = b.toBytes();
          const Wd = dequantizeMatrix(q), xa = act === 'int8' ? quantizeActivations(x, T, segments) : Float64Array.from(x);
          const ref = new Float64Array(T * N);
          for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) ref[t * N + n]! += xa[t * K + k]! * Wd[k * N + n]!;
          const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          const got: Record<Runtime, Float32Array> = {
            node: (await run('node', model, { x: { dtype: 'float32', dims: [T, K], data: x } })).y!,
            wasm: (await run('wasm', model, { x: { dtype: 'float32', dims: [T, K], data: x } })).y!,
          };
          for (const rt of ['node', 'wasm'] as const) {
            let worst = 0;
            for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[rt][i]! - ref[i]!));
            expect(worst / scale, rt).toBeLessThan(2e-6);
          }
        });
      }
    }
  }
});

describe('a quantized model gives the same logits on onnxruntime-node and onnxruntime-web', () => {
  function randomCheckpoint(c: ModelConfig, seed: number): Checkpoint {
    const r = rng(seed), tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, shape] of expectedTensors(c)) {
      const norm = /(norm|ln_\w+|ln_f)\.weight$/.test(name);
      tensors.set(name, { shape, data: Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => (norm ? 1 + 0.2 * r() : 0.3 * r())) });
    }
    return { config: c, tensors };
  }
  const ids = [5, 17, 42, 7, 99, 230, 3];
  for (const preset of ['tiny', 'llama-tiny'] as const) {
    const c = PRESETS[preset] as ModelConfig;
    const ckpt = randomCheckpoint(c, 4);
    for (const p of ['int8', 'q4'] as const) {
      for (const activations of ['fp32', 'int8'] as QuantActivations[]) {
        it(`${preset}, ${p}, ${activations} activations`, async () => {
          const model = buildMonolithicGraph(quantizeCheckpoint(ckpt, p, { activations }));
          const feeds: Record<string, TensorLike> = { [MONOLITHIC_IO.inputIds]: { dtype: 'int64', dims: [ids.length], data: BigInt64Array.from(ids.map(BigInt)) } };
          for (let l = 0; l < c.nLayer; l++) {
            feeds[MONOLITHIC_IO.pastKey(l)] = { dtype: 'float32', dims: [c.nKvHead, 0, c.headDim], data: new Float32Array(0) };
            feeds[MONOLITHIC_IO.pastValue(l)] = { dtype: 'float32', dims: [c.nKvHead, 0, c.headDim], data: new Float32Array(0) };
          }
          const [a, b] = [(await run('node', model, feeds))[MONOLITHIC_IO.logits]!, (await run('wasm', model, feeds))[MONOLITHIC_IO.logits]!];
          let worst = 0;
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
          expect(worst).toBeLessThan(1e-4);
          expect(a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(0.1);
        });
      }
    }
  }
});
