// The generation loop: prefill the prompt, then one token at a time. A hook may change the plan
// between tokens (the policy does this when the network moves).
import type { ModelGraph } from '../graph/model-graph.ts';
import type { PartitionPlan } from '../plan/partition-plan.ts';
import { logitsNeeded } from './messages.ts';
import { Sampler, type SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Stop at this token (GPT-2: 50256, <|endoftext|>). */
  eosTokenId?: number;
  /** Called before each decode step; returning a plan switches to it first. */
  planFor?: (step: number) => PartitionPlan | undefined;
}

/** What generation drives: an EdgeExecutor, or a RecoveringEdge around one. */
export interface Forwarder {
  readonly graph: ModelGraph;
  readonly length: number;
  reset(plan?: PartitionPlan): Promise<void>;
  setPlan(plan: PartitionPlan): Promise<void>;
  /** `logitsTopK` > 0: only the K largest logits are read (an API cloud-only cloud sends only those). */
  forward(ids: number[], o?: { logitsTopK?: number }): Promise<Float32Array>;
}

export interface GeneratedToken {
  id: number;
  /** Milliseconds the forward pass that produced it took (prefill for the first token). */
  ms: number;
}

export async function* generate(edge: Forwarder, prompt: number[], o: GenerateOptions): AsyncGenerator<GeneratedToken> {
  const sampler = new Sampler(o);
  const logitsTopK = logitsNeeded(o);
  await edge.reset();
  let input = prompt;
  for (let step = 0; step < o.maxNewTokens; step++) {
    const plan = step > 0 ? o.planFor?.(step) : undefined;
    if (plan) await edge.setPlan(plan);
    const t0 = performance.now();
    const logits = await edge.forward(input, { logitsTopK });
    const id = sampler.next(logits);
    yield { id, ms: performance.now() - t0 };
    if (id === o.eosTokenId || edge.length >= edge.graph.config.nPositions) return;
    input = [id];
  }
}
