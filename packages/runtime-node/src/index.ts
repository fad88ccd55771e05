export { OrtNodeRuntime, type OrtNodeOptions } from './ort-node-runtime.ts';
export { createLocalSplit, createMonolithic, graphSource, type LocalSplit, type LocalSplitOptions } from './local-split.ts';
