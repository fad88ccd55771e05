// The edge side and the driver of every forward pass. It owns the embeddings, the LM head and
// the residual stream; it runs its sub-blocks, hands cloud work over the CloudLink (see
// schedule.ts), and keeps the partition checkpoint: the residual at every layer's input for every
// past position, from which any KV cache a head needs after a plan change (or that the cloud
// lost) is rebuilt.
// Under an API cloud-only plan the edge computes nothing: it sends token ids, gets the logits back,
// and keeps the ids of every past position (and the passes that made them), which is all a lost
// cloud needs to be rebuilt. Leaving that plan, the edge first replays those ids itself to make
// its checkpoint and KV caches (replayLocally).
import { ContextLengthError, ExecutorStateError, LinkError, TensorShapeError } from '../errors.ts';
import type { ModelGraph } from '../graph/model-graph.ts';
import { edgeOnlyPlan, ownedHeads, validatePlan, type PartitionPlan } from '../plan/partition-plan.ts';
import { combine } from './combine.ts';
import type { CloudLink } from './link.ts';
import { checkTokenIds, expandTopK } from './messages.ts';
import type { SplitSessions } from './runtime.ts';
import { schedule, type BlockRef } from './schedule.ts';
import { SideRunner } from './side-runner.ts';
import type { SplitWeights } from './split-weights.ts';
import { wireRound } from '../util/wire-round.ts';

/** Rows of n_embd floats that grow by doubling: one layer's checkpoint. */
class RowStore {
  private buf = new Float32Array(0);
  rows = 0;
  constructor(private readonly width: number) {}
  append(x: Float32Array): void {
    const need = (this.rows * this.width) + x.length;
    if (need > this.buf.length) {
      const next = new Float32Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.rows * this.width));
      this.buf = next;
    }
    this.buf.set(x, this.rows * this.width);
    this.rows += x.length / this.width;
  }
  truncate(rows: number): void {
    this.rows = Math.min(this.rows, rows);
  }
  view(): Float32Array {
    return this.buf.subarray(0, this.rows * this.width);
  }
  get bytes(): number {
    return this.rows * this.width * 4;
  }
}

export class EdgeExecutor {
  readonly runner: SideRunner;
  /** Positions processed so far. */
  length = 0;
  private seq = 0;
  private checkpoint: RowStore[];
  /** Row counts of the forward passes so far: KV rebuilds project them in the same groups. */
  private groups: number[] = [];
  /** False after a forward pass failed once the cloud was involved: it must be rebuilt first. */
  private cloudInSync = true;
  /** Token ids of every past position: what an API cloud-only cloud is rebuilt from. */
  private ids: number[] = [];

  private constructor(
    readonly graph: ModelGraph,
    readonly weights: SplitWeights,
    sessions: SplitSessions,
    readonly link: CloudLink,
    plan: PartitionPlan,
  ) {
    this.runner = new SideRunner('edge', weights, sessions, plan);
    this.checkpoint = plan.layers.map(() => new RowStore(graph.config.nEmbd));
  }

  /** Creates the edge and tells the cloud to start a sequence under `plan`. */
  static async create(graph: ModelGraph, weights: SplitWeights, sessions: SplitSessions, link: CloudLink, plan: PartitionPlan): Promise<EdgeExecutor> {
    const edge = new EdgeExecutor(graph, weights, sessions, link, validatePlan(plan, graph));
    await link.request({ type: 'reset', plan: edge.plan });
    return edge;
  }

  get plan(): PartitionPlan {
    return this.runner.currentPlan;
  }

  /** Bytes held by the partition checkpoint. */
  checkpointBytes(): number {
    return this.checkpoint.reduce((a, s) => a + s.bytes, 0);
  }

  /** Rows of the checkpoint of layer l: the residual at its input for all past positions. */
  checkpointRows(l: number): Float32Array {
    const r = this.checkpoint[l]!;
    if (r.rows !== this.length) throw new ExecutorStateError(`checkpoint of layer ${l} has ${r.rows} rows, expected ${this.length}`);
    return r.view();
  }

