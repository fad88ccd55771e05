// What one side (edge or cloud) computes. Both sides run this same class over the same plan
// semantics; they differ only in the RuntimeAdapter their sessions came from.
// Each side keeps the KV cache of exactly the attention units it runs, packed [units, P, hd] per
// layer. ("Heads" here are attention units: a GPT-2 head, or a LLaMA KV group.)
import { ExecutorStateError, TensorShapeError } from '../errors.ts';
import type { PartitionPlan } from '../plan/partition-plan.ts';
import { blockOwner, ownedChunks, ownedHeads } from '../plan/partition-plan.ts';
import type { Side } from '../graph/model-graph.ts';
import { f32, type SplitSessions, type TensorLike } from './runtime.ts';
import type { SplitWeights } from './split-weights.ts';

interface LayerKv {
  heads: number[];
  /** Positions held: P. */
  length: number;
  k: Float32Array; // [h, P, hd]
  v: Float32Array;
}

const out = (r: Record<string, TensorLike>, name: string): Float32Array => {
  const t = r[name];
  if (!t || t.dtype !== 'float32') throw new TensorShapeError(`graph output "${name}" is missing or not float32`);
  return t.data;
};

/**
 * Runs whole layers for a side instead of its own `layer`/`block` sessions: the cloud server's
 * continuous batcher (apps/server/src/batcher.ts) merges the one-row steps of many sessions into
 * one run. Feeds are one sequence's x [T, E], positions (where the family has them), past_k and
 * past_v; it answers x_out, present_k and present_v as the `block` graph does, and the keys and
 * values bit for bit as a KV rebuild from the checkpoint makes them.
 */
export interface WholeLayerRunner {
  layer(l: number, feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>>;
}

export class SideRunner {
  private kv: LayerKv[] = [];
  private plan!: PartitionPlan;

  constructor(
    readonly side: Side,
    readonly weights: SplitWeights,
    private readonly sessions: SplitSessions,
    plan: PartitionPlan,
    /** Whole layers go here instead of this side's sessions (the cloud's batcher). */
    private readonly wholeLayers?: WholeLayerRunner,
  ) {
    this.reset(plan);
  }

  get currentPlan(): PartitionPlan {
    return this.plan;
  }

  /** Forget every position and adopt `plan`. */
  reset(plan: PartitionPlan): void {
    // gathered weight subsets stay valid while the plan does
    if (this.plan === undefined || JSON.stringify(plan.layers) !== JSON.stringify(this.plan.layers)) this.weights.clearCache();
    this.plan = plan;
    this.kv = plan.layers.map((_, l) => ({ heads: ownedHeads(plan, l, this.side), length: 0, k: new Float32Array(0), v: new Float32Array(0) }));
  }

  /** The KV state, to put back if a step fails halfway (entries are replaced, never mutated). */
  saveKv(): readonly LayerKv[] {
    return [...this.kv];
  }

  restoreKv(saved: readonly LayerKv[]): void {
    this.kv = [...saved];
  }

  /** Expect `start` as the next position of every layer where this side has heads. */
  checkPositions(layers: number[], start: number): void {
    for (const l of layers) {
      const kv = this.kv[l]!;
      if (kv.heads.length > 0 && kv.length !== start) {
        throw new ExecutorStateError(`${this.side} layer ${l}: KV cache holds ${kv.length} positions but the step starts at position ${start}`);
      }
    }
  }

  heads(l: number): number[] {
    return ownedHeads(this.plan, l, this.side);
  }

  chunks(l: number): number[] {
    return ownedChunks(this.plan, l, this.side);
  }

  /** Bytes of KV cache held. */
  kvBytes(): number {
    return this.kv.reduce((a, l) => a + l.k.byteLength + l.v.byteLength, 0);
  }

  /** The KV cache of layer l as graph inputs; `start` must be the next position it expects. */
  private kvFeeds(l: number, start: number): Record<string, TensorLike> {
    const { hd } = this.weights, kv = this.kv[l]!;
    if (kv.length !== start) {
      throw new ExecutorStateError(
        `${this.side} layer ${l}: KV cache holds ${kv.length} positions but the step starts at position ${start}`,
      );
    }
    const dims = [kv.heads.length, kv.length, hd];
    return { past_k: f32(kv.k, dims), past_v: f32(kv.v, dims) };
  }

