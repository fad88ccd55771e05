// The model, loaded once and shared by every connection: the checkpoint, its graph, ONE set of
// cloud sessions, and (lazily) the monolithic reference and the tokenizer for /api/reference.
// Sharing sessions is safe: a session holds no per-sequence state (KV caches live in each
// connection's SideRunner and are passed in as inputs), and onnxruntime-node runs each call
// to completion on the JS thread, so calls from different connections never overlap.
import { argmax, buildModelGraph, CloudExecutor, SplitSessions, SplitWeights, type ModelGraph, type MonolithicRunner } from '@splitwise/core';
import { loadGpt2FromDir, loadTokenizerFromDir, type Gpt2Tokenizer, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
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
    readonly dir: string,
    readonly ckpt: LoadedGpt2Checkpoint,
    readonly graph: ModelGraph,
    readonly sessions: SplitSessions,
    private readonly threads: number,
  ) {}

  static async load(dir: string, o: { threads: number; ffnChunks?: number }): Promise<ModelHost> {
    const ckpt = await loadGpt2FromDir(dir);
    const graph = buildModelGraph(ckpt.config, { ffnChunks: o.ffnChunks });
    const sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: o.threads }), graphSource(ckpt));
    return new ModelHost(dir, ckpt, graph, sessions, o.threads);
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

  async close(): Promise<void> {
    await this.sessions.release();
  }
}
