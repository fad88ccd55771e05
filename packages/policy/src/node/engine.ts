// Node only: both sides of the real engine in this process (as @splitwise/runtime-node's
// createLocalSplit), with the link chosen by the caller, and sessions kept across plans so that
// many plans can be run without rebuilding graphs.
import {
  CloudExecutor,
  EdgeExecutor,
  SplitSessions,
  SplitWeights,
  buildModelGraph,
  edgeOnlyPlan,
  type CloudHandler,
  type CloudLink,
  type Gpt2Checkpoint,
  type ModelGraph,
  type PartitionPlan,
} from '@splitwise/core';
import { OrtNodeRuntime, graphSource } from '@splitwise/runtime-node';

export interface EngineRig {
  graph: ModelGraph;
  /** A fresh edge + cloud pair under `plan`, joined by the link `makeLink` builds around the cloud. */
  pair(plan: PartitionPlan, makeLink: (cloud: CloudHandler) => CloudLink): Promise<{ edge: EdgeExecutor; cloud: CloudExecutor; link: CloudLink }>;
  release(): Promise<void>;
}

export async function createEngineRig(ckpt: Gpt2Checkpoint, o: { threads?: number; ffnChunks?: number } = {}): Promise<EngineRig> {
  const graph = buildModelGraph(ckpt.config, { ffnChunks: o.ffnChunks });
  const runtime = new OrtNodeRuntime({ intraOpNumThreads: o.threads ?? 2 });
  const source = graphSource(ckpt);
  const sessions = { edge: await SplitSessions.create(runtime, source), cloud: await SplitSessions.create(runtime, source) };
  // the edge's and the cloud's weights stay separate objects, as on two machines
  const edgeWeights = new SplitWeights(ckpt, graph), cloudWeights = new SplitWeights(ckpt, graph);
  return {
    graph,
    async pair(plan, makeLink) {
      const cloud = new CloudExecutor(graph, cloudWeights, sessions.cloud);
      const link = makeLink(cloud);
      edgeWeights.clearCache();
      cloudWeights.clearCache();
      const edge = await EdgeExecutor.create(graph, edgeWeights, sessions.edge, link, plan ?? edgeOnlyPlan(graph));
      return { edge, cloud, link };
    },
    async release() {
      await sessions.edge.release();
      await sessions.cloud.release();
    },
  };
}
