// The exported ONNX policy decides as the training code did: on the 1,000 recorded states of the
// trained policy (onnxruntime-node through the core RuntimeAdapter), and on a random network.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PRESETS, buildModelGraph } from '@splitwise/core';
import { OrtNodeRuntime } from '@splitwise/runtime-node';
import { decodeAction, NF, NP } from './action.ts';
import { buildPolicyOnnx } from './export-onnx.ts';
import { FEATURE_DIM } from './features.ts';
import { forwardJs, weightsFromJson, type Dense, type PolicyWeights } from './network.ts';
import { mapBlockScores, PolicyRunner } from './policy-runner.ts';
import { Rng } from './rng.ts';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const runtime = new OrtNodeRuntime({ intraOpNumThreads: 1 });

function randomWeights(rng: Rng, blocks: number): PolicyWeights {
  const d = (i: number, o: number): Dense => ({ inDim: i, outDim: o, w: Float32Array.from({ length: i * o }, () => rng.normal() * 0.3), b: Float32Array.from({ length: o }, () => rng.normal() * 0.1) });
  return {
    featureDim: FEATURE_DIM,
    hidden: 32,
    lowHidden: 16,
    blocks,
    l1: d(FEATURE_DIM, 32),
    l2: d(32, 32),
    frac: d(32, NF),
    prec: d(32, NP),
    low: d(32, 16),
    emb: Float32Array.from({ length: NF * 16 }, () => rng.normal() * 0.3),
    score: d(16, blocks),
    logStd: new Float32Array(blocks),
  };
}

describe('policy export', () => {
  it('ONNX outputs equal the plain-JS forward pass (random network)', async () => {
    const rng = new Rng(5), w = randomWeights(rng, 2 * PRESETS.tiny.nLayer);
    const graph = buildModelGraph(PRESETS.tiny);
    const runner = await PolicyRunner.create(runtime, buildPolicyOnnx(w), graph);
    const B = 16, x = Float32Array.from({ length: B * FEATURE_DIM }, () => rng.normal());
    const outs = await runner.outputs(x);
    outs.forEach((o, i) => {
      const ref = forwardJs(w, x.subarray(i * FEATURE_DIM, (i + 1) * FEATURE_DIM));
      for (const k of ['fracLogits', 'precLogits', 'scores'] as const) {
        o[k].forEach((v, j) => expect(v).toBeCloseTo(ref[k][j]!, 4));
      }
    });
    await runner.release();
  });

  it('reads a policy trained for another layer count by relative depth, and only when asked to', async () => {
    // 4 trained layers onto 2: layer 0 takes trained layer 1, layer 1 takes trained layer 3
    const trained = Float32Array.from([0, 1, 10, 11, 20, 21, 30, 31, /* second row */ 100, 101, 110, 111, 120, 121, 130, 131]);
    expect(Array.from(mapBlockScores(trained, 4, 2))).toEqual([10, 11, 30, 31, 110, 111, 130, 131]);
    // 2 onto 4: each trained layer twice
    expect(Array.from(mapBlockScores(Float32Array.from([1, 2, 3, 4]), 2, 4))).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
    expect(mapBlockScores(trained, 4, 4)).toBe(trained);

    const rng = new Rng(9), w = randomWeights(rng, 2 * 12); // a 12-layer policy
    const graph = buildModelGraph(PRESETS.tiny); // a 2-layer model
    const x = Float32Array.from({ length: FEATURE_DIM }, () => rng.normal());
    const strict = await PolicyRunner.create(runtime, buildPolicyOnnx(w), graph);
    await expect(strict.outputs(x)).rejects.toThrow(/scores 24 blocks; the model has 4/);
    await strict.release();
    const mapped = await PolicyRunner.create(runtime, buildPolicyOnnx(w), graph, { mapLayers: true });
    const [o] = await mapped.outputs(x);
    expect(mapped.trainedLayers).toBe(12);
    const ref = forwardJs(w, x);
    expect(o!.scores.length).toBe(NF * 4);
    for (let f = 0; f < NF; f++) {
      // tiny layer 0 <- trained layer 3, layer 1 <- trained layer 9
      for (const [to, from] of [[0, 3], [1, 9]] as const) {
        expect(o!.scores[f * 4 + 2 * to]).toBeCloseTo(ref.scores[f * 24 + 2 * from]!, 4);
        expect(o!.scores[f * 4 + 2 * to + 1]).toBeCloseTo(ref.scores[f * 24 + 2 * from + 1]!, 4);
      }
    }
    const a = decodeAction(graph, o!, { prompt: 16, gen: 16 }, 1e12);
    expect(a.counts.nLayer).toBe(2);
    await mapped.release();
  });

  // every shipped policy: the gpt2-xl one (npm run train:policy) and the chat page's gpt2 one
  it.each([
    { dir: '../trained', fixture: './__fixtures__/policy-states.json', model: 'gpt2-xl' as const },
    { dir: '../trained/gpt2-rpi5-chromium', fixture: './__fixtures__/policy-states-gpt2-rpi5-chromium.json', model: 'gpt2' as const },
  ])('$dir gives the training code\'s action on its 1,000 recorded states, and decides quickly', async ({ dir, fixture: fixturePath, model }) => {
    const fixture = JSON.parse(readFileSync(here(fixturePath), 'utf8')) as {
      states: Array<{ features: number[]; request: { prompt: number; gen: number }; memoryFreeBytes: number; action: { fracIndex: number; precIndex: number; cloudHeads: number[]; cloudWidth: number[] } }>;
    };
    expect(fixture.states.length).toBe(1000);
    const w = weightsFromJson(JSON.parse(readFileSync(here(`${dir}/policy-weights.json`), 'utf8')));
    const onnx = new Uint8Array(readFileSync(here(`${dir}/policy.onnx`)));
    // the committed ONNX file is what the exporter writes for the committed weights
    expect(Buffer.from(buildPolicyOnnx(w)).equals(Buffer.from(onnx))).toBe(true);
    const graph = buildModelGraph(PRESETS[model]);
    const runner = await PolicyRunner.create(runtime, onnx, graph);
    const X = new Float32Array(fixture.states.length * FEATURE_DIM);
    fixture.states.forEach((s, i) => X.set(s.features, i * FEATURE_DIM));
    const outs = await runner.outputs(X);
    let same = 0;
    fixture.states.forEach((s, i) => {
      const a = decodeAction(graph, outs[i]!, s.request, s.memoryFreeBytes);
      const got = { fracIndex: a.fracIndex, precIndex: a.precIndex, cloudHeads: Array.from(a.counts.cloudHeads), cloudWidth: Array.from(a.counts.cloudWidth) };
      expect(got).toEqual(s.action);
      // and the plain-JS forward pass agrees too
      const b = decodeAction(graph, forwardJs(w, Float32Array.from(s.features)), s.request, s.memoryFreeBytes);
      expect({ fracIndex: b.fracIndex, precIndex: b.precIndex, cloudHeads: Array.from(b.counts.cloudHeads), cloudWidth: Array.from(b.counts.cloudWidth) }).toEqual(s.action);
      same++;
    });
    expect(same).toBe(1000);
    // decision time, one state at a time (features are precomputed here; decode included)
    const ms: number[] = [];
    for (let i = 0; i < 200; i++) {
      const s = fixture.states[i]!, t = performance.now();
      const [o] = await runner.outputs(Float32Array.from(s.features));
      decodeAction(graph, o!, s.request, s.memoryFreeBytes);
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    expect(ms[Math.floor(0.5 * ms.length)]!).toBeLessThan(20);
    await runner.release();
  }, 60_000);
});
