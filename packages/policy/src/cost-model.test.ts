// Cost-model invariants: its steps are core's schedule() (same sync points, same time when walked
// independently), it is monotone in RTT and bandwidth, and the bytes it charges are the bytes the
// real engine's link moves.
import { describe, expect, it } from 'vitest';
import {
  PRESETS,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  halfPlan,
  layerSplitPlan,
  randomPlan,
  schedule,
  syncPointsPerForward,
  type ModelGraph,
  type PartitionPlan,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { createLocalSplit } from '@splitwise/runtime-node';
import { CostModel, passTime, requestCost, type NetworkState } from './cost-model.ts';
import { loadProfile } from './node/files.ts';
import { Rng } from './rng.ts';

const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');

/** An independent walk over core's schedule(): the time of one pass of n rows at past P. */
function referencePassMs(model: CostModel, plan: PartitionPlan, n: number, P: number, net: NetworkState, rowBytes: number): number {
  const E = model.edgeK, C = model.cloudK, H = plan.nHead, W = model.graph.config.nInner;
  const v = (x: { a: number; b: number }): number => x.a + x.b * P;
  const widthOf = (l: number, side: 'edge' | 'cloud'): number => {
    const cloudW = plan.layers[l]!.cloudFfnChunks.reduce((a, k) => a + model.graph.layers[l]!.ffnChunks[k]!.width, 0);
    return side === 'cloud' ? cloudW : W - cloudW;
  };
  const share = (k: typeof E, layer: number, kind: 'attn' | 'ffn', side: 'edge' | 'cloud'): number =>
    kind === 'attn'
      ? v(k.of('attn', n, side === 'cloud' ? plan.layers[layer]!.cloudHeads.length : H - plan.layers[layer]!.cloudHeads.length))
      : v(k.of('ffn', n, H, widthOf(layer, side)));
  let ms = 0;
  for (const st of schedule(plan)) {
    if (st.type === 'edge-layer') ms += v(E.of('layer', n));
    else if (st.type === 'edge-block') ms += share(E, st.block.layer, st.block.kind, 'edge') + v(E.of('combine', n));
    else {
      const blocks = st.blocks, first = blocks[0]!, last = blocks.at(-1)!;
      let cloudMs = 0, rowsDown = 1;
      for (let i = 0; i < blocks.length; ) {
        const b = blocks[i]!;
        if (b.kind === 'attn' && i > 0 && !(i === blocks.length - 1 && b.owner === 'mixed')) rowsDown++;
        if (b.owner === 'mixed') {
          cloudMs += share(C, b.layer, b.kind, 'cloud');
          rowsDown++;
          i++;
        } else if (b.kind === 'attn' && blocks[i + 1]?.owner === 'cloud') {
          cloudMs += v(C.of('layer', n));
          i += 2;
        } else {
          cloudMs += share(C, b.layer, b.kind, 'cloud') + v(C.of('combine', n));
          i++;
        }
      }
      const remote = net.rttMs + (n * rowBytes * 8e-3) / net.upMbps + (rowsDown * n * rowBytes * 8e-3) / net.downMbps + cloudMs;
      if (last.owner === 'mixed') {
        const mine = share(E, last.layer, last.kind, 'edge');
        ms += (blocks.length === 1 && first.owner === 'mixed' ? Math.max(mine, remote) : remote + mine) + v(E.of('combine', n));
      } else ms += remote;
    }
  }
  return ms + E.of('lmHead', 1).a;
}

function plansFor(graph: ModelGraph): Array<[string, PartitionPlan]> {
  const L = graph.config.nLayer;
  return [
    ['edge', edgeOnlyPlan(graph)],
    ['cloud', cloudOnlyPlan(graph)],
    ['half', halfPlan(graph)],
    ['layers', layerSplitPlan(graph, Math.floor(L / 2))],
    ...Array.from({ length: 40 }, (_, i) => [`random:${i}`, randomPlan(graph, i)] as [string, PartitionPlan]),
  ];
}

describe('cost model', () => {
  for (const preset of ['tiny', 'gpt2'] as const) {
    const graph = buildModelGraph(PRESETS[preset]);
    const model = new CostModel(graph, edge, cloud);
    it(`${preset}: counts the sync points schedule() makes and prices its steps the same`, () => {
      const rng = new Rng(7);
      for (const [, plan] of plansFor(graph)) {
        const c = model.compile(plan, 'fp16');
        expect(c.syncsPerPass).toBe(syncPointsPerForward(plan));
        for (let k = 0; k < 3; k++) {
          const net = { rttMs: rng.uniform(0, 80), upMbps: rng.logUniform(1, 300), downMbps: rng.logUniform(1, 300) };
          const n = rng.int(1, 64), P = n > 1 ? 0 : rng.int(0, 500);
          const pm = n > 1 ? c.prefill(n) : c.decode;
          expect(passTime(pm, c.rowBytes, P, net).ms).toBeCloseTo(referencePassMs(model, plan, n, P, net, c.rowBytes), 8);
        }
      }
    });

    it(`${preset}: latency never falls as RTT grows or bandwidth shrinks`, () => {
      const req = { prompt: 32, gen: 16 };
      for (const [, plan] of plansFor(graph)) {
        const c = model.compile(plan, 'fp32');
        let prev = -Infinity;
        for (const rtt of [0, 5, 20, 50, 120]) {
          const ms = requestCost(model, c, req, { rttMs: rtt, upMbps: 20, downMbps: 50 }).latencyMs;
          expect(ms).toBeGreaterThanOrEqual(prev);
          prev = ms;
        }
        prev = -Infinity;
        for (const bw of [1000, 100, 10, 1]) {
          const ms = requestCost(model, c, req, { rttMs: 20, upMbps: bw, downMbps: bw }).latencyMs;
          expect(ms).toBeGreaterThanOrEqual(prev);
          prev = ms;
        }
        const base = requestCost(model, c, req, { rttMs: 20, upMbps: 20, downMbps: 20 }).latencyMs;
        const worse = requestCost(model, c, req, { rttMs: 30, upMbps: 20, downMbps: 20 }).latencyMs;
        // each sync point costs exactly one RTT when no overlap hides it
        if (c.decode.calls.every((x) => !x.overlap)) expect(worse - base).toBeCloseTo(10 * c.syncsPerPass * req.gen, 6);
      }
    });
  }

  it('charges the bytes the real engine moves (tiny model, in-memory link)', async () => {
    const ckpt = makeRandomGpt2(PRESETS.tiny, 3);
    const graph = buildModelGraph(PRESETS.tiny);
    const model = new CostModel(graph, edge, cloud);
    const prompt = [5, 9, 2, 7, 1, 3], gen = 4;
    for (const [, plan] of plansFor(graph).slice(0, 12)) {
      const s = await createLocalSplit(ckpt, plan, { intraOpNumThreads: 1 });
      const before = { ...s.link.stats };
      await s.edge.forward(prompt);
      for (let k = 1; k < gen; k++) await s.edge.forward([k]);
      const c = model.compile(plan, 'fp32');
      const cost = requestCost(model, c, { prompt: prompt.length, gen }, { rttMs: 1, upMbps: 100, downMbps: 100 });
      expect(s.link.stats.bytesUp - before.bytesUp).toBe(cost.bytesUp);
      expect(s.link.stats.bytesDown - before.bytesDown).toBe(cost.bytesDown);
      expect(s.link.stats.calls - before.calls).toBe(cost.syncs);
      await s.sessions.edge.release();
      await s.sessions.cloud.release();
    }
  }, 60_000);
});
