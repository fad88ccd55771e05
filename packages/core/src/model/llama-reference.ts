// A plain-TypeScript LLaMA forward pass (LLaMA, Mistral without sliding window, Qwen2): the
// independent check on every LLaMA-family ONNX graph we generate. Written from transformers'
// modeling_llama.py / modeling_qwen2.py, in float64, with no ONNX and no code shared with the
// graphs. Like gpt2-reference.ts it exists to be obviously right, not fast.
//
//   x = embed_tokens[ids]
//   for each layer:  x = x + o_proj(attn(rms(x) * input_layernorm))
//                    x = x + down_proj(silu(gate_proj h) * up_proj h),  h = rms(x) * post_attention_layernorm
//   logits = (rms(x) * norm) @ lm_head^T        (lm_head = embed_tokens when tied)
//
// Grouped-query attention is done literally: query head h reads key/value head floor(h / r),
// r = nHead / nKvHead (transformers' repeat_kv). RoPE is HF's rotate_half form:
//   emb = concat(p * inv_freq, p * inv_freq),  q' = q * cos(emb) + rotate_half(q) * sin(emb),
//   rotate_half(x) = concat(-x[hd/2:], x[:hd/2]).
// Every projection is [in, out] in the engine's checkpoint (applied as x @ W).
import { requireFamily, type ModelConfig } from '../arch/index.ts';
import type { LlamaConfig } from '../arch/llama.ts';
import { lmHead, tensor, type Checkpoint } from './checkpoint.ts';
import { referenceForward } from './gpt2-reference.ts';

/**
 * Per-layer cache of keys (after RoPE) and values: one row of nKvHead * headDim per past position.
 * The same shape as the GPT-2 reference's cache (there nKvHead = nHead).
 */
export interface LlamaReferenceCache {
  keys: Float64Array[][]; // [layer][position] -> nKvHead * headDim (KV head-major)
  values: Float64Array[][];
}

export function emptyLlamaReferenceCache(c: Pick<LlamaConfig, 'nLayer'>): LlamaReferenceCache {
  return { keys: Array.from({ length: c.nLayer }, () => []), values: Array.from({ length: c.nLayer }, () => []) };
}

/** x / sqrt(mean(x^2) + eps) * weight. */
function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  ms /= x.length;
  const inv = 1 / Math.sqrt(ms + eps);
  return x.map((v, i) => v * inv * weight[i]!);
}

/** y = x @ W (+ bias), W stored [in, out]. */
function linear(x: Float64Array, W: Float32Array, out: number, bias?: Float32Array): Float64Array {
  const y = bias ? Float64Array.from(bias) : new Float64Array(out);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!, row = i * out;
    for (let j = 0; j < out; j++) y[j]! += xi * W[row + j]!;
  }
  return y;
}

const silu = (z: number): number => z / (1 + Math.exp(-z));

/**
 * Rotate every head of `x` (heads of hd, head-major) for absolute position `pos`, HF rotate_half
 * layout, with the angles computed in float64.
 */
function rope(x: Float64Array, heads: number, hd: number, pos: number, theta: number): Float64Array {
  const half = hd / 2, out = new Float64Array(x.length);
  for (let h = 0; h < heads; h++) {
    const o = h * hd;
    for (let d = 0; d < hd; d++) {
      const i = d % half; // emb = concat(freqs, freqs)
      const angle = pos * theta ** (-(2 * i) / hd);
      const rotated = d < half ? -x[o + d + half]! : x[o + d - half]!; // rotate_half
      out[o + d] = x[o + d]! * Math.cos(angle) + rotated * Math.sin(angle);
    }
  }
  return out;
}