  /**
   * Bring the cloud (the same worker after a failure, or a fresh one) to the edge's position:
   * it restarts under the current plan and rebuilds the KV caches of its heads from the
   * checkpoint. Nothing is recomputed on the edge.
   */
  async resync(): Promise<void> {
    const P = this.length;
    if (this.plan.apiCloudOnly) {
      // the cloud runs the ids again in the passes that first made them: no token is lost
      await this.link.request({ type: 'reset', plan: this.plan, length: P, ids: [...this.ids], groups: [...this.groups] });
      this.seq = 0;
      this.cloudInSync = true;
      return;
    }
    const rebuild = P > 0 ? this.plan.layers.flatMap((_, l) => (ownedHeads(this.plan, l, 'cloud').length > 0 ? [{ layer: l, x: this.checkpointRows(l) }] : [])) : [];
    await this.link.request({ type: 'reset', plan: this.plan, length: P, rebuild, groups: [...this.groups] });
    this.seq = 0;
    this.cloudInSync = true;
  }

  /** True when the cloud holds the state the edge expects (false after a failure, until resync). */
  get inSync(): boolean {
    return this.cloudInSync;
  }

  /** Start a new sequence (optionally under a new plan). The cloud is told, or rebuilt later. */
  async reset(plan: PartitionPlan = this.plan): Promise<void> {
    const p = validatePlan(plan, this.graph);
    let told = true;
    try {
      await this.link.request({ type: 'reset', plan: p });
    } catch (e) {
      // an edge-only sequence needs no cloud; otherwise the failure is the caller's to handle
      if (schedule(p).some((s) => s.type === 'cloud')) throw e;
      told = false;
    }
    this.runner.reset(p);
    this.length = 0;
    this.seq = 0;
    this.cloudInSync = told;
    this.checkpoint = p.layers.map(() => new RowStore(this.graph.config.nEmbd));
    this.groups = [];
    this.ids = [];
  }

  /**
   * Move heads and chunks between tokens. KV caches of heads that change side are rebuilt from
   * the checkpoint: the cloud is sent the residual rows of each layer where it gains heads. Into
   * API cloud-only, the cloud replays the token ids instead; out of it, the edge replays them.
   */
  async setPlan(plan: PartitionPlan, o: { cloud?: boolean } = {}): Promise<void> {
    const next = validatePlan(plan, this.graph), P = this.length, prev = this.plan;
    const rows = (l: number): Float32Array => this.checkpointRows(l);
    if (prev.apiCloudOnly && next.apiCloudOnly) return;
    if (prev.apiCloudOnly && P > 0) {
      // leaving API cloud-only: the edge has no checkpoint or KV of its own yet; it makes them from
      // the ids, then rebuilds the cloud from that checkpoint as after a failure (resync), so the
      // cloud holds exactly the caches a later recovery would make
      await this.replayLocally();
      await this.runner.setPlan(next, P, rows, this.groups);
      this.cloudInSync = false;
      if (o.cloud !== false) await this.resync();
      return;
    }
    if (o.cloud === false || !this.cloudInSync) {
      // the cloud is unreachable or behind: change the edge now, rebuild the cloud on next contact
      await this.runner.setPlan(next, P, rows, this.groups);
      this.cloudInSync = false;
      return;
    }
    try {
      if (next.apiCloudOnly) {
        // into API cloud-only: the cloud replays the ids (4 bytes each) instead of taking every
        // layer's checkpoint rows, and so holds exactly the caches a later recovery rebuilds
        await this.link.request({ type: 'reset', plan: next, length: P, ids: [...this.ids], groups: [...this.groups] });
      } else {
        const rebuild = next.layers.flatMap((_, l) => {
          const before = ownedHeads(prev, l, 'cloud'); // the cloud's heads as it holds them (all of them under API cloud-only)
          const gains = ownedHeads(next, l, 'cloud').some((h) => !before.includes(h));
          return gains && P > 0 ? [{ layer: l, x: rows(l) }] : [];
        });
        await this.link.request({ type: 'plan', plan: next, length: P, rebuild, groups: [...this.groups] });
      }
    } catch (e) {
      if (next.apiCloudOnly) this.cloudInSync = false; // the cloud may have reset: rebuild it on next contact
      throw e;
    }
    await this.runner.setPlan(next, P, rows, this.groups);
  }

