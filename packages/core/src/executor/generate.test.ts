// The generation loop stops at the model's EOS (and yields it), and at the context's end.
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../arch/index.ts';
import { buildModelGraph } from '../graph/model-graph.ts';
import type { PartitionPlan } from '../plan/partition-plan.ts';
import { generate, type Forwarder } from './generate.ts';

/** A forwarder whose logits pick the next id from a script. */
function scripted(next: number[], nPositions = 128): Forwarder & { calls: number } {
  const graph = buildModelGraph({ ...PRESETS['llama-tiny'], nPositions });
  let i = 0, length = 0;
  return {
    graph,
    get length() {
      return length;
    },
    calls: 0,
    async reset(_plan?: PartitionPlan) {
      length = 0;
    },
    async setPlan() {},
    async forward(ids: number[]) {
      length += ids.length;
      this.calls++;
      const logits = new Float32Array(graph.config.vocabSize);
      logits[next[i++]!] = 1;
      return logits;
    },
  };
}

describe('generate', () => {
  it('stops at EOS, having yielded it', async () => {
    const f = scripted([7, 8, 2, 9, 9]);
    const ids: number[] = [];
    for await (const t of generate(f, [1, 5], { maxNewTokens: 10, eosTokenId: 2 })) ids.push(t.id);
    expect(ids).toEqual([7, 8, 2]);
    expect(f.calls).toBe(3);
  });

  it('stops at the end of the context', async () => {
    const f = scripted(Array(20).fill(4), 6);
    const ids: number[] = [];
    for await (const t of generate(f, [1, 5], { maxNewTokens: 10, eosTokenId: 2 })) ids.push(t.id);
    expect(f.length).toBe(6);
    expect(ids).toHaveLength(5);
  });
});
