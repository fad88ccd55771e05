// A whole layer for the one-row decode steps of B sequences at once: the graphs the cloud's
// continuous batcher runs (apps/server/src/batcher.ts; docs/ARCHITECTURE.md, "Continuous batching
// on the cloud"). Each sequence has its own KV cache and length, so a layer is cut in three runs:
//
//   front(l)   x [B, E] -> q [B, mq]              norm and query projection of all B rows   constants
//   core(B)    per row i: x.i, q.i, past_k.i, past_v.i (positions.i)
//              -> ctx [B, mq], present_k.i, present_v.i                                     weight inputs
//   back(l)    x, ctx -> x_out [B, E]             out projection, residuals, norm and FFN   constants
//
// front and back hold their weights as constants, which onnxruntime prepacks: a prepacked MatMul
// rounds each row the same whatever the number of rows, so a row's answer does not depend on who
// it was batched with, and the weight-heavy part is read once per batch. core keeps, per row,
// exactly the ops the weightless `kv` graph runs on a one-row group (norm, the key and value
// projection as a one-row MatMul on weight inputs, bias, RoPE at that row's position), so its keys
// and values are bit for bit the ones a KV rebuild from the checkpoint makes: recovery stays exact
// under batching. Then each row attends over its own cache.
import { familyOf, headDim, ropeInvFreq, type Checkpoint, type Feeds, type GPT2Config, type LlamaConfig, type ModelGraph, type TensorLike } from '@splitwise/core';
import { GraphBuilder } from './graph-builder.ts';
import { activation, causalAttention, layerNorm } from './blocks.ts';
import { rmsNorm, swiglu } from './llama/blocks.ts';
import { rope } from './llama/split-graphs.ts'; // the split graphs' rotation, so a batch rotates exactly as they do

/** The per-row inputs and outputs of `core`: name.i for row i. */
export const rowValue = (name: string, i: number): string => `${name}.${i}`;

