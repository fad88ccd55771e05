// Building the browser edge from the downloaded files: checkpoint -> split weights, ONNX graphs
// generated here from the checkpoint (no graph files are downloaded), sessions on onnxruntime-web,
// the socket.io link to the page's own origin, and the EdgeExecutor that drives every forward pass.
import {
  EdgeExecutor,
  RecoveringEdge,
  SplitSessions,
  SplitWeights,
  QUANT_ACTIVATIONS,
  WEIGHT_PRECISIONS,
  buildModelGraph,
  quantizeCheckpoint,
  schedule,
  type ModelConfig,
  type ModelGraph,
  type PartitionPlan,
  type QuantActivations,
  type RecoveryEvent,
  type WeightPrecision,
  type WirePrecision,
} from '@splitwise/core';
import { ModelTokenizer, loadCheckpoint } from '@splitwise/checkpoint';
import { graphSource } from '@splitwise/onnx-graphs';
import { SocketLink } from '@splitwise/link-socketio';
import { createWebRuntime, type WebRuntime } from '@splitwise/runtime-web';
import type { ModelFiles } from './model-store.ts';
import { ORT_WASM_PATHS } from './ort-assets.ts';

export interface EdgeApp {
  config: ModelConfig;
  graph: ModelGraph;
  /** The precision each side holds its weights at (the policy's cost model prices it). */
  weights: { edge: WeightPrecision; cloud: WeightPrecision };
  tokenizer: ModelTokenizer;
  runtime: WebRuntime;
  sessions: SplitSessions;
  link: SocketLink;
  edge: EdgeExecutor;
  /**
   * The edge with retries, reconnection and fallback: if the cloud drops mid-answer, the link
   * reconnects with backoff and the cloud's KV is rebuilt from the edge's checkpoint; if it stays
   * away, the edge runs everything and hands the cloud its share back when it returns. Generation
   * goes through this one.
   */
  recovering: RecoveringEdge;
}

export interface EdgeOptions {
  /** Which of the server's models this is (hello's modelId); absent: its default. */
  modelId?: string;
  preferWebGPU: boolean;
  numThreads?: number;
  precision: WirePrecision;
  /** The first plan (the cloud is told at connect time). */
  plan: (graph: ModelGraph) => PartitionPlan;
  onStep?: (what: string) => void;
  onRecovery?: (e: RecoveryEvent) => void;
  /**
   * Mixed layers' attention units and FFN chunks through graphs holding the owned subset's weights
   * as initializers (built on first use), so decoding copies no weights into WASM memory.
   * @defaultValue true, unless the page's URL has `subsets=0` (bench:e2e's weightless comparison)
   */
  constantSubsets?: boolean;
  /**
   * Weight precision of the edge's share (quantized here, at load, from the downloaded checkpoint)
   * and of the cloud's (hello.weights), and what quantized products compute in.
   * @defaultValue the page's URL: `?weights=int8|q4` (both sides), `&cloudWeights=` (the cloud's alone), `&activations=int8`; else fp32
   */
  weights?: { edge: WeightPrecision; cloud: WeightPrecision; activations: QuantActivations };
}

const urlParam = (name: string): string | null => {
  try {
    return new URLSearchParams(globalThis.location?.search ?? '').get(name);
  } catch {
    return null;
  }
};
/** `?subsets=0`: mixed layers on the weightless graphs (a benchmark knob, as `store=0` is). */
const subsetsFromUrl = (): boolean => urlParam('subsets') !== '0';
/** `?spin=0|1`: whether onnxruntime-web's idle threads spin (a benchmark knob; unset: ORT's default). */
const spinFromUrl = (): { spinning?: boolean } => {
  const v = urlParam('spin');
  return v === '0' || v === '1' ? { spinning: v === '1' } : {};
};

