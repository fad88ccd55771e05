// The cloud side: answers CloudRequests with its SideRunner. It trusts nothing it is sent:
// plans are validated against its own model graph, tensor sizes and positions are checked, and a
// repeated or late request (by sequence number) is refused rather than applied twice.
import { ExecutorStateError, TensorShapeError } from '../errors.ts';
import type { ModelGraph } from '../graph/model-graph.ts';
import { validatePlan } from '../plan/partition-plan.ts';
import { combine } from './combine.ts';
import type { CloudHandler } from './link.ts';
import type { CloudReply, CloudRequest } from './messages.ts';
import type { SplitSessions } from './runtime.ts';
import { blocksOf, type BlockRef } from './schedule.ts';
import { SideRunner } from './side-runner.ts';
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
  ) {
    this.runner = new SideRunner('cloud', weights, sessions, edgeOnlyPlan(graph));
  }

  async handle(req: CloudRequest): Promise<CloudReply> {
    switch (req.type) {
      case 'reset': {
        const plan = validatePlan(req.plan, this.graph), P = req.length ?? 0;
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
