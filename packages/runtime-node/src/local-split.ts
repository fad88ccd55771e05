// Both sides of the split engine in one Node process, joined by an InMemoryLink: what the CLI,
// the benchmarks and the equivalence tests run. The socket.io link replaces only the link.
import {
  buildModelGraph,
  CloudExecutor,
  SplitSessions,
  EdgeExecutor,
  InMemoryLink,
  MonolithicRunner,
  SplitWeights,
  type Gpt2Checkpoint,
  type ModelGraph,
  type PartitionPlan,
  type SplitSessionOptions,
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

export interface LocalSplitOptions extends OrtNodeOptions, SplitSessionOptions {
  ffnChunks?: number;
}

/** The graphs a side can load for this checkpoint (re-exported from onnx-graphs, where it lives). */
export { graphSource };

export async function createLocalSplit(
  ckpt: Gpt2Checkpoint,
  plan: PartitionPlan | ((g: ModelGraph) => PartitionPlan | Promise<PartitionPlan>),
  o: LocalSplitOptions = {},
): Promise<LocalSplit> {
  const graph = buildModelGraph(ckpt.config, { ffnChunks: o.ffnChunks });
  const runtime = new OrtNodeRuntime(o);
  const source = graphSource(ckpt);
  const sessions = { edge: await SplitSessions.create(runtime, source, o), cloud: await SplitSessions.create(runtime, source, o) };
  const cloud = new CloudExecutor(graph, new SplitWeights(ckpt, graph), sessions.cloud);
  const link = new InMemoryLink(cloud);
  const initial = typeof plan === 'function' ? await plan(graph) : plan;
  const edge = await EdgeExecutor.create(graph, new SplitWeights(ckpt, graph), sessions.edge, link, initial);
  return { graph, edge, cloud, link, sessions };
}

/** The monolithic reference graph in an onnxruntime-node session. */
export async function createMonolithic(ckpt: Gpt2Checkpoint, o: OrtNodeOptions = {}): Promise<MonolithicRunner> {
  const session = await new OrtNodeRuntime(o).createSession(buildMonolithicGraph(ckpt), 'monolithic');
  return new MonolithicRunner(ckpt.config, session);
}
