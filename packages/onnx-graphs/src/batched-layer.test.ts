// The batched layer graphs of the cloud's continuous batcher: a row's answer is bit for bit the
// same whatever it is batched with, its keys and values are bit for bit the `kv` graph's on that
// one row (what a KV rebuild from the checkpoint makes), and the layer equals the `block` graph to
// float tolerance. For both families, at test sizes and at gpt2-small / smollm-135m widths.
import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { buildModelGraph, expectedTensors, familyOf, PRESETS, type Checkpoint, type Feeds, type ModelConfig, type TensorLike, mulberry32 } from '@splitwise/core';
import { batchedLayerGraphs, rowValue } from './batched-layer.ts';
import { graphSource } from './graph-source.ts';

const rng = mulberry32;

function randomCheckpoint<C extends ModelConfig>(config: C, seed: number): Checkpoint<C> {
  const rand = rng(seed), tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of expectedTensors(config)) {
    const n = shape.reduce((a, b) => a * b, 1), isNorm = /(norm|ln_\w+|ln_f)\.weight$/.test(name);
    tensors.set(name, { shape, data: Float32Array.from({ length: n }, () => (isNorm ? 1 + 0.2 * (rand() - 0.5) : 0.3 * (rand() - 0.5))) });
  }
  return { config, tensors };
}

// as the server's runtime makes them: prepacking off only for graphs labelled "layer."
const create = (bytes: Uint8Array, prepack = true): Promise<ort.InferenceSession> =>
  ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, ...(prepack ? {} : { disable_prepacking: '1' }) } },
  });

async function run(s: ort.InferenceSession, feeds: Feeds): Promise<Record<string, Float32Array>> {
  const input: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) input[k] = new ort.Tensor(v.dtype, v.data, v.dims);
  const r = await s.run(input);
  return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.data as Float32Array]));
}

const f32 = (data: Float32Array, dims: number[]): TensorLike => ({ dtype: 'float32', dims, data });
const bitEqual = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

const CASES: Array<[string, ModelConfig]> = [
  ['tiny', PRESETS.tiny],
  ['llama-tiny', PRESETS['llama-tiny']],
  ['qwen2-tiny', PRESETS['qwen2-tiny']],
  ['gpt2-small width, 1 layer', { ...PRESETS.gpt2, nLayer: 1, vocabSize: 512 }],
  ['smollm-135m width, 1 layer', { ...PRESETS['smollm-135m'], nLayer: 1, vocabSize: 512 }],
];

describe.each(CASES)('batched layer graphs: %s', (_, config) => {
  it('rows answer alike in any batch, keys and values equal the kv graph, and the layer equals the block graph', async () => {
    const ckpt = randomCheckpoint(config, 11), graph = buildModelGraph(config), c = ckpt.config;
    const E = c.nEmbd, hd = c.headDim, U = graph.attnUnits, l = c.nLayer - 1;
    const binding = familyOf(c).bind(ckpt as never, graph), g = batchedLayerGraphs(ckpt, graph), src = graphSource(ckpt);
    const front = await create(g.front(l)), back = await create(g.back(l));
    const kvGraph = await create(src.graphs.kv, false), blockGraph = await create(src.graphs.block, false);
    const all = Array.from({ length: U }, (_, i) => i);
    const rand = rng(5);
    // six sequences, each with its own cache length
    const seqs = [0, 7, 1, 30, 3, 12].map((P) => ({
      P,
      x: Float32Array.from({ length: E }, () => 2 * (rand() - 0.5)),
      pastK: Float32Array.from({ length: U * P * hd }, () => rand() - 0.5),
      pastV: Float32Array.from({ length: U * P * hd }, () => rand() - 0.5),
    }));
    const layer = async (rows: typeof seqs) => {
      const B = rows.length, x = new Float32Array(B * E);
      rows.forEach((s, i) => x.set(s.x, i * E));
      const q = (await run(front, { x: f32(x, [B, E]) })).q!, mq = q.length / B;
      const feeds: Feeds = { ...g.coreWeights(l) };
      rows.forEach((s, i) => {
        feeds[rowValue('x', i)] = f32(s.x, [1, E]);
        feeds[rowValue('q', i)] = f32(q.slice(i * mq, (i + 1) * mq), [1, mq]);
        feeds[rowValue('past_k', i)] = f32(s.pastK, [U, s.P, hd]);
        feeds[rowValue('past_v', i)] = f32(s.pastV, [U, s.P, hd]);
        for (const [k, t] of Object.entries(binding.positions(s.P, 1))) feeds[rowValue(k, i)] = t;
      });
      const core = await run(await create(g.core(B)), feeds);
      const xOut = (await run(back, { x: f32(x, [B, E]), ctx: f32(core.ctx!, [B, mq]) })).x_out!;
      return rows.map((_, i) => ({ x: xOut.slice(i * E, (i + 1) * E), k: core[rowValue('present_k', i)]!, v: core[rowValue('present_v', i)]! }));
    };
    const alone = await Promise.all(seqs.map((s) => layer([s])));
    for (const B of [2, 3, 6]) {
      const together = await layer(seqs.slice(0, B));
      together.forEach((r, i) => {
        expect(bitEqual(r.x, alone[i]![0]!.x), `B=${B} row ${i} x_out`).toBe(true);
        expect(bitEqual(r.k, alone[i]![0]!.k), `B=${B} row ${i} present_k`).toBe(true);
        expect(bitEqual(r.v, alone[i]![0]!.v), `B=${B} row ${i} present_v`).toBe(true);
      });
    }
    let worst = 0;
    for (const [i, s] of seqs.entries()) {
      const mine = alone[i]![0]!;
      // the new position's keys and values: the kv graph's on this one row, bit for bit; the past is kept
      const kv = await run(kvGraph, { x: f32(s.x, [1, E]), ...binding.positions(s.P, 1), ...binding.kv(l, all) });
      for (let u = 0; u < U; u++) {
        const at = (u * (s.P + 1) + s.P) * hd;
        expect(bitEqual(mine.k.subarray(at, at + hd), kv.k!.subarray(u * hd, (u + 1) * hd)), `seq ${i} unit ${u} key`).toBe(true);
        expect(bitEqual(mine.v.subarray(at, at + hd), kv.v!.subarray(u * hd, (u + 1) * hd)), `seq ${i} unit ${u} value`).toBe(true);
        expect(bitEqual(mine.k.subarray(u * (s.P + 1) * hd, at), s.pastK.subarray(u * s.P * hd, (u + 1) * s.P * hd))).toBe(true);
      }
      const block = await run(blockGraph, { x: f32(s.x, [1, E]), ...binding.positions(s.P, 1), past_k: f32(s.pastK, [U, s.P, hd]), past_v: f32(s.pastV, [U, s.P, hd]), ...binding.block(l) });
      worst = Math.max(worst, maxDiff(mine.x, block.x_out!));
      expect(bitEqual(mine.k, block.present_k!), `seq ${i}: keys equal the block graph's`).toBe(true);
    }
    expect(worst).toBeLessThan(1e-4);
  }, 60_000);
});

it('refuses a layer the model does not have', () => {
  const config = PRESETS.tiny, ckpt = randomCheckpoint(config, 1), graph = buildModelGraph(config);
  const g = batchedLayerGraphs(ckpt, graph);
  expect(() => g.front(config.nLayer)).toThrow();
});
