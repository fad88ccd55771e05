// The cloud side: answers CloudRequests with its SideRunner. It trusts nothing it is sent:
// plans are validated against its own model graph, tensor sizes and positions are checked, and a
// repeated or late request (by sequence number) is refused rather than applied twice. Under an API
// cloud-only plan it is the whole model: token ids in, logits out (embeddings, whole-layer graphs,
// the LM head), and a reset that carries the ids so far replays them to rebuild every KV cache.
import { ExecutorStateError, TensorShapeError } from '../errors.ts';
import type { ModelGraph } from '../graph/model-graph.ts';
import { validatePlan, type PartitionPlan } from '../plan/partition-plan.ts';
import { combine } from './combine.ts';
import type { CloudHandler } from './link.ts';
import { checkTokenIds, topKLogits, type CloudReply, type CloudRequest } from './messages.ts';
import type { SplitSessions } from './runtime.ts';
import { blocksOf, type BlockRef } from './schedule.ts';
import { SideRunner, type WholeLayerRunner } from './side-runner.ts';
import type { SplitWeights } from './split-weights.ts';
import { wireRound } from '../util/wire-round.ts';
import { edgeOnlyPlan } from '../plan/partition-plan.ts';

export class CloudExecutor implements CloudHandler {
  readonly runner: SideRunner;
  private lastSeq = -1;

  constructor(
    private readonly graph: ModelGraph,
    weights: SplitWeights,
    sessions: SplitSessions,
    /** Runs this session's whole layers (the server's batcher lane); absent: its own sessions. */
    wholeLayers?: WholeLayerRunner,
  ) {
    this.runner = new SideRunner('cloud', weights, sessions, edgeOnlyPlan(graph), wholeLayers);
  }

  async handle(req: CloudRequest): Promise<CloudReply> {
    switch (req.type) {
      case 'reset': {
        const plan = validatePlan(req.plan, this.graph), P = req.length ?? 0;
        if (req.ids !== undefined) return this.replayReset(plan, P, req.ids, req.groups);
        const rows = this.rebuildRows(req.rebuild ?? [], P);
        this.runner.reset(edgeOnlyPlan(this.graph));
        // a fresh sequence, or the edge's position rebuilt from its checkpoint
        if (P > 0) await this.runner.setPlan(plan, P, rows, req.groups);
        else this.runner.reset(plan);
        this.lastSeq = -1; // segments count from 1 again
        return { type: 'ok' };
      }
      case 'plan': {
        const plan = validatePlan(req.plan, this.graph);
        const saved = this.runner.saveKv();
        try {
          await this.runner.setPlan(plan, req.length, this.rebuildRows(req.rebuild, req.length), req.groups);
        } catch (e) {
          this.runner.restoreKv(saved);
          throw e;
        }
        return { type: 'ok' };
      }
      case 'segment':
        return this.segment(req);
      case 'tokens':
        return this.tokens(req);
    }
  }

  /** API cloud-only: restart at the edge's position by running its token ids again, in the passes that first made them. */
  private async replayReset(plan: PartitionPlan, P: number, ids: number[], groups: number[] = P > 0 ? [P] : []): Promise<CloudReply> {
    if (!plan.apiCloudOnly) throw new ExecutorStateError('token ids rebuild only an API cloud-only plan; a partition plan is rebuilt from checkpoint rows');
    if (ids.length !== P) throw new TensorShapeError(`reset carries ${ids.length} token ids for ${P} positions`);
    if (groups.reduce((a, g) => a + g, 0) !== P || groups.some((g) => !Number.isInteger(g) || g < 1)) {
      throw new TensorShapeError(`rebuild groups [${groups.slice(0, 8).join(', ')}${groups.length > 8 ? ', ...' : ''}] do not split ${P} positions`);
    }
    checkTokenIds(ids, this.graph.config.vocabSize);
    this.runner.reset(plan);
    try {
      // the same graphs over the same row groups as the first time: the caches come out bit for bit
      let at = 0;
      for (const g of groups) {
        await this.wholeModel(ids.slice(at, at + g), at);
        at += g;
      }
    } catch (e) {
      this.runner.reset(edgeOnlyPlan(this.graph)); // no half-rebuilt session: the edge resets again
      throw e;
    }
    this.lastSeq = -1;
    return { type: 'ok' };
  }

  /** Embeddings and every layer over `ids` at positions start..: the residual after the last layer. */
  private async wholeModel(ids: number[], start: number): Promise<Float32Array> {
    const T = ids.length;
    let x = this.runner.weights.embed(ids, start);
    for (let l = 0; l < this.graph.config.nLayer; l++) x = await this.runner.layer(l, x, T, start);
    return x;
  }

