// A model, loaded once and shared by every connection that chose it: the checkpoint, its graph, ONE set of
// cloud sessions, the continuous batcher over them (unless batching is off), and (lazily) the
// monolithic reference and the tokenizer for /api/reference.
// Sharing sessions is safe: a session holds no per-sequence state (KV caches live in each
// connection's SideRunner and are passed in as inputs), and onnxruntime-node runs each call
// to completion on the JS thread, so calls from different connections never overlap.
import { argmax, buildModelGraph, CloudExecutor, parameterCount, precisionOf, quantizeCheckpoint, QuantizationError, SplitSessions, SplitWeights, type Checkpoint, type ModelGraph, type MonolithicRunner, type QuantActivations, type WeightPrecision } from '@splitwise/core';
import { loadModelFromDir, loadTokenizerFromDir, type Gpt2Tokenizer, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { createMonolithic, graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { ProtocolError } from '@splitwise/protocol';
import { SerialQueue } from './serial-queue.ts';
import { LayerBatcher, type BatcherStats, type BatchingOptions, type BatchLane } from './batcher.ts';

const MAX_QUEUED_REFERENCES = 16;

/** A cloud side's weights: a precision (absent: the model's own) and what quantized products compute in. */
export interface CloudWeights {
  weights?: WeightPrecision;
  activations?: QuantActivations;
}

export class ModelHost {
  private mono?: Promise<MonolithicRunner>;
  /** The cloud at weight precisions other than the model's own, made on first use (see cloudAt). */
  private readonly clouds = new Map<string, { ckpt: Checkpoint; sessions: SplitSessions }>();
  /** Monolithic references at other weight precisions, for /api/reference?weights=. */
  private readonly monos = new Map<string, Promise<MonolithicRunner>>();
  private tok?: Promise<Gpt2Tokenizer>;
  /** The reference runner is stateful (its KV cache): one request at a time. */
  private readonly referenceQueue = new SerialQueue();
  /** Each executor's lane into the batcher, closed when its connection goes. */
  private readonly lanes = new WeakMap<CloudExecutor, BatchLane>();

  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly ckpt: LoadedGpt2Checkpoint,
    readonly graph: ModelGraph,
    readonly sessions: SplitSessions,
    private readonly threads: number,
    /** Merges the one-row whole-layer steps of different sessions into one run; absent: each session runs its own. */
    readonly batcher?: LayerBatcher,
  ) {}

  /** `batching: false` runs each session's layers on its own, one call at a time (the cloud before batching). */
  static async load(dir: string, o: { id?: string; threads: number; ffnChunks?: number; batching?: BatchingOptions | false }): Promise<ModelHost> {
    const ckpt = await loadModelFromDir(dir);
    // a folder `splitwise quantize` wrote was cut for its own FFN chunking
    const graph = buildModelGraph(ckpt.config, { ffnChunks: o.ffnChunks ?? ckpt.quantized?.ffnChunks });
    const runtime = new OrtNodeRuntime({ intraOpNumThreads: o.threads }), source = graphSource(ckpt);
    // with the batcher, whole layers run through its graphs (prompts through the weightless
    // `block` graph), so the per-layer constant graphs and their copy of the weights are not made
    const unbatchable = o.batching === false ? undefined : LayerBatcher.unsupported(ckpt, graph);
    const batching = o.batching === false || unbatchable ? undefined : (o.batching ?? {});
    const sessions = await SplitSessions.create(runtime, source, { constantLayers: batching === undefined });
    const batcher = batching && new LayerBatcher({ ckpt, graph, runtime, sessions }, batching);
    await batcher?.warm();
    const host = new ModelHost(o.id ?? 'default', dir, ckpt, graph, sessions, o.threads, batcher);
    host.batchingOff = unbatchable;
    return host;
  }

  /** Why batching was asked for and is off for this model (its weights cannot be batched), or undefined. */
  batchingOff?: string;

  /** What GET /api/models says of this model. */
  summary(): Record<string, unknown> {
    const c = this.graph.config;
    return {
      id: this.id,
      family: c.family,
      parameters: parameterCount(c),
      nLayer: c.nLayer,
      nHead: c.nHead,
      nKvHead: c.nKvHead,
      nEmbd: c.nEmbd,
      attnUnits: this.graph.attnUnits,
      ffnChunks: this.graph.ffnChunks,
      vocabSize: c.vocabSize,
      nPositions: c.nPositions,
      // the precision its checkpoint holds; a session may ask its cloud for int8 or q4 (hello.weights)
      weights: precisionOf(this.ckpt),
    };
  }

  /**
   * The checkpoint and sessions of the cloud at `w`, or undefined for the model's own. Another
   * precision is quantized from this model's checkpoint when a session first asks for it (once; for
   * gpt2-small a few seconds), and its sessions share this model's weightless graphs. Quantized
   * sessions run unbatched: the batcher's graphs take fp32 weights.
   */
  private cloudAt(w: CloudWeights): { ckpt: Checkpoint; sessions: SplitSessions } | undefined {
    const own = precisionOf(this.ckpt), weights = w.weights ?? own;
    const activations = weights === 'fp32' ? 'fp32' : (w.activations ?? 'fp32');
    if (weights === own && activations === (this.ckpt.quantized?.activations ?? 'fp32')) return undefined;
    const key = `${weights}/${activations}`;
    let cloud = this.clouds.get(key);
    if (!cloud) {
      let ckpt: Checkpoint;
      try {
        ckpt = quantizeCheckpoint(this.ckpt, weights, { ffnChunks: this.graph.ffnChunks, activations });
      } catch (e) {
        if (e instanceof QuantizationError) throw new ProtocolError('unsupported_weights', `model "${this.id}": ${e.message}`);
        throw e;
      }
      cloud = { ckpt, sessions: this.sessions.derive(graphSource(ckpt)) };
      this.clouds.set(key, cloud);
    }
    return cloud;
  }

  /** A fresh cloud side for one connection: its own KV caches and gathered weight subsets, at the weights the edge asked for. */
  newExecutor(w: CloudWeights = {}): CloudExecutor {
    const cloud = this.cloudAt(w);
    if (cloud) return new CloudExecutor(this.graph, new SplitWeights(cloud.ckpt, this.graph), cloud.sessions);
    const lane = this.batcher?.lane();
    const executor = new CloudExecutor(this.graph, new SplitWeights(this.ckpt, this.graph), this.sessions, lane);
    if (lane) this.lanes.set(executor, lane);
    return executor;
  }

  /** Whether `executor`'s whole layers run through the batcher (not when batching is off, nor for a session at other weights). */
  batches(executor: CloudExecutor): boolean {
    return this.lanes.has(executor);
  }

  /**
   * How much each request of another session that the server holds slows `executor`'s: the
   * server's own measure of beta in f = 1 + beta L (L the load meter's concurrency). Calls that
   * run on their own take turns with the others', so 1 (a serial server's slowdown was 1 + L
   * within 16 %: docs/contention-measured.md). A batched session's steps share runs with the others': each
   * other session adds a row to its runs and its share of the prompts, which run alone
   * (`LayerBatcher.contention`). Undefined while the batcher has not measured that (no batch of
   * two rows lately: then nobody shared a run).
   */
  contention(executor: CloudExecutor): number | undefined {
    return this.batches(executor) ? this.batcher?.contention() : 1;
  }

  /** The connection of `executor` is gone: its queued steps are dropped and no sweep waits for it. */
  release(executor: CloudExecutor): void {
    this.lanes.get(executor)?.close();
  }

  /** The batcher's figures (undefined when batching is off). */
  batchStats(): BatcherStats | undefined {
    return this.batcher?.stats();
  }

  tokenizer(): Promise<Gpt2Tokenizer> {
    this.tok ??= loadTokenizerFromDir(this.dir);
    return this.tok;
  }

  /** The monolithic graph at weights `w` (the model's own when absent). */
  private monolithic(w: CloudWeights): Promise<MonolithicRunner> {
    const cloud = this.cloudAt(w);
    if (!cloud) return (this.mono ??= createMonolithic(this.ckpt, { intraOpNumThreads: this.threads }));
    const key = `${precisionOf(cloud.ckpt)}/${cloud.ckpt.quantized?.activations ?? 'fp32'}`;
    let m = this.monos.get(key);
    if (!m) {
      m = createMonolithic(cloud.ckpt, { intraOpNumThreads: this.threads, ffnChunks: this.graph.ffnChunks });
      this.monos.set(key, m);
    }
    return m;
  }

  /** Greedy continuation of `ids` by the whole model in one graph (at weights `w`): what a correct split must produce. */
  reference(ids: number[], n: number, w: CloudWeights = {}): Promise<number[]> {
    // each call is up to MAX_REFERENCE_TOKENS whole-model passes: refuse a flood rather than queue it
    if (this.referenceQueue.size >= MAX_QUEUED_REFERENCES) throw new ProtocolError('busy', `${MAX_QUEUED_REFERENCES} reference runs are already queued`);
    return this.referenceQueue.run(async () => {
      const mono = await this.monolithic(w);
      mono.reset();
      const out: number[] = [];
      let logits = await mono.forward(ids);
      for (let i = 0; i < n; i++) {
        out.push(argmax(logits));
        if (i + 1 < n) logits = await mono.forward([out.at(-1)!]);
      }
      return out;
    });
  }

  /** The whole model's logits at the last position of `ids` (from position 0), at weights `w`. */
  referenceLogits(ids: number[], w: CloudWeights = {}): Promise<Float32Array> {
    if (this.referenceQueue.size >= MAX_QUEUED_REFERENCES) throw new ProtocolError('busy', `${MAX_QUEUED_REFERENCES} reference runs are already queued`);
    return this.referenceQueue.run(async () => {
      const mono = await this.monolithic(w);
      mono.reset();
      return mono.forward(ids);
    });
  }

  async close(): Promise<void> {
    await this.batcher?.release();
    await Promise.all([...this.clouds.values()].map((c) => c.sessions.release()));
    await this.sessions.release();
  }
}

/** Model ids name URLs (/models/<id>/...) and hello's modelId: short and plain. */
export const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The models one server hosts, in order; the first is the default. */
export class ModelHosts {
  private readonly byId: Map<string, ModelHost>;

  constructor(readonly list: readonly ModelHost[]) {
    if (list.length === 0) throw new Error('a server needs at least one model');
    this.byId = new Map(list.map((m) => [m.id, m]));
    if (this.byId.size !== list.length) throw new Error(`model ids must be unique: ${list.map((m) => m.id).join(', ')}`);
    // "default" always names the first model (URLs and clients that name none use it)
    if (list.slice(1).some((m) => m.id === 'default')) throw new Error('"default" is the first model\'s name; give the other model another id (its folder name is used)');
  }

  get default(): ModelHost {
    return this.list[0]!;
  }

  /** The model with this id ("default" or absent: the first); unknown ids are the client's error. */
  get(id?: string): ModelHost {
    if (id === undefined || id === 'default') return this.default;
    const m = this.byId.get(id);
    if (!m) throw new ProtocolError('unknown_model', `this server has no model "${id.slice(0, 64)}"; it has ${this.list.map((x) => x.id).join(', ')}`);
    return m;
  }

  async close(): Promise<void> {
    await Promise.all(this.list.map((m) => m.close()));
  }
}
