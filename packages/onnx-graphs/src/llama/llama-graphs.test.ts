// The LLaMA-family graphs against the float64 reference (core's llamaReferenceForward):
//   - the monolithic graph, prefill then decode with its KV cache;
//   - the weightless split graphs composed by hand the way the engine composes them (attention
//     units and FFN chunks on two sides, each side with its own KV cache, weights from
//     llamaFamily.bind()), with a mid-sequence plan change that rebuilds KV caches through `kv`;
//   - the weightless `block` graph and the constant per-layer graph against the sum of parts.
import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import {
  MONOLITHIC_IO,
  PRESETS,
  buildModelGraph,
  emptyLlamaReferenceCache,
  expectedTensors,
  llamaFamily,
  llamaReferenceForward,
  type Checkpoint,
  type Feeds,
  type LlamaConfig,
  type ModelConfig,
  type TensorLike,
  mulberry32,
} from '@splitwise/core';
import { buildLayerGraph, buildLmHeadGraph, buildSplitGraphs, graphSource } from '../graph-source.ts';
import { buildMonolithicGraph } from '../monolithic-graph.ts';
import {
  buildLayerGraph as buildGpt2LayerGraph,
  buildLmHeadGraph as buildGpt2LmHeadGraph,
  buildSplitGraphs as buildGpt2SplitGraphs,
} from '../split-graphs.ts';
import { buildLlamaMonolithicGraph } from './monolithic-graph.ts';
import { buildLlamaLayerGraph, buildLlamaLmHeadGraph, buildLlamaSplitGraphs } from './split-graphs.ts';

const TOL = 1e-4;

const rng = mulberry32;

/** Every tensor of expectedTensors(config), seeded small uniform values; norm weights around 1. */
function randomCheckpoint<C extends ModelConfig>(config: C, seed = 1): Checkpoint<C> {
  const rand = rng(seed), tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of expectedTensors(config)) {
    const n = shape.reduce((a, b) => a * b, 1), isNorm = /(norm|ln_\w+|ln_f)\.weight$/.test(name);
    const data = Float32Array.from({ length: n }, () => (isNorm ? 1 + 0.2 * (rand() - 0.5) : 0.3 * (rand() - 0.5)));
    tensors.set(name, { shape, data });
  }
  return { config, tensors };
}

type Session = ort.InferenceSession;
const create = (bytes: Uint8Array): Promise<Session> =>
  ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });

async function run(s: Session, feeds: Feeds): Promise<Record<string, Float32Array>> {
  const input: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) input[k] = new ort.Tensor(v.dtype, v.data, v.dims);
  const r = await s.run(input);
  return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.data as Float32Array]));
}

const f32 = (data: Float32Array, dims: number[]): TensorLike => ({ dtype: 'float32', dims, data });
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const add = (a: Float32Array, b: Float32Array): Float32Array => a.map((v, i) => v + b[i]!);
const rows = (x: Float32Array, E: number): Float32Array[] => Array.from({ length: x.length / E }, (_, t) => x.slice(t * E, (t + 1) * E));
const concatRows = (rs: Float32Array[]): Float32Array => {
  const out = new Float32Array(rs.reduce((a, r) => a + r.length, 0));
  let o = 0;
  for (const r of rs) (out.set(r, o), (o += r.length));
  return out;
};
/** Rows of unit `i` of a [u, P, hd] cache. */
const unitRows = (cache: Float32Array, P: number, hd: number, i: number): Float32Array => cache.subarray(i * P * hd, (i + 1) * P * hd);

/** Byte equality of two graphs (toEqual walks a Uint8Array element by element: minutes for a 12 MB head). */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const PROMPT = [5, 17, 42, 7, 99, 230, 3];
const DECODE = [11, 250, 64, 8, 190];

interface Case {
  preset: 'llama-tiny' | 'qwen2-tiny';
  /** Attention units of the two sides before and after the plan change. */
  before: [number[], number[]];
  after: [number[], number[]];
  ffnChunks: number;
  chunks: [number[], number[]];
}

const CASES: Case[] = [
  // 4 KV groups of 2 query heads; sides own non-contiguous units; I = 150 in 4 uneven chunks
  { preset: 'llama-tiny', before: [[0, 2], [1, 3]], after: [[0, 1, 3], [2]], ffnChunks: 4, chunks: [[0, 3], [2, 1]] },
  // 2 KV groups of 3 query heads, q/k/v biases, tied head
  { preset: 'qwen2-tiny', before: [[1], [0]], after: [[0], [1]], ffnChunks: 3, chunks: [[1], [2, 0]] },
];

