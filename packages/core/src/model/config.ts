// Model configs live with their families in ../arch/. This module keeps the names the rest of the
// engine has always imported from here.
import type { BaseConfig } from '../arch/family.ts';
export { parseHfConfig, toHfConfig, parameterCount, PRESETS, type ModelConfig, type PresetName } from '../arch/index.ts';
export { ACTIVATIONS, attentionScale, type Activation, type GPT2Config } from '../arch/gpt2.ts';

export const headDim = (c: BaseConfig): number => c.headDim;
