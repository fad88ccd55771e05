// A model, loaded once and shared by every connection that chose it: the checkpoint, its graph, ONE set of
// cloud sessions, and (lazily) the monolithic reference and the tokenizer for /api/reference.
// Sharing sessions is safe: a session holds no per-sequence state (KV caches live in each
// connection's SideRunner and are passed in as inputs), and onnxruntime-node runs each call
// to completion on the JS thread, so calls from different connections never overlap.
import { argmax, buildModelGraph, CloudExecutor, parameterCount, SplitSessions, SplitWeights, type ModelGraph, type MonolithicRunner } from '@splitwise/core';
import { loadModelFromDir, loadTokenizerFromDir, type Gpt2Tokenizer, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { createMonolithic, graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { ProtocolError } from '@splitwise/protocol';
import { SerialQueue } from './serial-queue.ts';

const MAX_QUEUED_REFERENCES = 16;

export class ModelHost {
  private mono?: Promise<MonolithicRunner>;
  private tok?: Promise<Gpt2Tokenizer>;
  /** The reference runner is stateful (its KV cache): one request at a time. */
  private readonly referenceQueue = new SerialQueue();

  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly ckpt: LoadedGpt2Checkpoint,
    readonly graph: ModelGraph,
    readonly sessions: SplitSessions,
    private readonly threads: number,
  ) {}

  static async load(dir: string, o: { id?: string; threads: number; ffnChunks?: number }): Promise<ModelHost> {
    const ckpt = await loadModelFromDir(dir);
    const graph = buildModelGraph(ckpt.config, { ffnChunks: o.ffnChunks });
    const sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: o.threads }), graphSource(ckpt));
    return new ModelHost(o.id ?? 'default', dir, ckpt, graph, sessions, o.threads);
  }

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
    };
  }

  /** A fresh cloud side for one connection: its own KV caches and gathered weight subsets. */
  newExecutor(): CloudExecutor {
    return new CloudExecutor(this.graph, new SplitWeights(this.ckpt, this.graph), this.sessions);
  }

  tokenizer(): Promise<Gpt2Tokenizer> {
    this.tok ??= loadTokenizerFromDir(this.dir);
    return this.tok;
  }

  /** Greedy continuation of `ids` by the whole model in one graph: what a correct split must produce. */
  reference(ids: number[], n: number): Promise<number[]> {
    // each call is up to MAX_REFERENCE_TOKENS whole-model passes: refuse a flood rather than queue it
    if (this.referenceQueue.size >= MAX_QUEUED_REFERENCES) throw new ProtocolError('busy', `${MAX_QUEUED_REFERENCES} reference runs are already queued`);
    return this.referenceQueue.run(async () => {
      this.mono ??= createMonolithic(this.ckpt, { intraOpNumThreads: this.threads });
      const mono = await this.mono;
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

  /** The whole model's logits at the last position of `ids` (from position 0). */
  referenceLogits(ids: number[]): Promise<Float32Array> {
    if (this.referenceQueue.size >= MAX_QUEUED_REFERENCES) throw new ProtocolError('busy', `${MAX_QUEUED_REFERENCES} reference runs are already queued`);
    return this.referenceQueue.run(async () => {
      this.mono ??= createMonolithic(this.ckpt, { intraOpNumThreads: this.threads });
      const mono = await this.mono;
      mono.reset();
      return mono.forward(ids);
    });
  }

  async close(): Promise<void> {
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
