// Runs the exported policy on any RuntimeAdapter (onnxruntime-node on a server or a headless edge,
// onnxruntime-web in the page) and decodes its outputs into a plan with the same code the trainer
// uses. Platform-neutral.
import { f32, type ModelGraph, type RuntimeAdapter, type RuntimeSession } from '@splitwise/core';
import { decodeAction, NF, NP, type PolicyAction, type PolicyOutputs } from './action.ts';
import { edgeMemoryBytes } from './cost-model.ts';
import { featureVector, FEATURE_DIM, type DecisionState } from './features.ts';
import { edgeOnlyCounts } from './optimum.ts';
import { POLICY_IO } from './export-onnx.ts';

/** The edge footprint of the whole model at full context: what the memory feature is relative to. */
export const modelFootprint = (graph: ModelGraph): number => edgeMemoryBytes(graph, edgeOnlyCounts(graph), graph.config.nPositions);

export class PolicyRunner {
  private constructor(
    private readonly session: RuntimeSession,
    readonly graph: ModelGraph,
    private readonly footprint: number,
  ) {}

  static async create(runtime: RuntimeAdapter, onnx: Uint8Array, graph: ModelGraph): Promise<PolicyRunner> {
    return new PolicyRunner(await runtime.createSession(onnx, 'policy'), graph, modelFootprint(graph));
  }

  /** The network's outputs for a batch of feature vectors [B * FEATURE_DIM]. */
  async outputs(features: Float32Array): Promise<PolicyOutputs[]> {
    const B = features.length / FEATURE_DIM, nb = 2 * this.graph.config.nLayer;
    const r = await this.session.run({ [POLICY_IO.input]: f32(features, [B, FEATURE_DIM]) });
    const get = (k: string): Float32Array => {
      const t = r[k];
      if (!t || t.dtype !== 'float32') throw new Error(`policy graph output "${k}" is missing`);
      return t.data;
    };
    const fl = get('frac_logits'), pl = get('prec_logits'), sc = get('scores');
    if (sc.length !== B * NF * nb) throw new Error(`the policy scores ${sc.length / (B * NF)} blocks; the model has ${nb}`);
    return Array.from({ length: B }, (_, i) => ({
      fracLogits: fl.slice(i * NF, (i + 1) * NF),
      precLogits: pl.slice(i * NP, (i + 1) * NP),
      scores: sc.slice(i * NF * nb, (i + 1) * NF * nb),
    }));
  }

  features(state: DecisionState): Float32Array {
    return featureVector(state, this.footprint);
  }

  /** The greedy action for one state, and the milliseconds the decision took (features to plan). */
  async decide(state: DecisionState): Promise<{ action: PolicyAction; ms: number }> {
    const t = performance.now();
    const [out] = await this.outputs(this.features(state));
    const action = decodeAction(this.graph, out!, state.request, state.memoryFreeBytes);
    return { action, ms: performance.now() - t };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
