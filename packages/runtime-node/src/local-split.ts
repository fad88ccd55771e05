// Both sides of the split engine in one Node process, joined by an InMemoryLink: what the CLI,
// the benchmarks and the equivalence tests run. The socket.io link replaces only the link.
import {
  buildModelGraph,
  CloudExecutor,
  SplitSessions,
  EdgeExecutor,
  InMemoryLink,
  MonolithicRunner,
  precisionOf,
  quantizeCheckpoint,
  SplitWeights,
  type Gpt2Checkpoint,
  type ModelGraph,
  type PartitionPlan,
  type SplitSessionOptions,
  type QuantActivations,
  type WeightPrecision,
} from '@splitwise/core';
import { buildMonolithicGraph, graphSource } from '@splitwise/onnx-graphs';
import { OrtNodeRuntime, type OrtNodeOptions } from './ort-node-runtime.ts';

export interface LocalSplit {
  graph: ModelGraph;
  edge: EdgeExecutor;
  cloud: CloudExecutor;
  link: InMemoryLink;
  /** Sessions of each side (separate, as they would be on two machines). */
  sessions: { edge: SplitSessions; cloud: SplitSessions };
}

/** Weight precision of both sides, or of each (a side not named runs fp32). */
export type SideWeights = WeightPrecision | { edge?: WeightPrecision; cloud?: WeightPrecision };

/** Each side's precision; a side not named runs `fallback` (the checkpoint's own precision). */
export const sideWeights = (w: SideWeights | undefined, fallback: WeightPrecision = 'fp32'): { edge: WeightPrecision; cloud: WeightPrecision } =>
  typeof w === 'string' ? { edge: w, cloud: w } : { edge: w?.edge ?? fallback, cloud: w?.cloud ?? fallback };

export interface LocalSplitOptions extends OrtNodeOptions, SplitSessionOptions {
  ffnChunks?: number;
  /**
   * Weight precision per side: fp32 (the checkpoint's arrays), int8 or q4, quantized here from
   * `ckpt` (or `ckpt` as it is, when it is already quantized to that precision).
   * @defaultValue the checkpoint's own precision on both sides (fp32 unless it was loaded quantized)
   */
  weights?: SideWeights;
  /** q4 without zero points. @defaultValue false */
  symmetric?: boolean;
  /** What quantized products compute in (QuantActivations): fp32 (exact splits) or int8 (faster). @defaultValue 'fp32' */
  activations?: QuantActivations;
}

/** The graphs a side can load for this checkpoint (re-exported from onnx-graphs, where it lives). */
export { graphSource };

export async function createLocalSplit(
  ckpt: Gpt2Checkpoint,
  plan: PartitionPlan | ((g: ModelGraph) => PartitionPlan | Promise<PartitionPlan>),
  o: LocalSplitOptions = {},
): Promise<LocalSplit> {
  // a checkpoint loaded quantized was cut for its own FFN chunking
  const graph = buildModelGraph(ckpt.config, { ffnChunks: o.ffnChunks ?? ckpt.quantized?.ffnChunks });
  const runtime = new OrtNodeRuntime(o);
  const w = sideWeights(o.weights, precisionOf(ckpt));
  const at = new Map<WeightPrecision, Gpt2Checkpoint>();
  const side = (p: WeightPrecision): Gpt2Checkpoint => {
    if (!at.has(p)) at.set(p, quantizeCheckpoint(ckpt, p, { ffnChunks: graph.ffnChunks, symmetric: o.symmetric, activations: o.activations }));
    return at.get(p)!;
  };
  const [edgeCkpt, cloudCkpt] = [side(w.edge), side(w.cloud)];
  const sessions = {
    edge: await SplitSessions.create(runtime, graphSource(edgeCkpt), o),
    cloud: await SplitSessions.create(runtime, graphSource(cloudCkpt), o),
  };
  const cloud = new CloudExecutor(graph, new SplitWeights(cloudCkpt, graph), sessions.cloud);
  const link = new InMemoryLink(cloud);
  const initial = typeof plan === 'function' ? await plan(graph) : plan;
  const edge = await EdgeExecutor.create(graph, new SplitWeights(edgeCkpt, graph), sessions.edge, link, initial);
  return { graph, edge, cloud, link, sessions };
}

export interface MonolithicOptions extends OrtNodeOptions {
  /** Weight precision of the whole graph (quantized here from `ckpt`). @defaultValue 'fp32' */
  weights?: WeightPrecision;
  /** The FFN chunking whose chunks the quantized down projections are cut at (the split's ModelGraph.ffnChunks). @defaultValue n_head */
  ffnChunks?: number;
  /** q4 without zero points. @defaultValue false */
  symmetric?: boolean;
  /** What quantized products compute in. @defaultValue 'fp32' */
  activations?: QuantActivations;
}

/** The monolithic reference graph in an onnxruntime-node session: fp32, or quantized as a split with the same options is. */
export async function createMonolithic(ckpt: Gpt2Checkpoint, o: MonolithicOptions = {}): Promise<MonolithicRunner> {
  const q = quantizeCheckpoint(ckpt, o.weights ?? precisionOf(ckpt), { ffnChunks: o.ffnChunks ?? ckpt.quantized?.ffnChunks ?? buildModelGraph(ckpt.config).ffnChunks, symmetric: o.symmetric, activations: o.activations });
  const session = await new OrtNodeRuntime(o).createSession(buildMonolithicGraph(q), 'monolithic');
  return new MonolithicRunner(ckpt.config, session);
}
