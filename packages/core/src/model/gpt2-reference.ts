// A plain-TypeScript GPT-2 forward pass: the independent check on every ONNX graph we generate.
// Written from the GPT-2 definition (OpenAI's gpt-2/src/model.py and transformers'
// modeling_gpt2.py), in float64 accumulation, with no ONNX and no shared code with the graphs.
// Slow on purpose-free simplicity: it exists to be obviously right, not fast.
//
//   x = wte[ids] + wpe[pos]
//   for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
//   logits = ln_f(x) @ lm_head^T          (lm_head = wte when tied)
import { headDim, type Activation } from './config.ts';
import { requireFamily } from '../arch/index.ts';
import { lmHead, tensor, type Gpt2Checkpoint } from './checkpoint.ts';

const GELU_C = Math.sqrt(2 / Math.PI);

export function activate(x: number, kind: Activation): number {
  switch (kind) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'relu':
      return x > 0 ? x : 0;
  }
}

// Abramowitz–Stegun 7.1.26 is only 1e-7 accurate; use the series/continued fraction instead so
// the reference stays far more precise than the float32 graphs it checks.
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax, term = ax;
    for (let n = 1; n < 60; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz) for the tail
  let f = ax, C = ax, D = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    D = ax + an * D; D = 1 / D;
    C = ax + an / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

function layerNorm(x: Float64Array, g: Float32Array, b: Float32Array, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * g[i]! + b[i]!);
}

/** y = x @ W + bias, with W stored [in, out] (HF Conv1D). */
function linear(x: Float64Array, W: Float32Array, bias: Float32Array, out: number): Float64Array {
  const y = Float64Array.from(bias);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!, row = i * out;
    for (let j = 0; j < out; j++) y[j]! += xi * W[row + j]!;
  }
  return y;
}

/** Per-layer cache of keys and values, one row of n_embd per past position. */
export interface ReferenceCache {
  keys: Float64Array[][]; // [layer][position] -> n_embd (all heads)
  values: Float64Array[][];
}

export function emptyReferenceCache(c: { nLayer: number }): ReferenceCache {
  return { keys: Array.from({ length: c.nLayer }, () => []), values: Array.from({ length: c.nLayer }, () => []) };
}

/** One block's causal self-attention for a single new position, appending its k,v to the cache. */
function attention(ckpt: Gpt2Checkpoint, l: number, h: Float64Array, cache: ReferenceCache): Float64Array {
  const c = requireFamily(ckpt.config, 'gpt2', 'the GPT-2 reference'), E = c.nEmbd, hd = headDim(c);
  const qkv = linear(h, tensor(ckpt, `h.${l}.attn.c_attn.weight`), tensor(ckpt, `h.${l}.attn.c_attn.bias`), 3 * E);
  cache.keys[l]!.push(qkv.slice(E, 2 * E));
  cache.values[l]!.push(qkv.slice(2 * E, 3 * E));
  const keys = cache.keys[l]!, values = cache.values[l]!; // causal: only positions <= this one exist
  let scale = c.scaleAttnWeights ? 1 / Math.sqrt(hd) : 1;
  if (c.scaleAttnByInverseLayerIdx) scale /= l + 1;
  const merged = new Float64Array(E);
  for (let head = 0; head < c.nHead; head++) {
    const o = head * hd;
    const scores = keys.map((k) => {
      let s = 0;
      for (let d = 0; d < hd; d++) s += qkv[o + d]! * k[o + d]!;
      return s * scale;
    });
    const max = Math.max(...scores);
    const w = scores.map((s) => Math.exp(s - max));
    const total = w.reduce((a, b) => a + b, 0);
    for (let t = 0; t < values.length; t++) {
      const p = w[t]! / total, v = values[t]!;
      for (let d = 0; d < hd; d++) merged[o + d]! += p * v[o + d]!;
    }
  }
  return linear(merged, tensor(ckpt, `h.${l}.attn.c_proj.weight`), tensor(ckpt, `h.${l}.attn.c_proj.bias`), E);
}

function mlp(ckpt: Gpt2Checkpoint, l: number, h: Float64Array): Float64Array {
  const c = requireFamily(ckpt.config, 'gpt2', 'the GPT-2 reference');
  const hidden = linear(h, tensor(ckpt, `h.${l}.mlp.c_fc.weight`), tensor(ckpt, `h.${l}.mlp.c_fc.bias`), c.nInner);
  const act = hidden.map((v) => activate(v, c.activation));
  return linear(act, tensor(ckpt, `h.${l}.mlp.c_proj.weight`), tensor(ckpt, `h.${l}.mlp.c_proj.bias`), c.nEmbd);
}

/**
 * Feed `ids` one position at a time (positions continue from the cache) and return the logits of
 * every fed position. Prefill and decode are the same loop here; that is the point.
 */
export function referenceForward(ckpt: Gpt2Checkpoint, ids: number[], cache: ReferenceCache): Float32Array[] {
  const c = requireFamily(ckpt.config, 'gpt2', 'the GPT-2 reference'), E = c.nEmbd, eps = c.layerNormEpsilon;
  const wte = tensor(ckpt, 'wte.weight'), wpe = tensor(ckpt, 'wpe.weight'), head = lmHead(ckpt);
  const out: Float32Array[] = [];
  for (const id of ids) {
    const pos = cache.keys[0]!.length;
    let x = new Float64Array(E).map((_, i) => wte[id * E + i]! + wpe[pos * E + i]!);
    for (let l = 0; l < c.nLayer; l++) {
      const a = attention(ckpt, l, layerNorm(x, tensor(ckpt, `h.${l}.ln_1.weight`), tensor(ckpt, `h.${l}.ln_1.bias`), eps), cache);
      x = x.map((v, i) => v + a[i]!);
      const m = mlp(ckpt, l, layerNorm(x, tensor(ckpt, `h.${l}.ln_2.weight`), tensor(ckpt, `h.${l}.ln_2.bias`), eps));
      x = x.map((v, i) => v + m[i]!);
    }
    const hf = layerNorm(x, tensor(ckpt, 'ln_f.weight'), tensor(ckpt, 'ln_f.bias'), eps);
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
