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

/**
 * Block scores of a policy trained for `fromLayers` layers, read for a model of `toLayers`: each
 * layer takes the scores (attention, FFN) of the trained layer at the same relative depth. The
 * fraction and the precision are shares of bytes and need no mapping; the memory mask is always
 * computed on the real model. Identity when the layer counts agree.
 */
export function mapBlockScores(scores: Float32Array, fromLayers: number, toLayers: number): Float32Array {
  if (fromLayers === toLayers) return scores;
  const rows = scores.length / (2 * fromLayers), out = new Float32Array(rows * 2 * toLayers);
  for (let r = 0; r < rows; r++) {
    for (let l = 0; l < toLayers; l++) {
      const src = Math.min(fromLayers - 1, Math.floor(((l + 0.5) * fromLayers) / toLayers));
      out[r * 2 * toLayers + 2 * l] = scores[r * 2 * fromLayers + 2 * src]!;
      out[r * 2 * toLayers + 2 * l + 1] = scores[r * 2 * fromLayers + 2 * src + 1]!;
    }
  }
  return out;
}

export class PolicyRunner {
  /** Layers the policy was trained for, once its first output has been read (see mapBlockScores). */
  trainedLayers?: number;

  private constructor(
    private readonly session: RuntimeSession,
    readonly graph: ModelGraph,
    private readonly footprint: number,
    private readonly mapLayers: boolean,
  ) {}

  /**
   * `mapLayers`: accept a policy trained for another layer count and read its block scores by
   * relative depth (mapBlockScores). Off by default: a mismatch is then an error.
   */
  static async create(runtime: RuntimeAdapter, onnx: Uint8Array, graph: ModelGraph, o: { mapLayers?: boolean } = {}): Promise<PolicyRunner> {
    return new PolicyRunner(await runtime.createSession(onnx, 'policy'), graph, modelFootprint(graph), o.mapLayers ?? false);
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
    const fl = get('frac_logits'), pl = get('prec_logits'), raw = get('scores');
    const trainedBlocks = raw.length / (B * NF);
    if (!Number.isInteger(trainedBlocks) || trainedBlocks % 2 !== 0 || trainedBlocks === 0) throw new Error(`the policy's scores output has ${raw.length} values for ${B} states`);
    if (!this.mapLayers && trainedBlocks !== nb) throw new Error(`the policy scores ${trainedBlocks} blocks; the model has ${nb}`);
    this.trainedLayers = trainedBlocks / 2;
    const sc = mapBlockScores(raw, trainedBlocks / 2, nb / 2);
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