export interface BatchedLayerGraphs {
  /** Layer l's front, weights as constants: x [B, E] -> q [B, mq]. */
  front(l: number): Uint8Array;
  /** The core of `rows` sequences (any layer: its weights are the inputs `coreWeights` gives). */
  core(rows: number): Uint8Array;
  /** The weight inputs `core` takes for layer l: the norm, key and value projections (views or one gathered copy). */
  coreWeights(l: number): Feeds;
  /** Layer l's back, weights as constants: x [B, E], ctx [B, mq] -> x_out [B, E]. */
  back(l: number): Uint8Array;
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

function weight(feeds: Feeds, name: string): TensorLike & { dtype: 'float32' } {
  const t = feeds[name];
  if (!t || t.dtype !== 'float32') throw new Error(`batched layer graphs need float32 weights; "${name}" is ${t ? t.dtype : 'absent'} (quantized weights are not batched)`);
  return t as TensorLike & { dtype: 'float32' };
}

/** Columns [from, to) of a row-major [rows, cols] matrix. */
function columns(w: Float32Array, rows: number, cols: number, from: number, to: number): Float32Array {
  const out = new Float32Array(rows * (to - from));
  for (let r = 0; r < rows; r++) out.set(w.subarray(r * cols + from, r * cols + to), r * (to - from));
  return out;
}

const constant = (b: GraphBuilder, name: string, t: TensorLike): string => b.initializer(name, [...t.dims], t.data);

/** The batched layer graphs of a checkpoint (GPT-2 or LLaMA family), with the family binding's weights. */
export function batchedLayerGraphs(ckpt: Checkpoint, graph: ModelGraph): BatchedLayerGraphs {
  const c = ckpt.config, binding = familyOf(c).bind(ckpt as never, graph);
  const units = Array.from({ length: graph.attnUnits }, (_, i) => i), chunks = Array.from({ length: graph.ffnChunks }, (_, i) => i);
  const attn = (l: number): Feeds => binding.attn(l, units);
  const block = (l: number): Feeds => binding.block(l);
  const ffn = (l: number): Feeds => binding.ffn(l, chunks);
  return c.family === 'llama' ? llamaGraphs(c, attn, ffn) : gpt2Graphs(c, attn, block, ffn);
}

// --- GPT-2: c_attn is [E, 3E], columns q | k | v, each head-major

function gpt2Graphs(c: GPT2Config, attn: (l: number) => Feeds, block: (l: number) => Feeds, ffn: (l: number) => Feeds): BatchedLayerGraphs {
  const E = c.nEmbd, hd = headDim(c), H = c.nHead;
  return {
    front(l) {
      const w = attn(l), b = new GraphBuilder(`batch.front.${l}`);
      const x = b.input('x', 'float32', ['B', E]);
      const h = layerNorm(b, x, constant(b, 'ln_g', weight(w, 'ln_g')), constant(b, 'ln_b', weight(w, 'ln_b')), c.layerNormEpsilon);
      const wQkv = weight(w, 'w_qkv'), bQkv = weight(w, 'b_qkv');
      const wq = b.initializer('w_q', [E, E], columns(wQkv.data, E, 3 * E, 0, E));
      const bq = b.initializer('b_q', [E], bQkv.data.slice(0, E));
      b.output(b.op('Add', [b.op('MatMul', [h, wq]), bq]), 'q', 'float32', ['B', E]);
      return b.toBytes();
    },
    coreWeights(l) {
      const w = attn(l), wQkv = weight(w, 'w_qkv'), bQkv = weight(w, 'b_qkv');
      return {
        ln_g: weight(w, 'ln_g'),
        ln_b: weight(w, 'ln_b'),
        w_kv: { dtype: 'float32', dims: [E, 2 * E], data: columns(wQkv.data, E, 3 * E, E, 3 * E) },
        b_kv: { dtype: 'float32', dims: [2 * E], data: bQkv.data.subarray(E, 3 * E) },
        scale: weight(w, 'scale'),
      };
    },
    core(rows) {
      const b = new GraphBuilder(`batch.core.x${rows}`);
      const g = b.input('ln_g', 'float32', [E]), beta = b.input('ln_b', 'float32', [E]);
      const wKv = b.input('w_kv', 'float32', [E, 2 * E]), bKv = b.input('b_kv', 'float32', [2 * E]), scale = b.input('scale', 'float32', [1]);
      const ctx: string[] = [];
      for (let i = 0; i < rows; i++) {
        const x = b.input(rowValue('x', i), 'float32', [1, E]), q = b.input(rowValue('q', i), 'float32', [1, E]);
        const pastK = b.input(rowValue('past_k', i), 'float32', [H, rowValue('past', i), hd]), pastV = b.input(rowValue('past_v', i), 'float32', [H, rowValue('past', i), hd]);
        // the kv graph's ops on one row: ln_1, the projection (+ bias), [1, 2, heads, hd] -> [2, heads, 1, hd]
        const kv = b.op('Add', [b.op('MatMul', [layerNorm(b, x, g, beta, c.layerNormEpsilon), wKv]), bKv]);
        const split = b.op('Transpose', [b.op('Reshape', [kv, b.ints([0, 2, -1, hd])])], { perm: [1, 2, 0, 3] });
        const k = b.op('Gather', [split, b.int(0)], { axis: 0 }), v = b.op('Gather', [split, b.int(1)], { axis: 0 });
        const qh = b.op('Transpose', [b.op('Reshape', [q, b.ints([0, -1, hd])])], { perm: [1, 0, 2] }); // [heads, 1, hd]
        const a = causalAttention(b, qh, k, v, pastK, pastV, scale);
        ctx.push(b.op('Reshape', [b.op('Transpose', [a.context], { perm: [1, 0, 2] }), b.ints([0, -1])])); // [1, E]
        b.output(a.presentK, rowValue('present_k', i), 'float32', [H, rowValue('total', i), hd]);
        b.output(a.presentV, rowValue('present_v', i), 'float32', [H, rowValue('total', i), hd]);
      }
      b.output(rows > 1 ? b.op('Concat', ctx, { axis: 0 }) : ctx[0]!, 'ctx', 'float32', [rows, E]);
      return b.toBytes();
    },
    back(l) {
      const w = attn(l), blk = block(l), f = ffn(l), b = new GraphBuilder(`batch.back.${l}`);
      const x = b.input('x', 'float32', ['B', E]), ctx = b.input('ctx', 'float32', ['B', E]);
      // x1 = (x + b_o) + ctx W_o; x_out = (x1 + b_proj) + mlp(ln_2 x1): the executor's order of sums
      const x1 = b.op('Add', [b.op('Add', [x, constant(b, 'b_o', weight(blk, 'attn.b_o'))]), b.op('MatMul', [ctx, constant(b, 'w_o', weight(w, 'w_o'))])]);
      const h = layerNorm(b, x1, constant(b, 'ln2_g', weight(f, 'ln_g')), constant(b, 'ln2_b', weight(f, 'ln_b')), c.layerNormEpsilon);
      const a = activation(b, b.op('Add', [b.op('MatMul', [h, constant(b, 'w_fc', weight(f, 'w_fc'))]), constant(b, 'b_fc', weight(f, 'b_fc'))]), c.activation);
      const y = b.op('MatMul', [a, constant(b, 'w_proj', weight(f, 'w_proj'))]);
      b.output(b.op('Add', [b.op('Add', [x1, constant(b, 'b_proj', weight(blk, 'mlp.b_proj'))]), y]), 'x_out', 'float32', ['B', E]);
      return b.toBytes();
    },
  };
}

// --- LLaMA family: w_q [E, nHead*hd], w_k / w_v [E, nKvHead*hd]; a unit is a KV group of r query heads

/** h [T, E] @ W (+ bias) -> [units, T, hd], as the split graphs' kvHeads. */
function unitsOf(b: GraphBuilder, c: LlamaConfig, h: string, w: string, bias: string | undefined): string {
  let y = b.op('MatMul', [h, w]);
  if (bias) y = b.op('Add', [y, bias]);
  return b.op('Transpose', [b.op('Reshape', [y, b.ints([0, -1, c.headDim])])], { perm: [1, 0, 2] });
}

function llamaGraphs(c: LlamaConfig, attn: (l: number) => Feeds, ffn: (l: number) => Feeds): BatchedLayerGraphs {
  const E = c.nEmbd, hd = c.headDim, r = c.nHead / c.nKvHead, U = c.nKvHead, mq = c.nHead * hd, mk = U * hd;
  return {
    front(l) {
      const w = attn(l), b = new GraphBuilder(`batch.front.${l}`);
      const x = b.input('x', 'float32', ['B', E]);
      let q = b.op('MatMul', [rmsNorm(b, x, constant(b, 'ln_g', weight(w, 'ln_g')), c.rmsNormEps), constant(b, 'w_q', weight(w, 'w_q'))]);
      if (c.qkvBias) q = b.op('Add', [q, constant(b, 'b_q', weight(w, 'b_q'))]);
      b.output(q, 'q', 'float32', ['B', mq]);
      return b.toBytes();
    },
    coreWeights(l) {
      const w = attn(l), out: Feeds = { ln_g: weight(w, 'ln_g'), w_k: weight(w, 'w_k'), w_v: weight(w, 'w_v') };
      if (c.qkvBias) Object.assign(out, { b_k: weight(w, 'b_k'), b_v: weight(w, 'b_v') });
      return out;
    },
    core(rows) {
      const b = new GraphBuilder(`batch.core.x${rows}`);
      const g = b.input('ln_g', 'float32', [E]), wK = b.input('w_k', 'float32', [E, mk]), wV = b.input('w_v', 'float32', [E, mk]);
      const bK = c.qkvBias ? b.input('b_k', 'float32', [mk]) : undefined, bV = c.qkvBias ? b.input('b_v', 'float32', [mk]) : undefined;
      const invFreq = b.initializer('rope.inv_freq', [hd / 2], Float32Array.from(ropeInvFreq(c)));
      const ctx: string[] = [];
      for (let i = 0; i < rows; i++) {
        const x = b.input(rowValue('x', i), 'float32', [1, E]), q0 = b.input(rowValue('q', i), 'float32', [1, mq]);
        const positions = b.input(rowValue('positions', i), 'int64', [1]);
        const pastK = b.input(rowValue('past_k', i), 'float32', [U, rowValue('past', i), hd]), pastV = b.input(rowValue('past_v', i), 'float32', [U, rowValue('past', i), hd]);
        // this row's rotary angles, as ropeCosSin computes them for a one-row group: [1, hd/2]
        const angles = b.op('Mul', [b.op('Unsqueeze', [b.op('Cast', [positions], { to: FLOAT }), b.ints([1])]), invFreq]);
        const cos = b.op('Cos', [angles]), sin = b.op('Sin', [angles]);
        // the kv graph's ops on one row
        const h = rmsNorm(b, x, g, c.rmsNormEps);
        const k = rope(b, c, unitsOf(b, c, h, wK, bK), cos, sin), v = unitsOf(b, c, h, wV, bV); // [U, 1, hd]
        // queries [1, U*r*hd] -> [U, r, 1, hd], rotated, -> [U, r, hd]
        let q = b.op('Transpose', [b.op('Reshape', [q0, b.ints([0, -1, r, hd])])], { perm: [1, 2, 0, 3] });
        q = b.op('Reshape', [rope(b, c, q, cos, sin), b.ints([0, -1, hd])]);
        const presentK = b.op('Concat', [pastK, k], { axis: 1 }), presentV = b.op('Concat', [pastV, v], { axis: 1 });
        // one new row sees every key (its own included): no mask
        const scores = b.op('Mul', [b.op('MatMul', [q, b.op('Transpose', [presentK], { perm: [0, 2, 1] })]), b.float(1 / Math.sqrt(hd))]);
        const context = b.op('MatMul', [b.op('Softmax', [scores], { axis: -1 }), presentV]); // [U, r, hd]
        ctx.push(b.op('Reshape', [context, b.ints([1, mq])]));
        b.output(presentK, rowValue('present_k', i), 'float32', [U, rowValue('total', i), hd]);
        b.output(presentV, rowValue('present_v', i), 'float32', [U, rowValue('total', i), hd]);
      }
      b.output(rows > 1 ? b.op('Concat', ctx, { axis: 0 }) : ctx[0]!, 'ctx', 'float32', [rows, mq]);
      return b.toBytes();
    },
    back(l) {
      const w = attn(l), f = ffn(l), b = new GraphBuilder(`batch.back.${l}`);
      const x = b.input('x', 'float32', ['B', E]), ctx = b.input('ctx', 'float32', ['B', mq]);
      const x1 = b.op('Add', [x, b.op('MatMul', [ctx, constant(b, 'w_o', weight(w, 'w_o'))])]);
      const m = swiglu(b, rmsNorm(b, x1, constant(b, 'ln2_g', weight(f, 'ln_g')), c.rmsNormEps), constant(b, 'w_gate', weight(f, 'w_gate')), constant(b, 'w_up', weight(f, 'w_up')), constant(b, 'w_down', weight(f, 'w_down')));
      b.output(b.op('Add', [x1, m]), 'x_out', 'float32', ['B', E]);
      return b.toBytes();
    },
  };
}
