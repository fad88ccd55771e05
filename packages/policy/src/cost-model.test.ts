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
import { CostModel, NO_LINK_OVERHEAD, passOverheadMs, passTime, requestCost, type LinkOverhead, type NetworkState, type PassOptions } from './cost-model.ts';
import { loadLinkCost, loadLinkOverheadProfile, loadProfile } from './node/files.ts';
import { Rng } from './rng.ts';

const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');

/**
 * An independent walk over core's schedule(): the time of one pass of n rows at past P, with the
 * optional per-call overhead (a + b*bytes, the cloud's gather of its mixed shares at a sequence
 * start) and shared cores.
 */
function referencePassMs(model: CostModel, plan: PartitionPlan, n: number, P: number, net: NetworkState, rowBytes: number, o: PassOptions = {}): number {
  const E = model.edgeK, C = model.cloudK, H = plan.nHead, W = model.graph.config.nInner;
  const { nEmbd, nHead } = model.graph.config, hd = nEmbd / nHead;
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
      let cloudMs = 0, rowsDown = 1, gather = 0;
      for (let i = 0; i < blocks.length; ) {
        const b = blocks[i]!;
        if (b.kind === 'attn' && i > 0 && !(i === blocks.length - 1 && b.owner === 'mixed')) rowsDown++;
        if (b.owner === 'mixed') {
          cloudMs += share(C, b.layer, b.kind, 'cloud');
          gather += b.kind === 'attn' ? plan.layers[b.layer]!.cloudHeads.length * (4 * nEmbd * hd + 3 * hd) * 4 : widthOf(b.layer, 'cloud') * (2 * nEmbd + 1) * 4;
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
      if (o.overhead) cloudMs += o.overhead.msPerCall + o.overhead.msPerByte * (1 + rowsDown) * n * rowBytes + (o.sequenceStart ? o.overhead.gatherMsPerByte * gather : 0);
      const remote = net.rttMs + (n * rowBytes * 8e-3) / net.upMbps + (rowsDown * n * rowBytes * 8e-3) / net.downMbps + cloudMs;
      if (last.owner === 'mixed') {
        const mine = share(E, last.layer, last.kind, 'edge');
        const overlapped = Math.max(o.sharedCores ? mine + cloudMs : mine, remote);
        ms += (blocks.length === 1 && first.owner === 'mixed' ? overlapped : remote + mine) + v(E.of('combine', n));
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
          // and with the optional terms
          const o: PassOptions = {
            overhead: { msPerCall: rng.uniform(0, 3), msPerByte: rng.uniform(0, 1e-4), gatherMsPerByte: rng.uniform(0, 1e-5) },
            sharedCores: rng.uniform(0, 1) < 0.5,
            sequenceStart: n > 1,
          };
          expect(passTime(pm, c.rowBytes, P, net, o).ms).toBeCloseTo(referencePassMs(model, plan, n, P, net, c.rowBytes, o), 8);
        }
      }
    });

    it(`${preset}: the link-overhead terms are exact and optional`, () => {
      const oh: LinkOverhead = { msPerCall: 0.7, msPerByte: 2e-5, gatherMsPerByte: 3e-6 };
      const req = { prompt: 24, gen: 6 };
      for (const [, plan] of plansFor(graph)) {
        const c = model.compile(plan, 'fp16');
        for (const net of [
          { rttMs: 0, upMbps: Infinity, downMbps: Infinity },
          { rttMs: 15, upMbps: 20, downMbps: 50 },
        ]) {
          // zero overhead and no shared cores: the old prices exactly, pass by pass and per request
          for (const pm of [c.prefill(req.prompt), c.decode]) {
            for (const seq of [false, true]) expect(passTime(pm, c.rowBytes, 40, net, { overhead: NO_LINK_OVERHEAD, sequenceStart: seq })).toEqual(passTime(pm, c.rowBytes, 40, net));
          }
          const plain = requestCost(model, c, req, net);
          const zero = new CostModel(graph, edge, cloud, undefined, { overhead: NO_LINK_OVERHEAD, sharedCores: false });
          expect(requestCost(zero, zero.compile(plan, 'fp16'), req, net)).toEqual(plain);

          // with an overhead: exactly calls x msPerCall + bytes x msPerByte + the prefill's gather, when no overlap can hide it
          const withOh = new CostModel(graph, edge, cloud, undefined, { overhead: oh });
          const cost = requestCost(withOh, withOh.compile(plan, 'fp16'), req, net);
          const gather = c.prefill(req.prompt).calls.reduce((a, x) => a + x.gatherBytes, 0);
          const extra = plain.syncs * oh.msPerCall + (plain.bytesUp + plain.bytesDown) * oh.msPerByte + gather * oh.gatherMsPerByte;
          expect(cost.bytesUp).toBe(plain.bytesUp);
          expect(cost.syncs).toBe(plain.syncs);
          if (c.decode.calls.every((x) => !x.overlap)) expect(cost.latencyMs - plain.latencyMs).toBeCloseTo(extra, 6);
          else expect(cost.latencyMs - plain.latencyMs).toBeLessThanOrEqual(extra + 1e-9);
          expect(cost.latencyMs).toBeGreaterThanOrEqual(plain.latencyMs);
          const pre = c.prefill(req.prompt);
          const preBytes = pre.calls.reduce((a, x) => a + (x.rowsUp + x.rowsDown) * pre.n * c.rowBytes, 0);
          expect(passOverheadMs(pre, c.rowBytes, oh, true)).toBeCloseTo(pre.calls.length * oh.msPerCall + preBytes * oh.msPerByte + gather * oh.gatherMsPerByte, 6);

          // a high RTT hides every edge share: then the overhead adds exactly, overlap or not
          const far = { rttMs: 1000, upMbps: 20, downMbps: 50 };
          const d0 = passTime(c.decode, c.rowBytes, 30, far), d1 = passTime(c.decode, c.rowBytes, 30, far, { overhead: oh });
          expect(d1.ms - d0.ms).toBeCloseTo(passOverheadMs(c.decode, c.rowBytes, oh), 6);
          expect(d1.edgeMs).toBe(d0.edgeMs); // the overhead is waiting, not edge compute

          // shared cores: no change when the network hides the edge share; with no network an
          // overlapped call costs edge share + cloud share (the sum), never less than before
          expect(passTime(c.decode, c.rowBytes, 30, far, { sharedCores: true }).ms).toBe(d0.ms);
          const local = { rttMs: 0, upMbps: Infinity, downMbps: Infinity };
          const s0 = passTime(c.decode, c.rowBytes, 30, local), s1 = passTime(c.decode, c.rowBytes, 30, local, { sharedCores: true });
          const overlapSum = c.decode.calls.reduce((a, x) => a + (x.overlap ? Math.min(x.overlap.a + 30 * x.overlap.b, x.cloud.a + 30 * x.cloud.b) : 0), 0);
          expect(s1.ms - s0.ms).toBeCloseTo(overlapSum, 6);
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

  it('gathers the weights of the cloud share of each mixed block, once per sequence', () => {
    const graph = buildModelGraph(PRESETS.gpt2);
    const { nEmbd: E, nHead: H, nInner: W, nLayer: L } = graph.config, hd = E / H;
    const model = new CostModel(graph, edge, cloud, undefined, { overhead: { msPerCall: 0, msPerByte: 0, gatherMsPerByte: 1e-6 } });
    const c = model.compile(halfPlan(graph), 'fp32');
    // half: every block mixed, half the heads and half the hidden units on the cloud
    const perLayer = ((H / 2) * (4 * E * hd + 3 * hd) + (W / 2) * (2 * E + 1)) * 4;
    expect(c.decode.calls.reduce((a, x) => a + x.gatherBytes, 0)).toBe(L * perLayer);
    expect(model.compile(cloudOnlyPlan(graph), 'fp32').decode.calls[0]!.gatherBytes).toBe(0);
    const net = { rttMs: 5, upMbps: 100, downMbps: 100 };
    const one = requestCost(model, c, { prompt: 8, gen: 1 }, net), many = requestCost(model, c, { prompt: 8, gen: 5 }, net);
    const base = new CostModel(graph, edge, cloud);
    const bc = base.compile(halfPlan(graph), 'fp32');
    expect(one.latencyMs - requestCost(base, bc, { prompt: 8, gen: 1 }, net).latencyMs).toBeCloseTo(L * perLayer * 1e-6, 6);
    expect(many.latencyMs - requestCost(base, bc, { prompt: 8, gen: 5 }, net).latencyMs).toBeCloseTo(L * perLayer * 1e-6, 6);
  });

  it('loads the committed link-overhead profile', () => {
    const p = loadLinkOverheadProfile();
    for (const link of ['in-process', 'socket-loopback'] as const) {
      const o = loadLinkCost(link);
      expect(o.overhead!.msPerCall).toBeGreaterThanOrEqual(0);
      expect(o.overhead!.msPerByte).toBeGreaterThanOrEqual(0);
      expect(o.sharedCores).toBe(p.links[link].sharedCores);
      // fitted out of sample: none of the validation plans
      expect(p.links[link].fit.plans.some((n) => ['half', 'edge-only', 'cloud-only', 'random:0', 'layers:6'].includes(n))).toBe(false);
    }
  });

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
