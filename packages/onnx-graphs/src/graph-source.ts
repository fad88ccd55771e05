// The graphs one side of the split engine loads for a checkpoint: the weightless split graphs at
// once, the weight-carrying ones (a whole layer, the LM head) when first used. Both runtimes (and
// the profilers) take their graphs from here. Each builder picks the checkpoint's family: GPT-2's
// graphs (./split-graphs.ts) or the LLaMA family's (./llama/split-graphs.ts).
import { precisionOf, type Checkpoint, type GraphSource, type LlamaConfig, type ModelConfig, type SplitGraphs, type SubsetKind, type TensorLike } from '@splitwise/core';
import { buildLayerGraph as buildGpt2LayerGraph, buildLmHeadGraph as buildGpt2LmHeadGraph, buildSplitGraphs as buildGpt2SplitGraphs, buildSubsetGraph as buildGpt2SubsetGraph } from './split-graphs.ts';
import { buildLlamaLayerGraph, buildLlamaLmHeadGraph, buildLlamaSplitGraphs, buildLlamaSubsetGraph } from './llama/split-graphs.ts';

/** The weightless split graphs of the config's family. */
export function buildSplitGraphs(config: ModelConfig): SplitGraphs {
  return config.family === 'llama' ? buildLlamaSplitGraphs(config) : buildGpt2SplitGraphs(config);
}

/** Layer l as the `block` graph with its weights as initializers. */
export function buildLayerGraph(ckpt: Checkpoint, l: number): Uint8Array {
  return ckpt.config.family === 'llama' ? buildLlamaLayerGraph(ckpt as Checkpoint<LlamaConfig>, l) : buildGpt2LayerGraph(ckpt, l);
}

/** The final norm and LM head with its weights as initializers: x [1, E] -> logits [1, vocab]. */
export function buildLmHeadGraph(ckpt: Checkpoint): Uint8Array {
  return ckpt.config.family === 'llama' ? buildLlamaLmHeadGraph(ckpt as Checkpoint<LlamaConfig>) : buildGpt2LmHeadGraph(ckpt);
}

/**
 * The `attn`, `ffn` or `kv` graph with one subset's weights (the family WeightBinding's feeds for
 * it, fp32 or quantized) as initializers: what SplitSessions' constantSubsets runs instead of
 * passing weights per call.
 */
export function buildSubsetGraph(config: ModelConfig, kind: SubsetKind, weights: Readonly<Record<string, TensorLike>>, label: string, int8Activations = false): Uint8Array {
  return config.family === 'llama' ? buildLlamaSubsetGraph(config, kind, weights, label, int8Activations) : buildGpt2SubsetGraph(config, kind, weights, label, int8Activations);
}

export function graphSource(ckpt: Checkpoint): GraphSource {
  return {
    graphs: buildSplitGraphs(ckpt.config),
    layerGraph: (l) => buildLayerGraph(ckpt, l),
    lmHeadGraph: () => buildLmHeadGraph(ckpt),
    subsetGraph: (kind, weights, label) => buildSubsetGraph(ckpt.config, kind, weights, label, ckpt.quantized?.activations === 'int8'),
    // int8 / q4 checkpoints (quantizeCheckpoint): every graph with weights holds them quantized
    weightPrecision: precisionOf(ckpt),
  };
}
