export { OrtNodeRuntime, type OrtNodeOptions } from './ort-node-runtime.ts';
export { createLocalSplit, createMonolithic, graphSource, sideWeights, type LocalSplit, type LocalSplitOptions, type MonolithicOptions, type SideWeights } from './local-split.ts';
// the graphs of the cloud's continuous batcher (apps/server/src/batcher.ts)
export { batchedLayerGraphs, rowValue, type BatchedLayerGraphs } from '@splitwise/onnx-graphs';
