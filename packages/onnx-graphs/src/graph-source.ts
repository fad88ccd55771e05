// The graphs one side of the split engine loads for a checkpoint: the weightless split graphs at
// once, the weight-carrying ones (a whole layer, the LM head) when first used. Both runtimes (and
// the profilers) take their graphs from here.
import type { GraphSource, Gpt2Checkpoint } from '@splitwise/core';
import { buildLayerGraph, buildLmHeadGraph, buildSplitGraphs } from './split-graphs.ts';

export function graphSource(ckpt: Gpt2Checkpoint): GraphSource {
  return {
    graphs: buildSplitGraphs(ckpt.config),
    layerGraph: (l) => buildLayerGraph(ckpt, l),
    lmHeadGraph: () => buildLmHeadGraph(ckpt),
  };
}