function referenceLogits(ckpt: Checkpoint<LlamaConfig>): Float32Array[] {
  const cache = emptyLlamaReferenceCache(ckpt.config);
  const out = llamaReferenceForward(ckpt, PROMPT, cache);
  for (const id of DECODE) out.push(...llamaReferenceForward(ckpt, [id], cache));
  return out;
}

describe.each(CASES)('LLaMA-family graphs: $preset', (tc) => {
  const c = PRESETS[tc.preset] as LlamaConfig;
  const ckpt = randomCheckpoint(c, 7);
  const ref = referenceLogits(ckpt);
  const E = c.nEmbd, hd = c.headDim, V = c.vocabSize;

  it('has the shape the case means', () => {
    expect(c.family).toBe('llama');
    expect(c.nHead / c.nKvHead).toBeGreaterThan(1);
    expect(c.qkvBias).toBe(tc.preset === 'qwen2-tiny');
    expect(c.tieWordEmbeddings).toBe(tc.preset === 'qwen2-tiny');
    expect(ckpt.tensors.has('lm_head.weight')).toBe(!c.tieWordEmbeddings);
  });

  it('monolithic graph = float64 reference, prefill then decode with the KV cache', async () => {
    const s = await create(buildMonolithicGraph(ckpt));
    let kv: Array<{ k: Float32Array; v: Float32Array }> = Array.from({ length: c.nLayer }, () => ({ k: new Float32Array(0), v: new Float32Array(0) }));
    let P = 0, worst = 0, i = 0;
    for (const ids of [PROMPT, ...DECODE.map((d) => [d])]) {
      const feeds: Feeds = { [MONOLITHIC_IO.inputIds]: { dtype: 'int64', dims: [ids.length], data: BigInt64Array.from(ids.map(BigInt)) } };
      kv.forEach((e, l) => {
        feeds[MONOLITHIC_IO.pastKey(l)] = f32(e.k, [c.nKvHead, P, hd]);
        feeds[MONOLITHIC_IO.pastValue(l)] = f32(e.v, [c.nKvHead, P, hd]);
      });
      const r = await run(s, feeds);
      expect(r[MONOLITHIC_IO.logits]!.length).toBe(ids.length * V);
      for (let t = 0; t < ids.length; t++) worst = Math.max(worst, maxDiff(r[MONOLITHIC_IO.logits]!.subarray(t * V, (t + 1) * V), ref[i++]!));
      kv = kv.map((_, l) => ({ k: r[MONOLITHIC_IO.presentKey(l)]!, v: r[MONOLITHIC_IO.presentValue(l)]! }));
      P += ids.length;
      expect(kv[0]!.k.length).toBe(c.nKvHead * P * hd);
    }
    console.log(`${tc.preset} monolithic vs reference: max |Δlogit| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(TOL);
    await s.release();
  });

  it('split graphs composed as the engine does = reference; kv rebuild, block and layer graphs = sum of parts', async () => {
    const graph = buildModelGraph(c, { ffnChunks: tc.ffnChunks });
    const bind = llamaFamily.bind(ckpt, graph);
    const g = buildSplitGraphs(c);
    const [attn, ffn, block, kvGraph, head] = await Promise.all([
      create(g.attn),
      create(g.ffn),
      create(g.block),
      create(g.kv),
      create(buildLmHeadGraph(ckpt)),
    ]);
    const layers = await Promise.all(Array.from({ length: c.nLayer }, (_, l) => create(buildLayerGraph(ckpt, l))));

    // bind() feeds exactly the graphs' weight inputs
    const names = (s: Session): string[] => [...s.inputNames].sort();
    const withIo = (f: Feeds, io: string[]): string[] => [...Object.keys(f), ...io].sort();
    expect(names(attn)).toEqual(withIo(bind.attn(0, [0]), ['x', 'positions', 'past_k', 'past_v']));
    expect(names(kvGraph)).toEqual(withIo(bind.kv(0, [0]), ['x', 'positions']));
    expect(names(ffn)).toEqual(withIo(bind.ffn(0, [0]), ['x']));
    expect(names(block)).toEqual(withIo(bind.block(0), ['x', 'positions', 'past_k', 'past_v']));
    expect(names(layers[0]!)).toEqual(['past_k', 'past_v', 'positions', 'x']);
    expect(names(head)).toEqual(['x']);

    interface Side { units: number[]; k: Float32Array[]; v: Float32Array[] }
    const side = (units: number[]): Side => ({ units, k: Array.from({ length: c.nLayer }, () => new Float32Array(0)), v: Array.from({ length: c.nLayer }, () => new Float32Array(0)) });
    let sides = [side(tc.before[0]), side(tc.before[1])];
    const full = side(Array.from({ length: c.nKvHead }, (_, u) => u)); // the block graph's cache
    const fullL = side(full.units); // the constant layer graphs' cache
    const checkpointRows: Float32Array[][] = Array.from({ length: c.nLayer }, () => []); // residual at each layer's input
    let P = 0, i = 0;
    const worst = { split: 0, block: 0, layer: 0, blockKv: 0, rebuild: 0 };

    const logitsOf = async (x: Float32Array): Promise<Float32Array[]> => {
      const out: Float32Array[] = [];
      for (const row of rows(x, E)) out.push((await run(head, { x: f32(row, [1, E]) })).logits!);
      return out;
    };

    for (const [step, ids] of [PROMPT, ...DECODE.map((d) => [d])].entries()) {
      if (step === 3) {
        // plan change mid-sequence: each side rebuilds the caches of its new units from the checkpoint
        const next = [side(tc.after[0]), side(tc.after[1])];
        for (let l = 0; l < c.nLayer; l++) {
          const x = concatRows(checkpointRows[l]!);
          for (const s of next) {
            const r = await run(kvGraph, { x: f32(x, [P, E]), ...bind.positions(0, P), ...bind.kv(l, s.units) });
            s.k[l] = r.k!;
            s.v[l] = r.v!;
            expect(r.k!.length).toBe(s.units.length * P * hd);
            // the rebuilt rows equal what the old owner computed incrementally
            s.units.forEach((u, j) => {
              const old = sides.find((o) => o.units.includes(u))!, at = old.units.indexOf(u);
              worst.rebuild = Math.max(
                worst.rebuild,
                maxDiff(unitRows(r.k!, P, hd, j), unitRows(old.k[l]!, P, hd, at)),
                maxDiff(unitRows(r.v!, P, hd, j), unitRows(old.v[l]!, P, hd, at)),
              );
            });
          }
        }
        sides = next;
      }

      const T = ids.length, pos = bind.positions(P, T);
      let x = llamaFamily.embed(ckpt.tensors, c, ids, P);
      let xb = x, xl = x;
      for (let l = 0; l < c.nLayer; l++) {
        checkpointRows[l]!.push(...rows(x, E));
        // attention: the edge adds its partial sum, then the cloud's
        const ys: Float32Array[] = [];
        for (const s of sides) {
          const u = s.units.length;
          const r = await run(attn, {
            x: f32(x, [T, E]),
            ...pos,
            ...bind.attn(l, s.units),
            past_k: f32(s.k[l]!, [u, P, hd]),
            past_v: f32(s.v[l]!, [u, P, hd]),
          });
          s.k[l] = r.present_k!;
          s.v[l] = r.present_v!;
          expect(r.present_k!.length).toBe(u * (P + T) * hd);
          ys.push(r.y!);
        }
        x = add(add(x, ys[0]!), ys[1]!);
        const [fa, fb] = await Promise.all(tc.chunks.map((ch) => run(ffn, { x: f32(x, [T, E]), ...bind.ffn(l, ch) })));
        x = add(add(x, fa!.y!), fb!.y!);

        // the whole layer in one call: weightless block, and the layer graph with constant weights
        const nu = c.nKvHead;
        const rb = await run(block, { x: f32(xb, [T, E]), ...pos, ...bind.block(l), past_k: f32(full.k[l]!, [nu, P, hd]), past_v: f32(full.v[l]!, [nu, P, hd]) });
        const rl = await run(layers[l]!, { x: f32(xl, [T, E]), ...pos, past_k: f32(fullL.k[l]!, [nu, P, hd]), past_v: f32(fullL.v[l]!, [nu, P, hd]) });
        [full.k[l], full.v[l], fullL.k[l], fullL.v[l]] = [rb.present_k!, rb.present_v!, rl.present_k!, rl.present_v!];
        xb = rb.x_out!;
        xl = rl.x_out!;
        worst.block = Math.max(worst.block, maxDiff(xb, x));
        worst.layer = Math.max(worst.layer, maxDiff(xl, x));
        // the full cache's unit rows = the sides' caches
        for (const s of sides) {
          s.units.forEach((u, j) => {
            for (const f of [full, fullL]) {
              worst.blockKv = Math.max(
                worst.blockKv,
                maxDiff(unitRows(f.k[l]!, P + T, hd, u), unitRows(s.k[l]!, P + T, hd, j)),
                maxDiff(unitRows(f.v[l]!, P + T, hd, u), unitRows(s.v[l]!, P + T, hd, j)),
              );
            }
          });
        }
      }
      const [ls, lb, ll] = await Promise.all([logitsOf(x), logitsOf(xb), logitsOf(xl)]);
      for (let t = 0; t < T; t++, i++) {
        worst.split = Math.max(worst.split, maxDiff(ls[t]!, ref[i]!));
        worst.block = Math.max(worst.block, maxDiff(lb[t]!, ref[i]!));
        worst.layer = Math.max(worst.layer, maxDiff(ll[t]!, ref[i]!));
      }
      P += T;
    }
    expect(i).toBe(PROMPT.length + DECODE.length);
    console.log(
      `${tc.preset} split vs reference: max |Δlogit| = ${worst.split.toExponential(2)}; block/layer graphs vs parts and reference: ` +
        `${worst.block.toExponential(2)} / ${worst.layer.toExponential(2)}; their KV vs the sides': ${worst.blockKv.toExponential(2)}; ` +
        `kv rebuild vs incremental cache: ${worst.rebuild.toExponential(2)}`,
    );
    expect(worst.split).toBeLessThan(TOL);
    expect(worst.block).toBeLessThan(TOL);
    expect(worst.layer).toBeLessThan(TOL);
    expect(worst.blockKv).toBeLessThan(1e-5);
    expect(worst.rebuild).toBeLessThan(1e-5);
    await Promise.all([attn, ffn, block, kvGraph, head, ...layers].map((s) => s.release()));
  });

  it('any subset of units, in any order of calls, sums to the whole attention', async () => {
    // one prefill of 4 rows at positions 3..6 over a random past: the sum over singletons = all units
    const bind = llamaFamily.bind(ckpt, buildModelGraph(c, { ffnChunks: tc.ffnChunks }));
    const attn = await create(buildLlamaSplitGraphs(c).attn);
    const rand = rng(3), T = 4, P = 3, U = c.nKvHead;
    const x = Float32Array.from({ length: T * E }, () => rand() - 0.5);
    const pastK = Float32Array.from({ length: U * P * hd }, () => rand() - 0.5);
    const pastV = Float32Array.from({ length: U * P * hd }, () => rand() - 0.5);
    const all = await run(attn, { x: f32(x, [T, E]), ...bind.positions(P, T), ...bind.attn(0, [...Array(U).keys()]), past_k: f32(pastK, [U, P, hd]), past_v: f32(pastV, [U, P, hd]) });
    let sum: Float32Array = new Float32Array(T * E);
    for (let u = U - 1; u >= 0; u--) {
      const r = await run(attn, {
        x: f32(x, [T, E]),
        ...bind.positions(P, T),
        ...bind.attn(0, [u]),
        past_k: f32(unitRows(pastK, P, hd, u).slice(), [1, P, hd]),
        past_v: f32(unitRows(pastV, P, hd, u).slice(), [1, P, hd]),
      });
      sum = add(sum, r.y!);
      expect(maxDiff(r.present_k!, unitRows(all.present_k!, P + T, hd, u))).toBeLessThan(1e-6);
    }
    expect(maxDiff(sum, all.y!)).toBeLessThan(1e-5);
    await attn.release();
  });

  it('dispatches by family: graphSource and the builders pick the LLaMA graphs', () => {
    const src = graphSource(ckpt), own = buildLlamaSplitGraphs(c);
    for (const k of ['attn', 'ffn', 'block', 'kv'] as const) expect(same(src.graphs[k], own[k])).toBe(true);
    expect(same(src.layerGraph(1), buildLlamaLayerGraph(ckpt, 1))).toBe(true);
    expect(same(src.lmHeadGraph(), buildLlamaLmHeadGraph(ckpt))).toBe(true);
    expect(same(buildMonolithicGraph(ckpt), buildLlamaMonolithicGraph(ckpt))).toBe(true);
  });
});

describe('family dispatch leaves GPT-2 as it was', () => {
  it('builds the GPT-2 graphs for a GPT-2 config', () => {
    const c = PRESETS.tiny;
    expect(c.family).toBe('gpt2');
    const ckpt = randomCheckpoint(c, 2);
    const src = graphSource(ckpt), own = buildGpt2SplitGraphs(c);
    for (const k of ['attn', 'ffn', 'block', 'kv'] as const) expect(same(src.graphs[k], own[k])).toBe(true);
    expect(same(src.layerGraph(0), buildGpt2LayerGraph(ckpt, 0))).toBe(true);
    expect(same(src.lmHeadGraph(), buildGpt2LmHeadGraph(ckpt))).toBe(true);
    expect(buildMonolithicGraph(ckpt).byteLength).toBeGreaterThan(4 * c.vocabSize * c.nEmbd);
    // the LLaMA builders refuse a GPT-2 config
    expect(() => buildLlamaSplitGraphs(c as unknown as LlamaConfig)).toThrow(/llama family/);
    expect(() => buildLlamaMonolithicGraph(ckpt as unknown as Checkpoint<LlamaConfig>)).toThrow(/llama family/);
  });
});