  /** This side's attention units of layer l over T new rows: the partial sum (no bias); appends to the KV cache. */
  async attn(l: number, x: Float32Array, T: number, start: number): Promise<Float32Array> {
    const heads = this.heads(l);
    // a constant subset graph holds these units' weights (built on first use); else they are inputs
    const constant = this.attnSubset(l, heads);
    const r = await (constant ?? this.sessions.attn).run({
      x: f32(x, [T, this.weights.E]),
      ...this.weights.positions(start, T),
      ...(constant ? {} : this.weights.attn(l, heads)),
      ...this.kvFeeds(l, start),
    });
    this.kv[l] = { heads, length: start + T, k: out(r, 'present_k'), v: out(r, 'present_v') };
    return out(r, 'y');
  }

  /** This side's FFN chunks of layer l: the partial sum (no bias). */
  async ffn(l: number, x: Float32Array, T: number): Promise<Float32Array> {
    const chunks = this.chunks(l);
    const constant = this.ffnSubset(l, chunks);
    const r = await (constant ?? this.sessions.ffn).run({ x: f32(x, [T, this.weights.E]), ...(constant ? {} : this.weights.ffn(l, chunks)) });
    return out(r, 'y');
  }

  /** The constant subset session of these units of layer l (undefined: constantSubsets is off). */
  private attnSubset(l: number, heads: readonly number[]) {
    // not cached in SplitWeights: the graph holds them
    return this.sessions.subset('attn', `${l}.[${heads.join(',')}]`, () => this.weights.binding.attn(l, heads));
  }

  /** The constant `kv` graph of these units of layer l, where weights cannot be inputs (quantized); else undefined. */
  private kvSubset(l: number, units: readonly number[]) {
    if (!this.sessions.constantKv) return undefined;
    return this.sessions.subset('kv', `${l}.[${units.join(',')}]`, () => this.weights.binding.kv(l, units));
  }

  private ffnSubset(l: number, chunks: readonly number[]) {
    // chunk indices name hidden-unit ranges of this graph's chunking, so the key carries the count
    return this.sessions.subset('ffn', `${l}.${this.weights.graph.ffnChunks}[${chunks.join(',')}]`, () => this.weights.binding.ffn(l, chunks));
  }

  /**
   * Build the constant subset sessions `plan` will run on this side (its share of layers it does
   * not own whole), so that the plan's first token does not wait for them. Returns how many it
   * asked for (0 when constantSubsets is off).
   */
  async warmSubsets(plan: PartitionPlan, onLayer?: (l: number) => void): Promise<number> {
    let n = 0;
    for (let l = 0; l < plan.layers.length; l++) {
      const heads = ownedHeads(plan, l, this.side), chunks = ownedChunks(plan, l, this.side);
      const whole = blockOwner(plan, l, 'attn') === this.side && blockOwner(plan, l, 'ffn') === this.side; // one layer graph
      if (whole) continue;
      const built = [heads.length > 0 ? this.attnSubset(l, heads) : undefined, chunks.length > 0 ? this.ffnSubset(l, chunks) : undefined].filter((s) => s !== undefined);
      if (built.length === 0) continue;
      onLayer?.(l);
      await Promise.all(built.map((s) => s.ready));
      n += built.length;
    }
    return n;
  }

  /** A layer this side owns whole, in one graph call: returns the residual after the layer. */
  async layer(l: number, x: Float32Array, T: number, start: number): Promise<Float32Array> {
    const feeds: Record<string, TensorLike> = { x: f32(x, [T, this.weights.E]), ...this.weights.positions(start, T), ...this.kvFeeds(l, start) };
    const constant = this.wholeLayers ? undefined : this.sessions.layer(l);
    const r = this.wholeLayers
      ? await this.wholeLayers.layer(l, feeds)
      : await (constant ? await constant : this.sessions.block).run({ ...feeds, ...(constant ? {} : this.weights.block(l)) });
    this.kv[l] = { heads: this.heads(l), length: start + T, k: out(r, 'present_k'), v: out(r, 'present_v') };
    return out(r, 'x_out');
  }

