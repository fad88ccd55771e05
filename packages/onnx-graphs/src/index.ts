export { GraphBuilder, OPSET } from './graph-builder.ts';
export { buildLayerGraph, buildLmHeadGraph, buildSplitGraphs } from './split-graphs.ts';
export { buildMonolithicGraph, MONOLITHIC_MAX_BYTES } from './monolithic-graph.ts';
export { graphSource } from './graph-source.ts';
