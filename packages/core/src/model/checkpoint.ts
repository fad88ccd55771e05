// The in-memory form of a checkpoint: canonical tensor names (the Hugging Face key without the
// model's prefix, e.g. "h.3.attn.c_attn.weight" or "layers.3.self_attn.q_proj.weight") mapped to
// float32 data. Every projection is [in, out] here (applied as x @ W); see arch/family.ts.
import { familyOf, type ModelConfig } from '../arch/index.ts';
import type { BaseConfig } from '../arch/family.ts';

export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface Checkpoint<C extends BaseConfig = ModelConfig> {
  config: C;
  tensors: Map<string, Float32Tensor>;
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

/** The LM head matrix [vocab, n_embd]: the token embedding unless the config unties them. */
export function lmHead(ckpt: Checkpoint): Float32Array {
  return ckpt.config.tieWordEmbeddings ? tensor(ckpt, familyOf(ckpt.config).embeddingTensor) : tensor(ckpt, 'lm_head.weight');
}
