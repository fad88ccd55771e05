// The version-2 learned policy (cut x precision, DAgger; issue 10): the exported ONNX decides as the
// training code did on its 1,000 recorded states (onnxruntime-node through the core RuntimeAdapter),
// the committed ONNX is what the exporter writes for the committed weights, and the mask keeps
// every decision inside the edge's free memory.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PRESETS, buildModelGraph } from '@splitwise/core';
import { OrtNodeRuntime } from '@splitwise/runtime-node';
import { edgeMemoryBytes } from './cost-model.ts';
import { argmaxMasked, buildCutPolicyOnnx, cutClasses, cutForwardJs, cutMask, cutWeightsFromJson, decodeCut, CutPolicyRunner, type CutPolicyWeights } from './cut-policy.ts';
import { FEATURE_DIM_V2 } from './features.ts';
import { Rng } from './rng.ts';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const runtime = new OrtNodeRuntime({ intraOpNumThreads: 1 });
const DIR = '../trained/v2-dagger-gpt2xl-rpi5';

describe('cut policy (version 2)', () => {
  it('ONNX logits equal the plain-JS forward pass (random network); the mask respects memory', async () => {
    const rng = new Rng(3), graph = buildModelGraph(PRESETS.stories260K), L = graph.config.nLayer, C = cutClasses(L);
    const d = (i: number, o: number) => ({ inDim: i, outDim: o, w: Float32Array.from({ length: i * o }, () => rng.normal() * 0.3), b: Float32Array.from({ length: o }, () => rng.normal() * 0.1) });
    const w: CutPolicyWeights = { featureDim: FEATURE_DIM_V2, hidden: 16, layers: L, l1: d(FEATURE_DIM_V2, 16), l2: d(16, 16), out: d(16, C) };
    const runner = await CutPolicyRunner.create(runtime, buildCutPolicyOnnx(w), graph);
    const B = 8, x = Float32Array.from({ length: B * FEATURE_DIM_V2 }, () => rng.normal());
    const outs = await runner.logits(x);
    outs.forEach((o, i) => {
      const ref = cutForwardJs(w, x.subarray(i * FEATURE_DIM_V2, (i + 1) * FEATURE_DIM_V2));
      o.forEach((v, j) => expect(v).toBeCloseTo(ref[j]!, 4));
    });
    await runner.release();
    const req = { prompt: 32, gen: 32 };
    for (const mem of [1, 2e5, 4e5, 1e9]) {
      const m = cutMask(graph, { request: req, memoryFreeBytes: mem });
      const a = decodeCut(graph, argmaxMasked(Float32Array.from({ length: C }, () => rng.normal()), m));
      expect(a.k === 0 || edgeMemoryBytes(graph, a.plan, 64) <= mem).toBe(true);
      if (a.k === L) expect(a.precision).toBe('fp32');
    }
  });

  it('the trained policy gives the training code\'s action on its 1,000 recorded states', async () => {
    const fixture = JSON.parse(readFileSync(here('./__fixtures__/policy-states-v2-dagger.json'), 'utf8')) as {
      model: 'gpt2-xl';
      featureDim: number;
      classes: number;
      states: Array<{ features: number[]; request: { prompt: number; gen: number }; memoryFreeBytes: number; action: number }>;
    };
    expect(fixture.states.length).toBe(1000);
    expect(fixture.featureDim).toBe(FEATURE_DIM_V2);
    const w = cutWeightsFromJson(JSON.parse(readFileSync(here(`${DIR}/policy-weights.json`), 'utf8')));
    const onnx = new Uint8Array(readFileSync(here(`${DIR}/policy.onnx`)));
    expect(Buffer.from(buildCutPolicyOnnx(w)).equals(Buffer.from(onnx))).toBe(true);
    const graph = buildModelGraph(PRESETS[fixture.model]);
    expect(cutClasses(graph.config.nLayer)).toBe(fixture.classes);
    const runner = await CutPolicyRunner.create(runtime, onnx, graph);
    const X = new Float32Array(fixture.states.length * FEATURE_DIM_V2);
    fixture.states.forEach((s, i) => X.set(s.features, i * FEATURE_DIM_V2));
    const outs = await runner.logits(X);
    fixture.states.forEach((s, i) => {
      const mask = cutMask(graph, s);
      expect(argmaxMasked(outs[i]!, mask)).toBe(s.action);
      expect(argmaxMasked(cutForwardJs(w, Float32Array.from(s.features)), mask)).toBe(s.action);
    });
    await runner.release();
  }, 60_000);
});
