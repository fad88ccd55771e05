// No token lost: the cloud worker dies (losing every KV cache) at random points mid-answer, and
// the answer is still the same, token for token, as an uninterrupted greedy run.
import { describe, expect, it } from 'vitest';
import {
  CloudExecutor,
  LinkError,
  PRESETS,
  RecoveringEdge,
  SplitWeights,
  backoffDelay,
  generate,
  halfPlan,
  randomPlan,
  type CloudLink,
  type CloudReply,
  type CloudRequest,
  type Fallback,
  type LinkStats,
  type PartitionPlan,
  type RecoveryEvent,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { createLocalSplit, type LocalSplit } from '@splitwise/runtime-node';

const ckpt = makeRandomGpt2(PRESETS.tiny, 31);

/** A cloud that can be killed: requests fail while it is down, and it comes back empty. */
class KillableCloud implements CloudLink {
  readonly stats: LinkStats = { calls: 0, bytesUp: 0, bytesDown: 0 };
  down = false;
  kills = 0;
  private cloud: CloudExecutor;
  constructor(private readonly s: LocalSplit) {
    this.cloud = s.cloud;
  }
  kill(): void {
    this.kills++;
    this.down = true;
    // a fresh worker: same model, no sessions' state
    this.cloud = new CloudExecutor(this.s.graph, new SplitWeights(ckpt, this.s.graph), this.s.sessions.cloud);
  }
  async request(req: CloudRequest): Promise<CloudReply> {
    if (this.down) throw new LinkError('worker is down', 'link_closed');
    this.stats.calls++;
    return structuredClone(await this.cloud.handle(structuredClone(req)));
  }
  async close(): Promise<void> {}
}

async function greedy(
  edge: Parameters<typeof generate>[0],
  prompt: number[],
  n: number,
  each?: (i: number) => void,
  planFor?: (step: number) => PartitionPlan | undefined,
): Promise<number[]> {
  const out: number[] = [];
  for await (const t of generate(edge, prompt, { maxNewTokens: n, ...(planFor ? { planFor } : {}) })) {
    out.push(t.id);
    each?.(out.length);
  }
  return out;
}

describe('recovery', () => {
  it('backoff grows exponentially, is capped, and is jittered', () => {
    const o = { initialMs: 100, factor: 2, maxMs: 1000, jitter: 0.5 };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, o, () => 0))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(3, o, () => 1)).toBe(200);
  });

  for (const fallback of ['edge-after-retries', 'edge-now', 'wait'] as Fallback[]) {
    it(`20 kills at random points, fallback ${fallback}: the same tokens`, async () => {
      const prompt = [464, 5044, 290, 262, 6279];
      const reference = await greedy((await createLocalSplit(ckpt, halfPlan)).edge, prompt, 60);

      const split = await createLocalSplit(ckpt, halfPlan);
      const link = new KillableCloud(split);
      // the edge talks to the killable cloud instead of the in-memory link
      (split.edge as unknown as { link: CloudLink }).link = link;
      let rng = 12345;
      const random = (): number => ((rng = (Math.imul(rng, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const events: RecoveryEvent[] = [];
      const edge = new RecoveringEdge(split.edge, {
        fallback,
        backoff: { initialMs: 1, maxMs: 4, maxAttempts: fallback === 'wait' ? 30 : 3 },
        reconnect: async () => {
          if (link.down && random() < 0.5) link.down = false; // the worker restarts after a while
        },
        onEvent: (e) => events.push(e),
        random,
      });
      const killAt = new Set<number>();
      while (killAt.size < 20) killAt.add(1 + Math.floor(random() * 58));
      const tokens = await greedy(
        edge,
        prompt,
        60,
        (i) => {
          if (killAt.has(i)) link.kill();
        },
        (step) => (step === 30 ? randomPlan(split.graph, 4) : undefined), // plans change too
      );
      expect(link.kills).toBe(20);
      expect(tokens).toEqual(reference);
      expect(events.some((e) => e.type === 'failure')).toBe(true);
      if (fallback !== 'wait') expect(events.some((e) => e.type === 'fallback')).toBe(true);
    });
  }
});