/** `?weights=int8|q4`, `&cloudWeights=`, `&activations=int8`: each side's weight precision (unknown values: fp32). */
export function weightsFromUrl(): { edge: WeightPrecision; cloud: WeightPrecision; activations: QuantActivations } {
  const pick = <T extends string>(v: string | null, allowed: readonly T[]): T | undefined => (allowed as readonly string[]).includes(v ?? '') ? (v as T) : undefined;
  const edge = pick(urlParam('weights'), WEIGHT_PRECISIONS) ?? 'fp32';
  return { edge, cloud: pick(urlParam('cloudWeights'), WEIGHT_PRECISIONS) ?? edge, activations: pick(urlParam('activations'), QUANT_ACTIVATIONS) ?? 'fp32' };
}

/**
 * Create the sessions a plan runs on the edge before the first prompt: whole layers get their own
 * constant-weight graph on first use, and so does each attention/FFN subset of the edge's share of
 * mixed layers (given `edge`); compiling them takes long enough to spoil the first token's latency.
 * Graphs a later plan needs are compiled when that plan first runs them (or is warmed here).
 */
export async function warmSessions(app: Pick<EdgeApp, 'sessions'> & { edge?: EdgeExecutor }, plan: PartitionPlan, onStep?: (what: string) => void): Promise<void> {
  const layers = schedule(plan).flatMap((s) => (s.type === 'edge-layer' ? [s.layer] : []));
  for (const [i, l] of layers.entries()) {
    onStep?.(`compiling layer ${l} (${i + 1} of ${layers.length})`);
    await app.sessions.layer(l);
  }
  // the edge's share of mixed layers: one constant-weight graph per attention/FFN subset
  await app.edge?.runner.warmSubsets(plan, (l) => onStep?.(`compiling the edge's part of layer ${l}`));
  onStep?.('compiling the LM head');
  await app.sessions.lmHead();
}

export async function createEdgeApp(files: ModelFiles, o: EdgeOptions): Promise<EdgeApp> {
  const step = o.onStep ?? (() => undefined);
  step('reading weights');
  const loaded = loadCheckpoint(files.config, files.safetensors);
  const graph = buildModelGraph(loaded.config);
  const weights = o.weights ?? weightsFromUrl();
  if (weights.edge !== 'fp32') step(`quantizing the weights to ${weights.edge}`);
  // the edge's weights at its precision: int8/q4 graphs hold them quantized (MatMulNBits)
  const ckpt = quantizeCheckpoint(loaded, weights.edge, { ffnChunks: graph.ffnChunks, activations: weights.activations });
  const tokenizer = new ModelTokenizer(files.tokenizer, files.tokenizerConfig);

  step('starting onnxruntime-web');
  const runtime = await createWebRuntime({ preferWebGPU: o.preferWebGPU, wasmPaths: ORT_WASM_PATHS, ...(o.numThreads ? { numThreads: o.numThreads } : {}), ...spinFromUrl() });
  step('building ONNX graphs');
  // onnxruntime-web copies every input per call: weights of mixed layers' subsets live in their sessions
  const sessions = await SplitSessions.create(runtime, graphSource(ckpt), { constantSubsets: o.constantSubsets ?? subsetsFromUrl() });
  const plan = o.plan(graph);
  await warmSessions({ sessions }, plan, step);

  step('connecting to the cloud');
  const link = await SocketLink.connect(graph, {
    precision: o.precision,
    probeEveryMs: 1000,
    ...(o.modelId ? { modelId: o.modelId } : {}),
    ...(weights.cloud !== 'fp32' ? { cloudWeights: weights.cloud, cloudActivations: weights.activations } : {}),
  });
  const edge = await EdgeExecutor.create(graph, new SplitWeights(ckpt, graph), sessions, link, plan);
  await edge.runner.warmSubsets(plan, (l) => step(`compiling the edge's part of layer ${l}`));
  const recovering = new RecoveringEdge(edge, { reconnect: () => link.reconnect(), ...(o.onRecovery ? { onEvent: o.onRecovery } : {}) });
  return { config: ckpt.config, graph, weights: { edge: weights.edge, cloud: weights.cloud }, tokenizer, runtime, sessions, link, edge, recovering };
}
