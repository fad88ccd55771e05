// The edge side and the driver of every forward pass. It owns the embeddings, the LM head and
// the residual stream; it runs its sub-blocks, hands cloud work over the CloudLink (see
// schedule.ts), and keeps the partition checkpoint: the residual at every layer's input for every
// past position, from which any KV cache a head needs after a plan change (or that the cloud
// lost) is rebuilt.
import { ContextLengthError, ExecutorStateError, LinkError, TensorShapeError } from '../errors.ts';
import type { ModelGraph } from '../graph/model-graph.ts';
import { ownedHeads, validatePlan, type PartitionPlan } from '../plan/partition-plan.ts';
import { combine } from './combine.ts';
import type { CloudLink } from './link.ts';
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
  }

  /**
   * Move heads and chunks between tokens. KV caches of heads that change side are rebuilt from
   * the checkpoint: the cloud is sent the residual rows of each layer where it gains heads.
   */
  async setPlan(plan: PartitionPlan, o: { cloud?: boolean } = {}): Promise<void> {
    const next = validatePlan(plan, this.graph), P = this.length;
    const rows = (l: number): Float32Array => this.checkpointRows(l);
    if (o.cloud === false || !this.cloudInSync) {
      // the cloud is unreachable or behind: change the edge now, rebuild the cloud on next contact
      await this.runner.setPlan(next, P, rows, this.groups);
      this.cloudInSync = false;
      return;
    }
    const rebuild = next.layers.flatMap((_, l) => {
      const before = ownedHeads(this.plan, l, 'cloud');
      const gains = ownedHeads(next, l, 'cloud').some((h) => !before.includes(h));
      return gains && P > 0 ? [{ layer: l, x: rows(l) }] : [];
    });
    await this.link.request({ type: 'plan', plan: next, length: P, rebuild, groups: [...this.groups] });
    await this.runner.setPlan(next, P, rows, this.groups);
  }

  private embed(ids: number[], start: number): Float32Array {
    const { vocabSize } = this.graph.config;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new TensorShapeError(`token id ${id} is outside [0, ${vocabSize})`);
    }
    return this.weights.embed(ids, start);
  }

  private bias(b: BlockRef): Float32Array | undefined {
    return this.weights.outBias(b.layer, b.kind);
  }

  private partial(b: BlockRef, x: Float32Array, T: number, start: number): Promise<Float32Array> {
    return b.kind === 'attn' ? this.runner.attn(b.layer, x, T, start) : this.runner.ffn(b.layer, x, T);
  }

  /** Feed `ids` (the prompt, or one sampled token) and return the logits of the last position. */
  async forward(ids: number[]): Promise<Float32Array> {
    const T = ids.length, P = this.length;
    if (T < 1) throw new TensorShapeError('forward needs at least one token');
    if (P + T > this.graph.config.nPositions) throw new ContextLengthError(P + T, this.graph.config.nPositions);
    const x = this.embed(ids, P);
    const usesCloud = schedule(this.plan).some((s) => s.type === 'cloud');
    if (!this.cloudInSync && usesCloud) await this.resync();
    // a failed pass leaves no trace on the edge; the cloud is rebuilt before the next one
    const saved = this.runner.saveKv();
    try {
      return await this.pass(x, T, P);
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
}
