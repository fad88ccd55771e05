// @splitwise/checkpoint/node: everything in the platform-neutral index plus file-system helpers.
export * from './index.ts';
export * from './node-checkpoint.ts';
export * from './tokenizer-files.ts';
export * from './llama2c-node.ts';
