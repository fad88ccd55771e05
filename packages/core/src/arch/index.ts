// The families the engine runs, and the helpers that pick one from a config.
import { InvalidConfigError } from '../errors.ts';
import type { BaseConfig, ModelFamily } from './family.ts';
import { GPT2_PRESETS, gpt2Family, type GPT2Config } from './gpt2.ts';
import { LLAMA_PRESETS, llamaFamily, type LlamaConfig } from './llama.ts';

export * from './family.ts';
export * from './gather.ts';
export * from './gpt2.ts';
export * from './llama.ts';

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

/** Every named shape: GPT-2's and the LLaMA family's. */
export const PRESETS = { ...GPT2_PRESETS, ...LLAMA_PRESETS };
export type PresetName = keyof typeof PRESETS;
