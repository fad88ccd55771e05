// Version 2 of the learned policy (issue 10): an action space that says "the first k layers on the
// edge at wire precision p" directly, read from the version-2 features (bandwidth trend, the
// cloud's reported load, the plan in place). An MLP (features -> tanh -> tanh -> one logit per
// (k, p)), the classes whose cut does not fit the edge's free memory masked out, greedy argmax.
// It is trained by imitation (DAgger) of the switch-aware DPP planner: scripts/train-cut-policy.ts.
// The shipped version-1 policies (policy.onnx, trained/gpt2-rpi5-chromium) are untouched.
//
// ONNX (opset 17, GraphBuilder: Gemm and Tanh only):
//   inputs:  features [B, FEATURE_DIM_V2]
//   outputs: cut_logits [B, (L + 1) * 3]   class c = k * 3 + precision index (fp32, fp16, int8)
import { GraphBuilder } from '@splitwise/onnx-graphs';
import { f32, type ModelGraph, type RuntimeAdapter, type RuntimeSession, type WirePrecision } from '@splitwise/core';
import { edgeMemoryBytes, type PlanCounts } from './cost-model.ts';
import { featureVectorV2, FEATURE_DIM_V2, type DecisionState } from './features.ts';
import type { Dense } from './network.ts';
import { edgeOnlyCounts } from './optimum.ts';
import type { Decision, PlanContext, Planner } from './planners.ts';
import { modelFootprint } from './policy-runner.ts';

export const CUT_PRECISIONS: readonly WirePrecision[] = ['fp32', 'fp16', 'int8'];
export const CUT_POLICY_IO = { input: 'features', output: 'cut_logits' } as const;

export interface CutPolicyWeights {
  featureDim: number;
  hidden: number;
  /** Layers of the model it decides for: (L + 1) * 3 classes. */
  layers: number;
  l1: Dense;
  l2: Dense;
  out: Dense;
}

export const cutClasses = (layers: number): number => (layers + 1) * CUT_PRECISIONS.length;
export const classOf = (k: number, precision: WirePrecision): number => k * CUT_PRECISIONS.length + CUT_PRECISIONS.indexOf(precision);

/** First k layers on the edge, the rest on the cloud (the graph alone; planners.ts layerSplitCounts needs a cost model). */
export function cutCounts(graph: ModelGraph, k: number): PlanCounts {
  const c = edgeOnlyCounts(graph), { nLayer: L, nInner: W } = graph.config, H = graph.attnUnits;
  for (let l = k; l < L; l++) {
    c.cloudHeads[l] = H;
    c.cloudWidth[l] = W;
  }
  return c;
}

/** Which classes are allowed: cut 0 always (at any precision), cut k > 0 when it fits, cut L only at fp32 (nothing crosses). */
export function cutMask(graph: ModelGraph, s: Pick<DecisionState, 'request' | 'memoryFreeBytes'>): Uint8Array {
  const L = graph.config.nLayer, m = new Uint8Array(cutClasses(L)), ctx = s.request.prompt + s.request.gen;
  for (let k = 0; k <= L; k++) {
    const ok = k === 0 || edgeMemoryBytes(graph, cutCounts(graph, k), ctx) <= s.memoryFreeBytes;
    if (!ok) continue;
    for (let p = 0; p < CUT_PRECISIONS.length; p++) if (k < L || p === 0) m[k * CUT_PRECISIONS.length + p] = 1;
  }
  return m;
}

/** The greedy class among the allowed ones (ties: the lower index). */
export function argmaxMasked(logits: ArrayLike<number>, mask: Uint8Array): number {
  let best = -1, bv = -Infinity;
  for (let i = 0; i < mask.length; i++) if (mask[i] && logits[i]! > bv) [best, bv] = [i, logits[i]!];
  return best;
}

export function decodeCut(graph: ModelGraph, c: number): Decision & { k: number } {
  const k = Math.floor(c / CUT_PRECISIONS.length);
  return { k, plan: cutCounts(graph, k), precision: CUT_PRECISIONS[c % CUT_PRECISIONS.length]! };
}

/** One dense layer, tanh when `act` (the policies' networks in plain JavaScript). */
export const denseForward = (d: Dense, x: ArrayLike<number>, act: boolean): Float32Array => {
  const y = new Float32Array(d.outDim);
  for (let o = 0; o < d.outDim; o++) {
    let v = d.b[o]!;
    for (let i = 0; i < d.inDim; i++) v += x[i]! * d.w[i * d.outDim + o]!;
    y[o] = act ? Math.tanh(v) : v;
  }
  return y;
};

