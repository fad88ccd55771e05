// @splitwise/checkpoint, platform-neutral part (browser-safe): safetensors, GPT-2 loading,
// random models, the tokenizer. Node file-system helpers live in ./node.ts.
export * from './errors.ts';
export * from './safetensors.ts';
export * from './gpt2-loader.ts';
export * from './make-model.ts';
export * from './tokenizer.ts';
export * from './llama2c.ts';
export * from './quantized.ts';