  /**
   * Run the kept token ids through the whole model here, in their original passes, under the
   * edge-only plan: afterwards the edge holds every layer's KV cache and its full checkpoint, as if
   * it had run edge-only from the start (to float tolerance: its graphs, not the cloud's).
   */
  private async replayLocally(): Promise<void> {
    const E = this.graph.config.nEmbd, local = edgeOnlyPlan(this.graph), api = this.plan;
    this.runner.reset(local);
    this.checkpoint = local.layers.map(() => new RowStore(E));
    try {
      let at = 0;
      for (const g of this.groups) {
        let x = this.weights.embed(this.ids.slice(at, at + g), at);
        for (let l = 0; l < this.graph.config.nLayer; l++) {
          this.checkpoint[l]!.append(x);
          x = await this.runner.layer(l, x, g, at);
        }
        at += g;
      }
    } catch (e) {
      // back to API cloud-only as it was: the edge held nothing there but the ids
      this.runner.reset(api);
      this.checkpoint = api.layers.map(() => new RowStore(E));
      throw e;
    }
  }

  private embed(ids: number[], start: number): Float32Array {
    checkTokenIds(ids, this.graph.config.vocabSize);
    return this.weights.embed(ids, start);
  }

  private bias(b: BlockRef): Float32Array | undefined {
    return this.weights.outBias(b.layer, b.kind);
  }

  private partial(b: BlockRef, x: Float32Array, T: number, start: number): Promise<Float32Array> {
    return b.kind === 'attn' ? this.runner.attn(b.layer, x, T, start) : this.runner.ffn(b.layer, x, T);
  }

  /**
   * Feed `ids` (the prompt, or one sampled token) and return the logits of the last position.
   * `logitsTopK` > 0 says the caller reads only the K largest (greedy: 1): under an API cloud-only
   * plan only those cross the wire, and the rest of the row is -Infinity. Other plans ignore it.
   */
  async forward(ids: number[], o: ForwardOptions = {}): Promise<Float32Array> {
    const T = ids.length, P = this.length;
    if (T < 1) throw new TensorShapeError('forward needs at least one token');
    if (P + T > this.graph.config.nPositions) throw new ContextLengthError(P + T, this.graph.config.nPositions);
    if (this.plan.apiCloudOnly) return this.apiPass(ids, o.logitsTopK ?? 0);
    const x = this.embed(ids, P);
    const usesCloud = schedule(this.plan).some((s) => s.type === 'cloud');
    if (!this.cloudInSync && usesCloud) await this.resync();
    // a failed pass leaves no trace on the edge; the cloud is rebuilt before the next one
    const saved = this.runner.saveKv();
    try {
      const logits = await this.pass(x, T, P);
      this.ids.push(...ids);
      return logits;
    } catch (e) {
      this.runner.restoreKv(saved);
      for (const c of this.checkpoint) c.truncate(P);
      if (usesCloud) this.cloudInSync = false;
      throw e;
    }
  }