/** The network in plain JavaScript (the reference for the ONNX graph). */
export const cutForwardJs = (w: CutPolicyWeights, x: Float32Array): Float32Array => denseForward(w.out, denseForward(w.l2, denseForward(w.l1, x, true), true), false);

export function buildCutPolicyOnnx(w: CutPolicyWeights): Uint8Array {
  const b = new GraphBuilder('splitwise_cut_policy_v2');
  const gemm = (x: string, d: Dense, name: string): string =>
    b.op('Gemm', [x, b.initializer(`${name}.w`, [d.inDim, d.outDim], d.w), b.initializer(`${name}.b`, [d.outDim], d.b)]);
  const x = b.input(CUT_POLICY_IO.input, 'float32', ['B', w.featureDim]);
  const h = b.op('Tanh', [gemm(b.op('Tanh', [gemm(x, w.l1, 'l1')]), w.l2, 'l2')]);
  b.output(gemm(h, w.out, 'out'), CUT_POLICY_IO.output, 'float32', ['B', cutClasses(w.layers)]);
  return b.toBytes();
}

const denseJson = (d: Dense) => ({ inDim: d.inDim, outDim: d.outDim, w: Array.from(d.w), b: Array.from(d.b) });
export const cutWeightsToJson = (w: CutPolicyWeights) => ({ version: 2, featureDim: w.featureDim, hidden: w.hidden, layers: w.layers, l1: denseJson(w.l1), l2: denseJson(w.l2), out: denseJson(w.out) });
export function cutWeightsFromJson(j: ReturnType<typeof cutWeightsToJson>): CutPolicyWeights {
  const d = (x: { inDim: number; outDim: number; w: number[]; b: number[] }): Dense => ({ inDim: x.inDim, outDim: x.outDim, w: Float32Array.from(x.w), b: Float32Array.from(x.b) });
  return { featureDim: j.featureDim, hidden: j.hidden, layers: j.layers, l1: d(j.l1), l2: d(j.l2), out: d(j.out) };
}

/** The exported version-2 policy on any RuntimeAdapter. */
export class CutPolicyRunner {
  private constructor(
    private readonly session: RuntimeSession,
    readonly graph: ModelGraph,
    private readonly footprint: number,
  ) {}

  static async create(runtime: RuntimeAdapter, onnx: Uint8Array, graph: ModelGraph): Promise<CutPolicyRunner> {
    return new CutPolicyRunner(await runtime.createSession(onnx, 'cut-policy'), graph, modelFootprint(graph));
  }

  features(s: DecisionState): Float32Array {
    return featureVectorV2(s, this.footprint);
  }

  /** Logits for a batch of feature vectors [B * FEATURE_DIM_V2]. */
  async logits(features: Float32Array): Promise<Float32Array[]> {
    const B = features.length / FEATURE_DIM_V2, C = cutClasses(this.graph.config.nLayer);
    const r = await this.session.run({ [CUT_POLICY_IO.input]: f32(features, [B, FEATURE_DIM_V2]) });
    const t = r[CUT_POLICY_IO.output];
    if (!t || t.dtype !== 'float32' || t.data.length !== B * C) throw new Error(`the cut policy's output is not [${B}, ${C}] (is it for a ${this.graph.config.nLayer}-layer model?)`);
    return Array.from({ length: B }, (_, i) => t.data.slice(i * C, (i + 1) * C));
  }

  async decide(s: DecisionState): Promise<{ decision: Decision & { k: number }; ms: number }> {
    const t = performance.now();
    const [l] = await this.logits(this.features(s));
    const decision = decodeCut(this.graph, argmaxMasked(l!, cutMask(this.graph, s)));
    return { decision, ms: performance.now() - t };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The version-2 learned policy as a Planner (greedy). */
export class CutPolicyPlanner implements Planner {
  constructor(
    readonly name: string,
    private readonly runner: CutPolicyRunner,
  ) {}
  async decide(s: DecisionState, _ctx: PlanContext): Promise<Decision> {
    const { decision } = await this.runner.decide(s);
    return { plan: decision.plan, precision: decision.precision };
  }
}
