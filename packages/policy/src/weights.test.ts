// Weight precision per side in the cost model (issue 12): memory, kernel time and accuracy from the
// measured tables, and the exact optimum still equal to brute force when the sides' weights differ.
import { describe, expect, it } from 'vitest';
import { PRESETS, WIRE_PRECISIONS, buildModelGraph, bytesPerWeight, gpt2Config } from '@splitwise/core';
import { CostModel, apiCloudOnlyCounts, edgeMemoryBytes, quantizableBytes, requestCost, weightsKl, type EnergyModel, type PlanCounts } from './cost-model.ts';
import { evaluateObjective, type ObjectiveConfig, type QueueState } from './objective.ts';
import { cloudOnlyCounts, edgeOnlyCounts, exactOptimum, ffnOptions } from './optimum.ts';
import { FP32_WEIGHTS, WEIGHT_SPEED, parseSideWeights, weightRuntimeOf, type SideWeights } from './weights.ts';
import { layerSplitCounts } from './planners.ts';
import { Rng } from './rng.ts';
import { loadAccuracy, loadProfile } from './node/files.ts';
import { LTE_RADIO, WIFI_RADIO } from './devices.ts';

const edge = loadProfile('rpi5-8gb'), wasmEdge = loadProfile('rpi5-8gb-chromium-wasm'), cloud = loadProfile('node-epyc-2vcpu');
const accuracy = loadAccuracy();
const gpt2 = new CostModel(buildModelGraph(PRESETS.gpt2), edge, cloud, accuracy);

