// The edge over a real network: the model fetched from a splitwise server, the edge's share run
// with onnxruntime-node, the cloud's share requested over socket.io. The headless client, the
// link benchmark and the integration tests all assemble it here. `recovering` wraps the edge in
// core's RecoveringEdge: a failed cloud call is retried with exponential backoff, the link
// reconnects (to the same or the next server of the list) and the new worker is rebuilt from the
// edge's partition checkpoint.
import {
  buildModelGraph,
  LinkError,
  EdgeExecutor,
  RecoveringEdge,
  SplitSessions,
  SplitWeights,
  quantizeCheckpoint,
  type Gpt2Checkpoint,
  type QuantActivations,
  type WeightPrecision,
  type ModelGraph,
  type BackoffOptions,
  type Fallback,
  type PartitionPlan,
  type RecoveryEvent,
  type WirePrecision,
} from '@splitwise/core';
import type { Gpt2Tokenizer } from '@splitwise/checkpoint';
import { SocketLink } from '@splitwise/link-socketio';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { downloadModel, type Progress } from './download.ts';
import { resolvePlan } from './engine.ts';

export interface RemoteEdgeOptions {
  /**
   * Server base URL, e.g. http://127.0.0.1:8080, or several separated by commas: the cloud
   * workers to fail over between (the model is downloaded from the first that answers).
   */
  server: string;
  /** Which of the server's models (its GET /api/models). @defaultValue its default */
  model?: string;
  /** edge | cloud | api | half | layers:K | random:SEED | FILE.json, or a plan. @defaultValue 'half' */
  plan?: string | PartitionPlan;
  /** @defaultValue 'fp32' */
  precision?: WirePrecision;
  /** onnxruntime intra-op threads on the edge. */
  threads?: number;
  /** The edge's weight precision (quantized here from the downloaded checkpoint). @defaultValue 'fp32' */
  weights?: WeightPrecision;
  /** The cloud's weight precision (hello.weights). @defaultValue `weights` */
  cloudWeights?: WeightPrecision;
  /** What quantized products compute in, on both sides. @defaultValue 'fp32' */
  activations?: QuantActivations;
  token?: string;
  timeoutMs?: number;
  /** RTT probe period; 0 = none. @defaultValue 1000 */
  probeEveryMs?: number;
  onProgress?: Progress;
  /**
   * Use this checkpoint instead of downloading (benchmarks that already hold the same model);
   * the server still checks in hello that its shape matches.
   */
  checkpoint?: { ckpt: Gpt2Checkpoint; ffnChunks?: number; tokenizer?: Gpt2Tokenizer };
  /** Reuse the edge sessions of another RemoteEdge of the same model (benchmarks). */
  sessions?: SplitSessions;
  /** What `recovering` does while the cloud is unreachable. @defaultValue 'edge-after-retries' */
  fallback?: Fallback;
  /** Retry schedule of `recovering` (core's defaults: 100 ms doubling to 2 s, 5 attempts, jitter 0.5). */
  backoff?: BackoffOptions;
  /** Outages, retries, reconnections, fallbacks and restores, as they happen. */
  onRecoveryEvent?: (e: RecoveryEvent) => void;
}

/** `--server a,b,c` → ['a', 'b', 'c'] (trimmed, no empties). */
export const serverList = (spec: string): string[] =>
  spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export interface RemoteEdge {
  graph: ModelGraph;
  ckpt: Gpt2Checkpoint;
  tokenizer?: Gpt2Tokenizer;
  edge: EdgeExecutor;
  /** The edge with retries, failover and fallback: drive generation with this one. */
  recovering: RecoveringEdge;
  link: SocketLink;
  sessions: SplitSessions;
  /** What the model download took (0 when a checkpoint was given). */
  download: { bytes: number; ms: number };
  close(): Promise<void>;
}

export async function connectRemoteEdge(o: RemoteEdgeOptions): Promise<RemoteEdge> {
  const servers = serverList(o.server);
  if (servers.length === 0) throw new LinkError('no server URL given', 'connect_failed');
  const got = o.checkpoint ? { ...o.checkpoint, bytes: 0, ms: 0 } : await downloadFromAny(servers, o.onProgress, o.model);
  const graph = buildModelGraph(got.ckpt.config, { ffnChunks: got.ffnChunks });
  const plan = typeof o.plan === 'object' ? o.plan : await resolvePlan(o.plan ?? 'half', graph);
  // the edge's share at its own weight precision; the cloud is told its own in hello
  const ckpt = quantizeCheckpoint(got.ckpt, o.weights ?? 'fp32', { ffnChunks: graph.ffnChunks, activations: o.activations });
  const cloudWeights = o.cloudWeights ?? o.weights;
  const ownSessions = !o.sessions;
  const sessions = o.sessions ?? (await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: o.threads }), graphSource(ckpt)));
  let link: SocketLink | undefined;
  try {
    link = await SocketLink.connect(graph, {
      urls: servers,
      precision: o.precision ?? 'fp32',
      token: o.token,
      timeoutMs: o.timeoutMs,
      probeEveryMs: o.probeEveryMs,
      ...(o.model ? { modelId: o.model } : {}),
      ...(cloudWeights ? { cloudWeights } : {}),
      ...(o.activations ? { cloudActivations: o.activations } : {}),
    });
    const edge = await EdgeExecutor.create(graph, new SplitWeights(ckpt, graph), sessions, link, plan);
    const l = link;
    const recovering = new RecoveringEdge(edge, {
      fallback: o.fallback,
      backoff: o.backoff,
      reconnect: () => l.reconnect(),
      ...(o.onRecoveryEvent ? { onEvent: o.onRecoveryEvent } : {}),
    });
    let closing: Promise<void> | undefined;
    return {
      graph,
      ckpt: got.ckpt,
      tokenizer: got.tokenizer,
      edge,
      recovering,
      link: l,
      sessions,
      download: { bytes: got.bytes, ms: got.ms },
      close: () =>
        (closing ??= (async () => {
          await l.close();
          if (ownSessions) await sessions.release();
        })()),
    };
  } catch (e) {
    await link?.close();
    if (ownSessions) await sessions.release();
    throw e;
  }
}

async function downloadFromAny(servers: string[], onProgress?: Progress, model?: string) {
  let last: unknown;
  for (const s of servers) {
    try {
      const d = await downloadModel(s, onProgress, model);
      return { ckpt: d.ckpt, tokenizer: d.tokenizer, ffnChunks: d.info.ffnChunks, bytes: d.bytes, ms: d.ms };
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
