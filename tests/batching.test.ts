// Continuous batching on the cloud (apps/server/src/batcher.ts), over real sockets: edges with
// different plans (cloud-only, half, random subsets, layers:k) and wire precisions (fp32, fp16,
// int8), and sessions whose weights are quantized (int8 / q4 per side, which the cloud serves
// outside the batches, on the same server), decoding at once get, token for token and logit for logit (bit for bit), the answers they
// get one at a time from the same server, also across a KV rebuild (resync) and a plan change
// mid-answer; and the same tokens as a server without batching, logits within 1e-4. A session
// that drops mid-batch breaks no other, and no session waits more than the fairness bound.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argmax, cloudOnlyPlan, type PartitionPlan, type WeightPrecision, type WirePrecision } from '@splitwise/core';
import { loadModelFromDir, makeModel, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { createCloudServer, type CloudServer } from '@splitwise/server';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { resolvePlan } from '../packages/cli/src/engine.ts';
import { maxAbsDiff, tokenIds } from './helpers.ts';

interface Variant {
  plan: string;
  precision: WirePrecision;
  /** The edge's weight precision, and the cloud's (absent: fp32 on both, the batched path). */
  weights?: { edge: WeightPrecision; cloud: WeightPrecision };
  /** Before decode step `at`: a KV rebuild of the cloud from the edge's checkpoint, or a plan change. */
  resyncAt?: number;
  changeAt?: { at: number; plan: string };
}

interface Answer {
  tokens: number[];
  logits: Float32Array[];
}

const VARIANTS: Variant[] = [
  { plan: 'cloud', precision: 'fp32' },
  { plan: 'cloud', precision: 'fp16', resyncAt: 6 },
  { plan: 'cloud', precision: 'int8' },
  { plan: 'half', precision: 'fp32' },
  { plan: 'random:3', precision: 'fp16' },
  { plan: 'layers:1', precision: 'int8', resyncAt: 9 },
  { plan: 'layers:1', precision: 'fp32', changeAt: { at: 7, plan: 'cloud' } },
  { plan: 'random:5', precision: 'int8', changeAt: { at: 5, plan: 'layers:1' } },
  // quantized weights interleave with the batches: the cloud runs these sessions unbatched
  { plan: 'half', precision: 'fp32', weights: { edge: 'q4', cloud: 'q4' } },
  { plan: 'cloud', precision: 'fp16', weights: { edge: 'fp32', cloud: 'int8' }, resyncAt: 4 },
];
const PROMPT = 6, NEW = 20;

async function plan(e: RemoteEdge, spec: string): Promise<PartitionPlan> {
  return resolvePlan(spec, e.graph);
}

/** A greedy answer from this edge, with the variant's rebuild or plan change; every step's logits. */
async function answer(e: RemoteEdge, v: Variant, prompt: number[]): Promise<Answer> {
  await e.edge.reset(await plan(e, v.plan));
  const logits = [await e.edge.forward(prompt)], tokens: number[] = [];
  for (let i = 0; i < NEW; i++) {
    if (v.resyncAt === i) await e.edge.resync();
    if (v.changeAt?.at === i) await e.edge.setPlan(await plan(e, v.changeAt.plan));
    tokens.push(argmax(logits.at(-1)!));
    logits.push(await e.edge.forward([tokens.at(-1)!]));
  }
  return { tokens, logits };
}

const nameOf = (v: Variant): string => `${v.plan} ${v.precision}${v.weights ? ` weights ${v.weights.edge}/${v.weights.cloud}` : ''}`;
const bitEqual = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

let root: string;
let ckpt: LoadedGpt2Checkpoint;
let batched: CloudServer;
let serial: CloudServer;

const edgesOn = (server: CloudServer, variants: Variant[]): Promise<RemoteEdge[]> =>
  Promise.all(variants.map((v) => connectRemoteEdge({ server: server.url, plan: v.plan, precision: v.precision, probeEveryMs: 0, checkpoint: { ckpt }, ...(v.weights ? { weights: v.weights.edge, cloudWeights: v.weights.cloud } : {}) })));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'splitwise-batching-'));
  await makeModel({ config: 'tiny', seed: 31, outDir: join(root, 'tiny') });
  ckpt = await loadModelFromDir(join(root, 'tiny'));
  batched = await createCloudServer({ modelDir: join(root, 'tiny'), port: 0, logLevel: 'silent', maxSessions: 16, maxBatch: 8, batchWaitMs: 2 });
  serial = await createCloudServer({ modelDir: join(root, 'tiny'), port: 0, logLevel: 'silent', maxSessions: 16, batching: false });
});