  private async tokens(req: Extract<CloudRequest, { type: 'tokens' }>): Promise<CloudReply> {
    const { nEmbd: E, nPositions, vocabSize, nLayer } = this.graph.config, T = req.ids.length;
    if (!this.runner.currentPlan.apiCloudOnly) {
      throw new ExecutorStateError("token ids need an API cloud-only plan; this session's plan is a partition plan (reset with an API cloud-only plan first)");
    }
    if (req.seq <= this.lastSeq) {
      throw new ExecutorStateError(`tokens seq ${req.seq} is not after ${this.lastSeq}: a repeated or late message is not applied`);
    }
    if (T < 1) throw new TensorShapeError('a tokens request needs at least one token id');
    if (!Number.isInteger(req.start) || req.start < 0 || req.start + T > nPositions) {
      throw new TensorShapeError(`token positions [${req.start}, ${req.start + T}) are outside [0, ${nPositions})`);
    }
    const topK = req.topK ?? 0;
    if (!Number.isInteger(topK) || topK < 0 || topK > vocabSize) throw new TensorShapeError(`topK must be a whole number in [0, ${vocabSize}], got ${topK}`);
    checkTokenIds(req.ids, vocabSize);
    this.runner.checkPositions(Array.from({ length: nLayer }, (_, l) => l), req.start);
    // nothing is applied unless the whole pass succeeds, so the edge may send it again
    const saved = this.runner.saveKv();
    try {
      const x = await this.wholeModel(req.ids, req.start);
      const logits = await this.runner.logits(x.subarray((T - 1) * E, T * E));
      this.lastSeq = req.seq;
      return topK > 0 ? { type: 'logits', seq: req.seq, ...topKLogits(logits, topK) } : { type: 'logits', seq: req.seq, values: logits };
    } catch (e) {
      this.runner.restoreKv(saved);
      throw e;
    }
  }

  private rebuildRows(rebuild: Array<{ layer: number; x: Float32Array }>, P: number): (l: number) => Float32Array {
    const E = this.graph.config.nEmbd, rows = new Map(rebuild.map((r) => [r.layer, r.x]));
    return (l) => {
      const x = rows.get(l);
      if (!x) throw new ExecutorStateError(`the cloud gets heads in layer ${l} but no checkpoint to rebuild them from`);
      if (x.length !== P * E) throw new TensorShapeError(`checkpoint for layer ${l} must be ${P}x${E}`);
      return x;
    };
  }

  private async segment(req: Extract<CloudRequest, { type: 'segment' }>): Promise<CloudReply> {
    const { nEmbd: E, nPositions } = this.graph.config;
    if (req.seq <= this.lastSeq) {
      throw new ExecutorStateError(`segment seq ${req.seq} is not after ${this.lastSeq}: a repeated or late message is not applied`);
    }
    if (!Number.isInteger(req.count) || req.count < 1 || !Number.isInteger(req.start) || req.start < 0 || req.start + req.count > nPositions) {
      throw new TensorShapeError(`segment positions [${req.start}, ${req.start + req.count}) are outside [0, ${nPositions})`);
    }
    if (req.x.length !== req.count * E) throw new TensorShapeError(`segment x has ${req.x.length} values; expected ${req.count}x${E}`);
    const blocks = blocksOf(this.runner.currentPlan);
    if (!(req.from >= 0 && req.from <= req.to && req.to < blocks.length)) {
      throw new ExecutorStateError(`segment blocks [${req.from}, ${req.to}] are not within [0, ${blocks.length})`);
    }
    for (let b = req.from; b <= req.to; b++) {
      const o = blocks[b]!.owner;
      if (o === 'edge' || (o === 'mixed' && b !== req.to)) {
        throw new ExecutorStateError(`block ${b} is ${o} under the cloud's plan; it cannot run in this segment`);
      }
    }
    // nothing is applied unless the whole segment succeeds, so the edge may retry it as it was
    this.runner.checkPositions(blocks.slice(req.from, req.to + 1).filter((b) => b.kind === 'attn').map((b) => b.layer), req.start);
    const saved = this.runner.saveKv();
    try {
      const reply = await this.run(req, blocks);
      this.lastSeq = req.seq;
      return reply;
    } catch (e) {
      this.runner.restoreKv(saved);
      throw e;
    }
  }

  private async run(req: Extract<CloudRequest, { type: 'segment' }>, blocks: BlockRef[]): Promise<CloudReply> {
    const T = req.count, w = this.runner.weights, checkpoints: Array<{ layer: number; x: Float32Array }> = [];
    let x = req.x;
    for (let b = req.from; b <= req.to; ) {
      const blk = blocks[b]!, l = blk.layer;
      // a layer input that goes back as a checkpoint row (or as x to a mixed block) is wire-rounded
      // before its KV is computed, so a rebuild from the edge's copy gives the same caches
      if (blk.kind === 'attn' && b !== req.from) x = wireRound(x, this.graph.config.nEmbd, req.precision ?? 'fp32');
      if (blk.kind === 'attn' && b !== req.from && !(b === req.to && blk.owner === 'mixed')) checkpoints.push({ layer: l, x });
      if (blk.owner === 'mixed') {
        const partial = blk.kind === 'attn' ? await this.runner.attn(l, x, T, req.start) : await this.runner.ffn(l, x, T);
        return { type: 'segment', seq: req.seq, x, partial, checkpoints };
      }
      if (blk.kind === 'attn' && b + 1 <= req.to && blocks[b + 1]!.owner === 'cloud') {
        x = await this.runner.layer(l, x, T, req.start);
        b += 2;
        continue;
      }
      x =
        blk.kind === 'attn'
          ? combine(x, w.outBias(l, 'attn'), [await this.runner.attn(l, x, T, req.start)])
          : combine(x, w.outBias(l, 'ffn'), [await this.runner.ffn(l, x, T)]);
      b += 1;
    }
    return { type: 'segment', seq: req.seq, x, checkpoints };
  }
}
