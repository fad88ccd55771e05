export { OrtNodeRuntime, type OrtNodeOptions } from './ort-node-runtime.ts';
export { createLocalSplit, createMonolithic, type LocalSplit, type LocalSplitOptions } from './local-split.ts';
