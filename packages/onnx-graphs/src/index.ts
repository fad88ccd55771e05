export { GraphBuilder, OPSET } from './graph-builder.ts';
// the family-dispatching builders (GPT-2's own are in ./split-graphs.ts, LLaMA's in ./llama/)
export { buildLayerGraph, buildLmHeadGraph, buildSplitGraphs, buildSubsetGraph, graphSource } from './graph-source.ts';
export { buildMonolithicGraph, MONOLITHIC_MAX_BYTES } from './monolithic-graph.ts';
export { buildLlamaLayerGraph, buildLlamaLmHeadGraph, buildLlamaSplitGraphs, buildLlamaSubsetGraph } from './llama/split-graphs.ts';
export { buildLlamaMonolithicGraph } from './llama/monolithic-graph.ts';
