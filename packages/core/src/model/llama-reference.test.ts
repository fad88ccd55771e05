// Sanity of the float64 LLaMA reference on its own (the graphs are checked against it in
// packages/onnx-graphs/src/llama/llama-graphs.test.ts).
import { describe, expect, it } from 'vitest';
import { PRESETS, type LlamaConfig, type ModelConfig } from '../arch/index.ts';
import { expectedTensors, type Checkpoint, type Float32Tensor } from './checkpoint.ts';
import { emptyReferenceCache, referenceForward } from './gpt2-reference.ts';
import { emptyLlamaReferenceCache, emptyModelReferenceCache, llamaReferenceForward, modelReferenceForward } from './llama-reference.ts';

function randomCheckpoint<C extends ModelConfig>(config: C, seed: number): Checkpoint<C> {
  let a = seed >>> 0;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const tensors = new Map<string, Float32Tensor>();
  for (const [name, shape] of expectedTensors(config)) {
    const n = shape.reduce((x, y) => x * y, 1), isNorm = /(norm|ln_\w+|ln_f)\.weight$/.test(name);
    tensors.set(name, { shape, data: Float32Array.from({ length: n }, () => (isNorm ? 1 + 0.2 * (rand() - 0.5) : 0.3 * (rand() - 0.5))) });
  }
  return { config, tensors };
}

const IDS = [3, 141, 59, 26, 5, 35, 89, 79];
const run = (ckpt: Checkpoint<LlamaConfig>): Float32Array[] => llamaReferenceForward(ckpt, IDS, emptyLlamaReferenceCache(ckpt.config));
const maxDiff = (a: Float32Array[], b: Float32Array[]): number => Math.max(...a.map((r, t) => Math.max(...r.map((v, i) => Math.abs(v - b[t]![i]!)))));

/**
 * The same model without grouped-query attention: every query head h gets its own copy of KV head
 * floor(h / r) (columns of k_proj, v_proj and their biases). transformers' repeat_kv says this is
 * the same function.
 */
function repeatKv(ckpt: Checkpoint<LlamaConfig>): Checkpoint<LlamaConfig> {
  const c = ckpt.config, E = c.nEmbd, hd = c.headDim, r = c.nHead / c.nKvHead;
  const config: LlamaConfig = { ...c, nKvHead: c.nHead };
  const tensors = new Map(ckpt.tensors);
  for (let l = 0; l < c.nLayer; l++) {
    for (const n of ['k_proj', 'v_proj']) {
      const key = `layers.${l}.self_attn.${n}.weight`, W = ckpt.tensors.get(key)!.data, KV = c.nKvHead * hd, H = c.nHead * hd;
      const out = new Float32Array(E * H);
      for (let i = 0; i < E; i++) for (let h = 0; h < c.nHead; h++) for (let d = 0; d < hd; d++) out[i * H + h * hd + d] = W[i * KV + Math.floor(h / r) * hd + d]!;
      tensors.set(key, { shape: [E, H], data: out });
      if (c.qkvBias) {
        const bkey = `layers.${l}.self_attn.${n}.bias`, b = ckpt.tensors.get(bkey)!.data;
        tensors.set(bkey, { shape: [H], data: Float32Array.from({ length: H }, (_, j) => b[Math.floor(j / hd / r) * hd + (j % hd)]!) });
      }
    }
  }
  expect([...tensors.keys()].sort()).toEqual([...expectedTensors(config).keys()].sort());
  return { config, tensors };
}

describe.each(['llama-tiny', 'qwen2-tiny'] as const)('LLaMA float64 reference: %s', (preset) => {
  const c = PRESETS[preset] as LlamaConfig;
  const ckpt = randomCheckpoint(c, 11);
  const logits = run(ckpt);

  it('returns finite logits of every fed position, not all alike', () => {
    expect(logits).toHaveLength(IDS.length);
    for (const row of logits) {
      expect(row).toHaveLength(c.vocabSize);
      expect(row.every(Number.isFinite)).toBe(true);
    }
    const spread = Math.max(...logits[0]!) - Math.min(...logits[0]!);
    expect(spread).toBeGreaterThan(0.5);
  });

  it('grouped-query attention = multi-head attention with the KV heads repeated (nKvHead = nHead runs too)', () => {
    expect(c.nKvHead).toBeLessThan(c.nHead);
    const mha = repeatKv(ckpt);
    expect(mha.config.nKvHead).toBe(mha.config.nHead);
    expect(maxDiff(run(mha), logits)).toBeLessThan(1e-6);
  });

  it('prefill in one call = one token per call, and positions continue from the cache', () => {
    const cache = emptyLlamaReferenceCache(c);
    const stepwise = IDS.flatMap((id) => llamaReferenceForward(ckpt, [id], cache));
    expect(maxDiff(stepwise, logits)).toBe(0);
    expect(cache.keys[0]).toHaveLength(IDS.length);
    expect(cache.keys[0]![0]).toHaveLength(c.nKvHead * c.headDim);
  });

  it('RoPE is in play: another rope_theta changes the logits after the first position', () => {
    const other = run({ config: { ...c, ropeTheta: 10 }, tensors: ckpt.tensors });
    expect(maxDiff([other[0]!], [logits[0]!])).toBe(0); // position 0: every rotation is the identity
    expect(maxDiff(other.slice(1), logits.slice(1))).toBeGreaterThan(1e-2);
  });

  it('modelReferenceForward dispatches by family', () => {
    expect(maxDiff(modelReferenceForward(ckpt, IDS, emptyModelReferenceCache(c)), logits)).toBe(0);
  });
});

describe('modelReferenceForward on GPT-2', () => {
  it('is referenceForward', () => {
    const ckpt = randomCheckpoint(PRESETS.tiny, 5), ids = [1, 2, 3];
    const a = modelReferenceForward(ckpt, ids, emptyModelReferenceCache(ckpt.config));
    const b = referenceForward(ckpt, ids, emptyReferenceCache(ckpt.config));
    expect(maxDiff(a, b)).toBe(0);
  });
});