describe('weight precision per side', () => {
  it('parses edge/cloud pairs and refuses anything else', () => {
    expect(parseSideWeights('q4/fp32')).toEqual({ edge: 'q4', cloud: 'fp32' });
    expect(() => parseSideWeights('q4')).toThrow(/edge\/cloud/);
    expect(() => parseSideWeights('q3/fp32')).toThrow(/one of fp32, int8, q4/);
  });

  it('reads the measured accuracy of quantized weights with the wire table', () => {
    expect(accuracy.klPerWeights).toEqual({ fp32: 0, int8: 6.6e-5, q4: 6.6e-3 });
  });

  it("shrinks the edge's layer and LM-head weights to bytes per weight of its precision, and nothing else", () => {
    const ctx = 64, g = gpt2.graph, eo = edgeOnlyCounts(g), co = cloudOnlyCounts(g);
    const fp32 = edgeMemoryBytes(g, eo, ctx), floor = edgeMemoryBytes(g, co, ctx);
    const layers = fp32 - floor; // the layers' units and chunks, weights and KV
    const kv = g.config.nLayer * g.attnUnits * g.layers[0]!.heads[0]!.cost.kvBytesPerToken * ctx;
    for (const p of ['int8', 'q4'] as const) {
      const r = bytesPerWeight(p) / 4;
      expect(edgeMemoryBytes(g, eo, ctx, p) - edgeMemoryBytes(g, co, ctx, p)).toBeCloseTo((layers - kv) * r + kv, 0);
      // the floor: the LM head graph's copy shrinks, the embeddings (a lookup) and the checkpoint do not
      const lm = g.config.vocabSize * g.config.nEmbd * 4;
      expect(floor - edgeMemoryBytes(g, co, ctx, p)).toBeCloseTo(lm * (1 - r), 0);
      // the model method reads its own edge precision; the cloud's does not change the edge
      expect(gpt2.withWeights({ edge: p, cloud: 'fp32' }).edgeMemoryBytes(eo, ctx)).toBe(edgeMemoryBytes(g, eo, ctx, p));
      expect(gpt2.withWeights({ edge: 'fp32', cloud: p }).edgeMemoryBytes(eo, ctx)).toBe(fp32);
    }
    // API cloud-only keeps only token ids, whatever the precision
    expect(gpt2.withWeights({ edge: 'q4', cloud: 'q4' }).edgeMemoryBytes(apiCloudOnlyCounts(g), ctx)).toBe(ctx * 4);
  });

  it("times a side's weight-bearing kernels at its runtime's measured quantized speed", () => {
    expect(weightRuntimeOf(cloud)).toBe('onnxruntime-node');
    expect(weightRuntimeOf(wasmEdge)).toBe('onnxruntime-web-wasm');
    const base = new CostModel(gpt2.graph, wasmEdge, cloud, accuracy);
    for (const p of ['int8', 'q4'] as const) {
      const m = base.withWeights({ edge: p, cloud: p });
      for (const kind of ['attn', 'ffn', 'layer', 'lmHead'] as const) {
        expect(m.edgeK.of(kind, 1).a).toBeCloseTo(base.edgeK.of(kind, 1).a / WEIGHT_SPEED['onnxruntime-web-wasm'][p], 9);
        expect(m.cloudK.of(kind, 1).a).toBeCloseTo(base.cloudK.of(kind, 1).a / WEIGHT_SPEED['onnxruntime-node'][p], 9);
      }
      // JavaScript's combine reads no weights
      expect(m.edgeK.of('combine', 1).a).toBe(base.edgeK.of('combine', 1).a);
    }
    // q4 on onnxruntime-node halves the cloud's decode; in WASM it is slower than fp32
    const req = { prompt: 16, gen: 32 }, net = { rttMs: 20, upMbps: 50, downMbps: 50 };
    const cloudOnly = cloudOnlyCounts(gpt2.graph);
    const t = (w: SideWeights) => requestCost(base.withWeights(w), base.withWeights(w).compile(cloudOnly, 'fp32'), req, net).latencyMs;
    expect(t({ edge: 'fp32', cloud: 'q4' })).toBeLessThan(t(FP32_WEIGHTS));
    const e = (w: SideWeights) => requestCost(base.withWeights(w), base.withWeights(w).compile(edgeOnlyCounts(gpt2.graph), 'fp32'), req, net).latencyMs;
    expect(e({ edge: 'q4', cloud: 'fp32' })).toBeGreaterThan(e(FP32_WEIGHTS));
  });

  it('charges each side its whole-model KL times the share of the quantizable weights it runs', () => {
    const g = gpt2.graph, q = quantizableBytes(g), kl = accuracy.klPerWeights!;
    const L = g.config.nLayer;
    expect(weightsKl(gpt2, edgeOnlyCounts(g))).toBe(0);
    const both = gpt2.withWeights({ edge: 'int8', cloud: 'int8' });
    for (const k of [0, 3, L]) expect(weightsKl(both, layerSplitCounts(both, k))).toBeCloseTo(kl.int8, 12);
    const cloudQ4 = gpt2.withWeights({ edge: 'fp32', cloud: 'q4' });
    expect(weightsKl(cloudQ4, edgeOnlyCounts(g))).toBe(0);
    // cloud-only with the checkpoint: the LM head stays on the edge, at fp32
    expect(weightsKl(cloudQ4, cloudOnlyCounts(g))).toBeCloseTo((kl.q4 * (q.total - q.lmHead)) / q.total, 12);
    // the first k layers on the edge
    expect(weightsKl(cloudQ4, layerSplitCounts(cloudQ4, 4))).toBeCloseTo((kl.q4 * (((L - 4) / L) * (q.total - q.lmHead))) / q.total, 12);
    // API cloud-only: everything on the cloud
    expect(weightsKl(cloudQ4, apiCloudOnlyCounts(g))).toBe(kl.q4);
    // and requestCost adds it to the wire's loss
    const c = requestCost(cloudQ4, cloudQ4.compile(cloudOnlyCounts(g), 'fp32'), { prompt: 8, gen: 4 }, { rttMs: 10, upMbps: 10, downMbps: 10 });
    expect(c.accuracyLoss).toBeCloseTo(weightsKl(cloudQ4, cloudOnlyCounts(g)), 12);
  });

  // The DP prices quantized weights per option; on a 4-layer shape (9^4 plans x 3 wire precisions) it
  // must still equal brute force, with the sides at different precisions and memory binding or not.
  it('keeps the exact optimum equal to brute force with different precisions per side', () => {
    const small = gpt2Config({ ...PRESETS.tiny, nLayer: 4, nHead: 2, nEmbd: 32, nInner: 64, nPositions: 128 });
    const scaled = { ...accuracy, klPerWeights: { fp32: 0, int8: 2e-5, q4: 4e-4 } }; // so that accuracy weighs in the choice
    const base = new CostModel(buildModelGraph(small), edge, cloud, scaled), g = base.graph;
    const widths = ffnOptions(g).map((f) => f.width), H = g.attnUnits, L = g.config.nLayer, per = (H + 1) * widths.length;
    const counts: PlanCounts[] = [];
    for (let code = 0; code < per ** L; code++) {
      const c = edgeOnlyCounts(g);
      for (let l = 0, x = code; l < L; l++, x = Math.floor(x / per)) {
        c.cloudHeads[l] = (x % per) % (H + 1);
        c.cloudWidth[l] = widths[Math.floor((x % per) / (H + 1))]!;
      }
      counts.push(c);
    }
    const rng = new Rng(20261203);
    let bound = 0, states = 0;
    for (const w of [{ edge: 'q4', cloud: 'int8' }, { edge: 'int8', cloud: 'q4' }, { edge: 'fp32', cloud: 'q4' }] as SideWeights[]) {
      const m = base.withWeights(w);
      const compiled = WIRE_PRECISIONS.flatMap((p) => counts.map((c) => ({ c, cp: m.compile(c, p) })));
      for (let i = 0; i < 6; i++) {
        const req = { prompt: rng.int(1, 40), gen: rng.int(1, 12) };
        const net = { rttMs: rng.logUniform(0.2, 120), upMbps: rng.logUniform(0.1, 300), downMbps: rng.logUniform(0.1, 300) };
        const energy: EnergyModel = { activeW: 11.6, idleW: 3.3, radio: rng.next() < 0.5 ? LTE_RADIO : WIFI_RADIO };
        const o: ObjectiveConfig = { V: rng.logUniform(0.1, 10), wEnergy: rng.uniform(0, 2), wAccuracy: rng.uniform(0, 2), energyBudgetJ: rng.logUniform(0.01, 5), accuracyBudget: 1e-3 };
        const s: QueueState = { Q: rng.int(1, 30), Ze: rng.uniform(0, 20), Za: rng.uniform(0, 20), lambdaPerS: rng.logUniform(0.01, 5), battery: rng.next() };
        const ctx = req.prompt + req.gen;
        const lo = m.edgeMemoryBytes(cloudOnlyCounts(g), ctx), hi = m.edgeMemoryBytes(edgeOnlyCounts(g), ctx);
        const memory = i % 3 === 2 ? hi * 1.5 : lo + rng.uniform(0.02, 0.98) * (hi - lo);
        let bruteJ = Infinity;
        for (const { c, cp } of compiled) {
          if (m.edgeMemoryBytes(c, ctx) > memory) continue;
          bruteJ = Math.min(bruteJ, evaluateObjective(m, cp, req, net, energy, o, s).J);
        }
        const opt = exactOptimum(m, req, net, energy, o, s, memory);
        expect(m.edgeMemoryBytes(opt.counts, ctx)).toBeLessThanOrEqual(memory);
        expect(opt.J).toBeCloseTo(bruteJ, 9);
        expect(evaluateObjective(m, m.compile(opt.counts, opt.precision), req, net, energy, o, s).J).toBeCloseTo(bruteJ, 9);
        if (opt.memoryBound) bound++;
        states++;
      }
    }
    expect(states).toBe(18);
    expect(bound).toBeGreaterThan(4);
  }, 300_000);
});