  private async pass(input: Float32Array, T: number, P: number): Promise<Float32Array> {
    const E = this.graph.config.nEmbd;
    let x = input;
    for (const step of schedule(this.plan)) {
      if (step.type === 'edge-layer') {
        this.checkpoint[step.layer]!.append(x);
        x = await this.runner.layer(step.layer, x, T, P);
      } else if (step.type === 'edge-block') {
        const b = step.block;
        if (b.kind === 'attn') this.checkpoint[b.layer]!.append(x);
        x = combine(x, this.bias(b), [await this.partial(b, x, T, P)]);
      } else {
        const first = step.blocks[0]!, last = step.blocks.at(-1)!, precision = this.link.precision ?? 'fp32';
        // the checkpoint keeps the row as the cloud decodes it (wireRound is the codec's own
        // round trip), so a rebuild makes exactly the cache the cloud computed; the edge's own
        // share still uses x
        if (first.kind === 'attn') this.checkpoint[first.layer]!.append(wireRound(x, E, precision));
        const req = { type: 'segment' as const, seq: ++this.seq, start: P, count: T, from: step.from, to: step.to, x, precision };
        // a mixed first block: the edge computes its share while the cloud computes its own
        // allSettled: a failed call must not leave the edge's share still writing its KV cache
        const [sent, mineFirst] = await Promise.allSettled([
          this.link.request(req),
          first.owner === 'mixed' ? this.partial(first, x, T, P) : Promise.resolve(undefined),
        ]);
        if (sent.status === 'rejected') throw sent.reason;
        if (mineFirst.status === 'rejected') throw mineFirst.reason;
        const reply = sent.value, edgeFirst = mineFirst.value;
        if (reply.type !== 'segment' || reply.seq !== req.seq || reply.x.length !== T * E) {
          throw new LinkError(`cloud answered segment ${req.seq} with a malformed reply`, 'bad_reply');
        }
        for (const c of reply.checkpoints) this.checkpoint[c.layer]!.append(c.x);
        if (last.owner === 'mixed') {
          const alone = step.blocks.length === 1, xIn = alone ? x : reply.x;
          if (!alone && last.kind === 'attn') this.checkpoint[last.layer]!.append(xIn);
          if (reply.partial?.length !== T * E) throw new LinkError(`cloud sent no partial sum for mixed block ${last.index}`, 'bad_reply');
          const mine = alone ? edgeFirst! : await this.partial(last, xIn, T, P);
          x = combine(xIn, this.bias(last), [mine, reply.partial]);
        } else {
          x = reply.x;
        }
      }
    }
    this.length += T;
    this.groups.push(T);
    return this.runner.logits(x.subarray((T - 1) * E, T * E));
  }

  /** API cloud-only: token ids up, the last position's logits (or the K largest) down. */
  private async apiPass(ids: number[], topK: number): Promise<Float32Array> {
    const T = ids.length, P = this.length, vocab = this.graph.config.vocabSize;
    checkTokenIds(ids, vocab);
    if (!this.cloudInSync) await this.resync();
    const req = { type: 'tokens' as const, seq: ++this.seq, start: P, ids: [...ids], ...(topK > 0 ? { topK } : {}) };
    let reply;
    try {
      reply = await this.link.request(req);
    } catch (e) {
      this.cloudInSync = false; // the cloud may or may not have applied it: rebuild it before the next pass
      throw e;
    }
    const expected = topK > 0 ? Math.min(topK, vocab) : vocab;
    const idsOk = (xs: number[] | undefined): boolean => (topK > 0 ? xs?.length === expected && xs.every((i) => Number.isInteger(i) && i >= 0 && i < vocab) : xs === undefined);
    if (reply.type !== 'logits' || reply.seq !== req.seq || reply.values.length !== expected || !idsOk(reply.ids)) {
      this.cloudInSync = false;
      throw new LinkError(`cloud answered tokens ${req.seq} with a malformed reply`, 'bad_reply');
    }
    this.length += T;
    this.groups.push(T);
    this.ids.push(...ids);
    return reply.ids ? expandTopK(vocab, reply.ids, reply.values) : reply.values;
  }
}

export interface ForwardOptions {
  /** The sampler reads only the K largest logits (0: all of them); see EdgeExecutor.forward. */
  logitsTopK?: number;
}
