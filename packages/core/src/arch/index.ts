// The families the engine runs, and the helpers that pick one from a config.
import { InvalidConfigError } from '../errors.ts';
import type { BaseConfig, ModelFamily } from './family.ts';
import { GPT2_PRESETS, gpt2Family, type GPT2Config } from './gpt2.ts';
import { LLAMA_PRESETS, llamaFamily, type LlamaConfig } from './llama.ts';
import { F32_BYTES } from './family.ts';
import { bytesPerWeight, type WeightPrecision } from './precision.ts';

export * from './family.ts';
export * from './gather.ts';
export * from './gpt2.ts';
export * from './llama.ts';
export * from './precision.ts';
export * from './matrix-feeds.ts';

/** Any config the engine runs. */
export type ModelConfig = GPT2Config | LlamaConfig;

const BY_NAME = { gpt2: gpt2Family, llama: llamaFamily } as const;

/** The family descriptor of a config. */
export function familyOf<C extends ModelConfig>(c: C): ModelFamily<C> {
  return BY_NAME[c.family] as unknown as ModelFamily<C>;
}

/** Narrow a config to one family, or say plainly that this code path does not take it. */
export function requireFamily<F extends ModelConfig['family']>(c: ModelConfig, family: F, what: string): Extract<ModelConfig, { family: F }> {
  if (c.family !== family) throw new InvalidConfigError(`${what} is for the ${family} family; this model is ${c.family}`);
  return c as Extract<ModelConfig, { family: F }>;
}

/** Parse any supported Hugging Face config.json, choosing the family by its model_type (GPT-2 when absent). */
export function parseHfConfig(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InvalidConfigError('config.json must be a JSON object');
  const obj = json as Record<string, unknown>, type = obj.model_type ?? 'gpt2';
  for (const f of Object.values(BY_NAME)) if ((f.modelTypes as readonly unknown[]).includes(type)) return f.parseHfConfig(obj);
  const known = Object.values(BY_NAME).flatMap((f) => f.modelTypes);
  throw new InvalidConfigError(`config.json has model_type "${String(type)}"; supported: ${known.join(', ')}`);
}

export const toHfConfig = (c: ModelConfig): Record<string, unknown> => familyOf(c).toHfConfig(c);
export const parameterCount = (c: ModelConfig): number => familyOf(c).parameterCount(c);
/** Attention partition units per layer (GPT-2: heads; LLaMA: KV groups). */
export const attnUnits = (c: BaseConfig & ModelConfig): number => familyOf(c).attnUnits(c);

/** Weights of the projection matrices of all layers, and of the LM head (what a weight precision applies to). */
export function matrixWeights(c: ModelConfig): { layers: number; lmHead: number } {
  const f = familyOf(c);
  let layers = 0;
  for (let l = 0; l < c.nLayer; l++) for (const p of f.projections(c, l)) layers += p.K * p.N;
  return { layers, lmHead: c.vocabSize * c.nEmbd };
}

/**
 * Bytes of a whole model's weights held at weight precision p: the projection matrices and the LM
 * head at bytesPerWeight(p) (scales and zero points included; padding of units or chunks whose
 * rows are not a multiple of 32 excluded), everything else (norms, biases, embedding tables) fp32.
 * With tied embeddings at int8 or q4 the quantized LM head comes on top of the fp32 table the
 * lookup reads. weightBytes(c, 'fp32') = parameterCount(c) * 4.
 */
export function weightBytes(c: ModelConfig, p: WeightPrecision): number {
  const m = matrixWeights(c), rest = parameterCount(c) - m.layers - (c.tieWordEmbeddings ? 0 : m.lmHead);
  const headIsTable = c.tieWordEmbeddings && p === 'fp32';
  return (m.layers + (headIsTable ? 0 : m.lmHead)) * bytesPerWeight(p) + rest * F32_BYTES;
}

/**
 * Weight bytes one decode step reads at precision p: every projection matrix and the LM head once
 * (at bytesPerWeight(p)), and the fp32 norms and biases; not the embedding tables (one row each).
 * What npm run bench:bound divides by the memory bandwidth.
 */
export function decodeWeightBytes(c: ModelConfig, p: WeightPrecision): number {
  const m = matrixWeights(c), tables = c.vocabSize * c.nEmbd + (c.family === 'gpt2' ? c.nPositions * c.nEmbd : 0);
  const vectors = parameterCount(c) - m.layers - (c.tieWordEmbeddings ? 0 : m.lmHead) - tables;
  return (m.layers + m.lmHead) * bytesPerWeight(p) + vectors * F32_BYTES;
}

/** Every named shape: GPT-2's and the LLaMA family's. */
export const PRESETS = { ...GPT2_PRESETS, ...LLAMA_PRESETS };
export type PresetName = keyof typeof PRESETS;