/** One layer's causal self-attention for a single new position at `pos`, appending its k, v to the cache. */
function attention(ckpt: Checkpoint<LlamaConfig>, l: number, h: Float64Array, pos: number, cache: LlamaReferenceCache): Float64Array {
  const c = ckpt.config, hd = c.headDim, H = c.nHead, KV = c.nKvHead, r = H / KV;
  const p = `layers.${l}.self_attn.`;
  const bias = (n: string): Float32Array | undefined => (c.qkvBias ? tensor(ckpt, `${p}${n}.bias`) : undefined);
  const q = rope(linear(h, tensor(ckpt, `${p}q_proj.weight`), H * hd, bias('q_proj')), H, hd, pos, c.ropeTheta);
  const k = rope(linear(h, tensor(ckpt, `${p}k_proj.weight`), KV * hd, bias('k_proj')), KV, hd, pos, c.ropeTheta);
  const v = linear(h, tensor(ckpt, `${p}v_proj.weight`), KV * hd, bias('v_proj'));
  cache.keys[l]!.push(k);
  cache.values[l]!.push(v);
  const keys = cache.keys[l]!, values = cache.values[l]!; // causal: only positions <= this one exist
  const scale = 1 / Math.sqrt(hd);
  const merged = new Float64Array(H * hd);
  for (let head = 0; head < H; head++) {
    const oq = head * hd, okv = Math.floor(head / r) * hd; // repeat_kv: query head -> its KV head
    const scores = keys.map((kt) => {
      let s = 0;
      for (let d = 0; d < hd; d++) s += q[oq + d]! * kt[okv + d]!;
      return s * scale;
    });
    const max = Math.max(...scores);
    const w = scores.map((s) => Math.exp(s - max));
    const total = w.reduce((a, b) => a + b, 0);
    for (let t = 0; t < values.length; t++) {
      const pt = w[t]! / total, vt = values[t]!;
      for (let d = 0; d < hd; d++) merged[oq + d]! += pt * vt[okv + d]!;
    }
  }
  return linear(merged, tensor(ckpt, `${p}o_proj.weight`), c.nEmbd);
}

function mlp(ckpt: Checkpoint<LlamaConfig>, l: number, h: Float64Array): Float64Array {
  const c = ckpt.config, p = `layers.${l}.mlp.`;
  const gate = linear(h, tensor(ckpt, `${p}gate_proj.weight`), c.nInner);
  const up = linear(h, tensor(ckpt, `${p}up_proj.weight`), c.nInner);
  return linear(gate.map((g, i) => silu(g) * up[i]!), tensor(ckpt, `${p}down_proj.weight`), c.nEmbd);
}

/**
 * Feed `ids` one position at a time (positions continue from the cache) and return the logits of
 * every fed position. Prefill and decode are the same loop here; that is the point.
 */
export function llamaReferenceForward(ckpt: Checkpoint<LlamaConfig>, ids: readonly number[], cache: LlamaReferenceCache): Float32Array[] {
  const c = requireFamily(ckpt.config, 'llama', 'the LLaMA reference'), E = c.nEmbd, eps = c.rmsNormEps;
  const embed = tensor(ckpt, 'embed_tokens.weight'), head = lmHead(ckpt);
  const out: Float32Array[] = [];
  for (const id of ids) {
    const pos = cache.keys[0]!.length;
    let x = Float64Array.from(embed.subarray(id * E, (id + 1) * E));
    for (let l = 0; l < c.nLayer; l++) {
      const a = attention(ckpt, l, rmsNorm(x, tensor(ckpt, `layers.${l}.input_layernorm.weight`), eps), pos, cache);
      x = x.map((v, i) => v + a[i]!);
      const m = mlp(ckpt, l, rmsNorm(x, tensor(ckpt, `layers.${l}.post_attention_layernorm.weight`), eps));
      x = x.map((v, i) => v + m[i]!);
    }
    const hf = rmsNorm(x, tensor(ckpt, 'norm.weight'), eps);
    const logits = new Float32Array(c.vocabSize);
    for (let v = 0; v < c.vocabSize; v++) {
      let s = 0;
      for (let i = 0; i < E; i++) s += hf[i]! * head[v * E + i]!;
      logits[v] = s;
    }
    out.push(logits);
  }
  return out;
}

/** A cache for either family's reference (both keep one row of nKvHead * headDim per position). */
export const emptyModelReferenceCache = (c: Pick<ModelConfig, 'nLayer'>): LlamaReferenceCache => emptyLlamaReferenceCache(c);

/** The float64 reference of the checkpoint's own family (GPT-2's referenceForward or LLaMA's). */
export function modelReferenceForward(ckpt: Checkpoint, ids: readonly number[], cache: LlamaReferenceCache): Float32Array[] {
  return ckpt.config.family === 'llama'
    ? llamaReferenceForward(ckpt as Checkpoint<LlamaConfig>, ids, cache)
    : referenceForward(ckpt, [...ids], cache);
}