  /** Final norm + LM head on one row (the edge's, or the cloud's under an API cloud-only plan). */
  async logits(xLast: Float32Array): Promise<Float32Array> {
    const r = await (await this.sessions.lmHead()).run({ x: f32(xLast, [1, this.weights.E]) });
    return out(r, 'logits');
  }

  /**
   * Adopt a new plan between tokens, with P positions already processed. Heads this side loses
   * drop their KV; heads it gains get theirs rebuilt from `checkpoint(l)`: the residual stream at
   * layer l's input for the P past positions [P, E]. Heads it keeps keep their KV untouched.
   * `groups` are the row counts of the forward passes that made those positions (summing to P):
   * the rebuild projects each group in its own call, because onnxruntime's one-row MatMul (a GEMV)
   * rounds differently from a many-row one, and the caches must be the ones first computed.
   */
  async setPlan(plan: PartitionPlan, P: number, checkpoint: (l: number) => Float32Array, groups: readonly number[] = [P]): Promise<void> {
    if (groups.reduce((a, g) => a + g, 0) !== P || (P > 0 && groups.some((g) => !Number.isInteger(g) || g < 1))) {
      throw new TensorShapeError(`rebuild groups [${groups.slice(0, 8).join(', ')}${groups.length > 8 ? ', ...' : ''}] do not split ${P} positions`);
    }
    const { E, hd } = this.weights;
    const next: LayerKv[] = [];
    for (let l = 0; l < plan.layers.length; l++) {
      const old = this.kv[l]!, heads = ownedHeads(plan, l, this.side);
      if (old.heads.length > 0 && old.length !== P) {
        throw new ExecutorStateError(`${this.side} layer ${l}: KV cache holds ${old.length} positions, plan change says ${P}`);
      }
      const gained = heads.filter((h) => !old.heads.includes(h));
      let rebuilt: { k: Float32Array; v: Float32Array } | undefined;
      if (gained.length > 0 && P > 0) {
        const xPast = checkpoint(l);
        if (xPast.length !== P * E) {
          throw new TensorShapeError(`checkpoint for layer ${l} has ${xPast.length} values; expected ${P}x${E}`);
        }
        rebuilt = { k: new Float32Array(gained.length * P * hd), v: new Float32Array(gained.length * P * hd) };
        // fp32 weights are inputs, gathered once for all groups; quantized ones live in a constant kv graph
        const constant = this.kvSubset(l, gained);
        const w = constant ? {} : this.weights.kv(l, gained);
        let at = 0;
        for (const g of groups) {
          const r = await (constant ?? this.sessions.kv).run({ x: f32(xPast.subarray(at * E, (at + g) * E), [g, E]), ...this.weights.positions(at, g), ...w });
          const k = out(r, 'k'), v = out(r, 'v'); // [heads, g, hd] into [heads, P, hd]
          for (let h = 0; h < gained.length; h++) {
            rebuilt.k.set(k.subarray(h * g * hd, (h + 1) * g * hd), (h * P + at) * hd);
            rebuilt.v.set(v.subarray(h * g * hd, (h + 1) * g * hd), (h * P + at) * hd);
          }
          at += g;
        }
      }
      const per = P * hd; // floats per head
      const k = new Float32Array(heads.length * per), v = new Float32Array(heads.length * per);
      if (per > 0) heads.forEach((h, j) => {
        const i = old.heads.indexOf(h), src = i >= 0 ? old : rebuilt!, at = i >= 0 ? i : gained.indexOf(h);
        k.set(src.k.subarray(at * per, (at + 1) * per), j * per);
        v.set(src.v.subarray(at * per, (at + 1) * per), j * per);
      });
      next.push({ heads, length: P, k, v });
    }
    this.plan = plan;
    this.kv = next;
    this.weights.clearCache();
  }
}
