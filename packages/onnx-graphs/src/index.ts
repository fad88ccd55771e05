export { GraphBuilder, OPSET } from './graph-builder.ts';
// the family-dispatching builders (GPT-2's own are in ./split-graphs.ts, LLaMA's in ./llama/)
export { buildLayerGraph, buildLmHeadGraph, buildSplitGraphs, buildSubsetGraph, graphSource } from './graph-source.ts';
export { buildMonolithicGraph, MONOLITHIC_MAX_BYTES } from './monolithic-graph.ts';
// x @ W for fp32 or quantized (int8 / q4 MatMulNBits) weights; every builder applies its projections through it
export { linear, quantizedInitializer, ACCURACY_LEVEL } from './linear.ts';
export { buildLlamaLayerGraph, buildLlamaLmHeadGraph, buildLlamaSplitGraphs, buildLlamaSubsetGraph } from './llama/split-graphs.ts';
export { buildLlamaMonolithicGraph } from './llama/monolithic-graph.ts';
export { buildTransformersJsDecoder, TRANSFORMERS_JS_IO, TRANSFORMERS_JS_MODEL_FILE } from './transformersjs-decoder.ts';
export { batchedLayerGraphs, rowValue, type BatchedLayerGraphs } from './batched-layer.ts';
