// The in-memory form of a GPT-2 checkpoint: Hugging Face tensor names (without the
// "transformer." prefix of GPT2LMHeadModel) mapped to float32 data in HF's own layouts.
// HF's GPT-2 uses Conv1D, so every projection weight is stored [in, out] and applied as x @ W.
import type { GPT2Config } from './config.ts';

export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface Gpt2Checkpoint {
  config: GPT2Config;
  /** Canonical names, e.g. "h.3.attn.c_attn.weight". "lm_head.weight" only when not tied. */
  tensors: Map<string, Float32Tensor>;
}

/** Every tensor a GPT-2 checkpoint must hold, with the shape HF stores it in. */
export function expectedTensors(c: GPT2Config): Map<string, number[]> {
  const E = c.nEmbd;
  const m = new Map<string, number[]>([
    ['wte.weight', [c.vocabSize, E]],
    ['wpe.weight', [c.nPositions, E]],
  ]);
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}.`;
    m.set(`${p}ln_1.weight`, [E]);
    m.set(`${p}ln_1.bias`, [E]);
    m.set(`${p}attn.c_attn.weight`, [E, 3 * E]);
    m.set(`${p}attn.c_attn.bias`, [3 * E]);
    m.set(`${p}attn.c_proj.weight`, [E, E]);
    m.set(`${p}attn.c_proj.bias`, [E]);
    m.set(`${p}ln_2.weight`, [E]);
    m.set(`${p}ln_2.bias`, [E]);
    m.set(`${p}mlp.c_fc.weight`, [E, c.nInner]);
    m.set(`${p}mlp.c_fc.bias`, [c.nInner]);
    m.set(`${p}mlp.c_proj.weight`, [c.nInner, E]);
    m.set(`${p}mlp.c_proj.bias`, [E]);
  }
  m.set('ln_f.weight', [E]);
  m.set('ln_f.bias', [E]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, E]);
  return m;
}

/** Fetch a tensor that loading has already validated; a miss here is a programming error. */
export function tensor(ckpt: Gpt2Checkpoint, name: string): Float32Array {
  const t = ckpt.tensors.get(name);
  if (!t) throw new Error(`checkpoint has no tensor "${name}"`);
  return t.data;
}

/** The LM head matrix [vocab, n_embd]: the token embedding unless the config unties them. */
export function lmHead(ckpt: Gpt2Checkpoint): Float32Array {
  return ckpt.config.tieWordEmbeddings ? tensor(ckpt, 'wte.weight') : tensor(ckpt, 'lm_head.weight');
}