afterAll(async () => {
  await batched?.close();
  await serial?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const promptOf = (i: number): number[] => tokenIds(PROMPT, 500 + i, ckpt.config.vocabSize);
const stats = () => batched.stats().batching!.default!;

describe('continuous batching on the cloud', () => {
  it('edges of every plan and precision decoding at once get the answers they get alone, bit for bit, and a serial server\'s tokens', async () => {
    const edges = await edgesOn(batched, VARIANTS);
    try {
      // one at a time: every step of every answer is a batch of one
      const alone: Answer[] = [];
      for (const [i, e] of edges.entries()) alone.push(await answer(e, VARIANTS[i]!, promptOf(i)));
      const before = stats();
      // all at once, twice (the second time the sessions are in step from the first token)
      for (let round = 0; round < 2; round++) {
        const together = await Promise.all(edges.map((e, i) => answer(e, VARIANTS[i]!, promptOf(i))));
        together.forEach((a, i) => {
          const name = nameOf(VARIANTS[i]!);
          expect(a.tokens, name).toEqual(alone[i]!.tokens);
          a.logits.forEach((l, t) => expect(bitEqual(l, alone[i]!.logits[t]!), `${name}: logits at step ${t}`).toBe(true));
        });
      }
      const after = stats();
      const multi = Object.entries(after.sizes).filter(([size]) => Number(size) > 1).reduce((n, [size, count]) => n + count - (before.sizes[size] ?? 0), 0);
      console.log(`batching figures: ${JSON.stringify(after)}`);
      expect(multi, 'batches of more than one row').toBeGreaterThan(10);
      expect(after.rows - before.rows).toBeGreaterThan(after.batches - before.batches); // mean batch > 1 over the concurrent rounds

      // the same variants on a server without batching: the same tokens, logits to float tolerance
      const plain = await edgesOn(serial, VARIANTS);
      try {
        const unbatched = await Promise.all(plain.map((e, i) => answer(e, VARIANTS[i]!, promptOf(i))));
        const worst = unbatched.map((a, i) => {
          expect(a.tokens, nameOf(VARIANTS[i]!)).toEqual(alone[i]!.tokens);
          return Math.max(...a.logits.map((l, t) => maxAbsDiff(l, alone[i]!.logits[t]!)));
        });
        console.log(`batched vs serial server, max |logit difference| per variant: ${worst.map((w) => w.toExponential(1)).join(', ')}`);
        for (const w of worst) expect(w).toBeLessThan(1e-4);
      } finally {
        await Promise.all(plain.map((e) => e.close()));
      }
    } finally {
      await Promise.all(edges.map((e) => e.close()));
    }
  }, 120_000);

  it('a session that drops mid-batch breaks no other one, and its lane is freed', async () => {
    const variants = Array.from({ length: 5 }, (): Variant => ({ plan: 'cloud', precision: 'fp32' }));
    const edges = await edgesOn(batched, variants);
    const lanesBefore = stats().lanes;
    try {
      const alone: Answer[] = [];
      for (const [i, e] of edges.entries()) alone.push(await answer(e, variants[i]!, promptOf(10 + i)));
      const victim = edges[2]!;
      await victim.edge.reset(cloudOnlyPlan(victim.graph));
      await victim.edge.forward(promptOf(12));
      const others = Promise.all(edges.map((e, i) => (i === 2 ? undefined : answer(e, variants[i]!, promptOf(10 + i)))));
      // the victim's socket goes while its decode steps queue and run with the others'
      const dropped = (async () => {
        const failed: unknown[] = [];
        for (let t = 0; t < 8; t++) {
          const step = victim.edge.forward([t + 1]);
          if (t === 3) await new Promise((r) => setTimeout(r, 1)).then(() => victim.link.close());
          try {
            await step;
          } catch (e) {
            failed.push(e);
            break;
          }
        }
        return failed;
      })();
      const [got, failed] = await Promise.all([others, dropped]);
      expect(failed.length).toBe(1);
      got.forEach((a, i) => {
        if (!a) return;
        expect(a.tokens).toEqual(alone[i]!.tokens);
        a.logits.forEach((l, t) => expect(bitEqual(l, alone[i]!.logits[t]!)).toBe(true));
      });
      // the server freed the dropped session: its lane is gone
      for (let i = 0; i < 100 && stats().lanes !== lanesBefore - 1; i++) await new Promise((r) => setTimeout(r, 20));
      expect(stats().lanes).toBe(lanesBefore - 1);
      expect(stats().queued).toBe(0);
    } finally {
      await Promise.all(edges.map((e) => e.close()));
    }
  }, 60_000);

  it('is fair: with batches of at most 2 rows, no step of 6 sessions waits more than (layers + 1) x 3 runs, plus one per prompt', async () => {
    const dir = join(root, 'tiny');
    const small = await createCloudServer({ modelDir: dir, port: 0, logLevel: 'silent', maxSessions: 16, maxBatch: 2, batchWaitMs: 2 });
    const variants = Array.from({ length: 6 }, (_, i): Variant => ({ plan: i % 2 ? 'layers:1' : 'cloud', precision: 'fp32' }));
    const edges = await edgesOn(small, variants);
    try {
      const before = small.stats().batching!.default!.maxWaitedRuns;
      expect(before).toBe(0);
      const done = await Promise.all(edges.map((e, i) => answer(e, variants[i]!, promptOf(20 + i))));
      const s = small.stats().batching!.default!, L = ckpt.config.nLayer;
      console.log(`fairness figures: ${JSON.stringify(s)}`);
      for (const a of done) expect(a.tokens.length).toBe(NEW);
      expect(s.sizes['2']).toBeGreaterThan(0);
      expect(Math.max(...Object.keys(s.sizes).map(Number))).toBeLessThanOrEqual(2);
      // prompts run alone and count too: one per session on top of the decode bound
      expect(s.maxWaitedRuns).toBeLessThanOrEqual((L + 1) * Math.ceil(6 / 2) + 6);
    } finally {
      await Promise.all(edges.map((e) => e.close()));
      await small.close();
    }
  }, 60_000);

  it('refuses batching options it cannot honour, and a model it can batch serves the LLaMA family too', async () => {
    const dir = join(root, 'tiny');
    await expect(createCloudServer({ modelDir: dir, port: 0, logLevel: 'silent', maxBatch: 0 })).rejects.toThrow(/maxBatch/);
    await expect(createCloudServer({ modelDir: dir, port: 0, logLevel: 'silent', batchWaitMs: -1 })).rejects.toThrow(/maxWaitMs/);
    await makeModel({ config: 'llama-tiny', seed: 4, outDir: join(root, 'llama') });
    const llama = await createCloudServer({ modelDir: join(root, 'llama'), port: 0, logLevel: 'silent', maxBatch: 8 });
    const lckpt = await loadModelFromDir(join(root, 'llama'));
    const variants: Variant[] = [
      { plan: 'cloud', precision: 'fp32' },
      { plan: 'cloud', precision: 'fp16', resyncAt: 4 },
      { plan: 'half', precision: 'int8' },
      { plan: 'layers:1', precision: 'fp32', changeAt: { at: 3, plan: 'cloud' } },
    ];
    const edges = await Promise.all(variants.map((v) => connectRemoteEdge({ server: llama.url, plan: v.plan, precision: v.precision, probeEveryMs: 0, checkpoint: { ckpt: lckpt } })));
    try {
      const prompt = (i: number): number[] => tokenIds(PROMPT, 900 + i, lckpt.config.vocabSize);
      const alone: Answer[] = [];
      for (const [i, e] of edges.entries()) alone.push(await answer(e, variants[i]!, prompt(i)));
      const together = await Promise.all(edges.map((e, i) => answer(e, variants[i]!, prompt(i))));
      together.forEach((a, i) => {
        expect(a.tokens).toEqual(alone[i]!.tokens);
        a.logits.forEach((l, t) => expect(bitEqual(l, alone[i]!.logits[t]!), `${variants[i]!.plan} step ${t}`).toBe(true));
      });
      expect(llama.stats().batching!.default!.meanBatch).toBeGreaterThan(1);
    } finally {
      await Promise.all(edges.map((e) => e.close()));
      await llama.close();
    }
  }, 60_000);
});
