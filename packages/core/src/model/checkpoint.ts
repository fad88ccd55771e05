// The in-memory form of a checkpoint: canonical tensor names (the Hugging Face key without the
// model's prefix, e.g. "h.3.attn.c_attn.weight" or "layers.3.self_attn.q_proj.weight") mapped to
// float32 data. Every projection is [in, out] here (applied as x @ W); see arch/family.ts.
import { familyOf, type ModelConfig } from '../arch/index.ts';
import type { BaseConfig } from '../arch/family.ts';
import type { QuantActivations, QuantizedPrecision } from '../arch/precision.ts';
import type { QuantizedMatrix } from '../quant/matrix.ts';

export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface Checkpoint<C extends BaseConfig = ModelConfig> {
  config: C;
  tensors: Map<string, Float32Tensor>;
  /**
   * Weights held quantized (int8 or q4, quant/checkpoint.ts): the projection matrices and the LM
   * head, which `tensors` then does not hold in fp32. Absent: an fp32 checkpoint.
   */
  quantized?: QuantizedWeights;
}

/** The quantized matrices of a checkpoint, by canonical tensor name (the LM head as QUANTIZED_LM_HEAD). */
export interface QuantizedWeights {
  precision: QuantizedPrecision;
  /** The FFN chunking whose chunks start quantized segments of the down projections (ModelGraph.ffnChunks). */
  ffnChunks: number;
  /** q4 without zero points. */
  symmetric: boolean;
  /** What the graphs compute quantized products in: fp32 (exact splits) or int8 activations (faster). */
  activations: QuantActivations;
  matrices: Map<string, QuantizedMatrix>;
}

/** @deprecated the GPT-2-era name; any family's checkpoint. */
export type Gpt2Checkpoint = Checkpoint;

/** Every tensor a checkpoint must hold, with the shape the engine holds it in ([in, out] projections). */
export function expectedTensors(c: ModelConfig): Map<string, number[]> {
  return new Map(familyOf(c).tensors(c).map((t) => [t.name, t.transposed ? [...t.storedShape].reverse() : t.storedShape]));
}

/** Fetch a tensor that loading has already validated; a miss here is a programming error. */
export function tensor(ckpt: Checkpoint, name: string): Float32Array {
  const t = ckpt.tensors.get(name);
  if (!t) throw new Error(`checkpoint has no tensor "${name}"`);
  return t.data;
}

/** The name the quantized LM head [vocab, n_embd] goes by in QuantizedWeights.matrices (K = n_embd, N = vocab). */
export const QUANTIZED_LM_HEAD = 'lm_head';

/** The LM head matrix [vocab, n_embd]: the token embedding unless the config unties them. */
export function lmHead(ckpt: Checkpoint): Float32Array {
  return ckpt.config.tieWordEmbeddings ? tensor(ckpt, familyOf(ckpt.config).embeddingTensor) : tensor(ckpt, 'lm_head.weight');
}
