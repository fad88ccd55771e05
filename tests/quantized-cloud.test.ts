// Quantized weights across the network: the server's cloud runs its share at the precision the
// edge's hello asks for (quantizing its checkpoint on the first session that asks), and a Node
// edge quantizes its download. On the shipped story model (real weights): every plan equals the
// monolithic graph quantized the same way within 1e-4, also with plan changes mid-sequence; each
// side may run its own precision; /api/reference answers at any precision; bad requests get typed
// errors.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudOnlyPlan, edgeOnlyPlan, halfPlan, quantizeCheckpoint, randomPlan, type Checkpoint, type MonolithicRunner, type PartitionPlan } from '@splitwise/core';
import { loadModelFromDir, writeQuantizedCheckpoint, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { createMonolithic, OrtNodeRuntime } from '@splitwise/runtime-node';
import { buildMonolithicGraph } from '@splitwise/onnx-graphs';
import { MonolithicRunner as Runner } from '@splitwise/core';
import { createCloudServer, type CloudServer } from '@splitwise/server';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { helloFor, rawClient, ask } from '../apps/server/src/test-support.ts';
import { maxAbsDiff, tokenIds } from './helpers.ts';

const TOL = 1e-4;
const STORY = 'models/stories260K';
let server: CloudServer;
let ckpt: LoadedGpt2Checkpoint;
const edges: RemoteEdge[] = [];

beforeAll(async () => {
  server = await createCloudServer({ modelDir: STORY, port: 0, logLevel: 'silent' });
  ckpt = await loadModelFromDir(STORY);
});

afterAll(async () => {
  await Promise.all(edges.map((e) => e.close()));
  await server?.close();
});

async function worst(e: RemoteEdge, mono: MonolithicRunner, plan: PartitionPlan, seed: number, changes = new Map<number, PartitionPlan>()): Promise<number> {
  const V = e.graph.config.vocabSize, prompt = tokenIds(8, seed, V), next = tokenIds(10, seed + 5, V);
  await e.edge.reset(plan);
  mono.reset();
  let w = maxAbsDiff(await e.edge.forward(prompt), await mono.forward(prompt));
  for (const [i, id] of next.entries()) {
    const c = changes.get(i);
    if (c) await e.edge.setPlan(c);
    w = Math.max(w, maxAbsDiff(await e.edge.forward([id]), await mono.forward([id])));
  }
  return w;
}

describe('the cloud runs its share at the precision the edge asks for', () => {
  for (const weights of ['int8', 'q4'] as const) {
    it(`${weights} on both sides over socket.io: every plan equals the ${weights} monolithic graph`, async () => {
      const e = await connectRemoteEdge({ server: server.url, plan: 'edge', probeEveryMs: 0, weights });
      edges.push(e);
      const g = e.graph, mono = await createMonolithic(ckpt, { weights }), fp32 = await createMonolithic(ckpt);
      const cases: Array<[PartitionPlan, Map<number, PartitionPlan>]> = [
        [edgeOnlyPlan(g), new Map()],
        [cloudOnlyPlan(g), new Map()],
        [halfPlan(g), new Map()],
        [randomPlan(g, 5), new Map([[3, halfPlan(g)], [7, cloudOnlyPlan(g)]])],
      ];
      for (const [i, [plan, changes]] of cases.entries()) expect(await worst(e, mono, plan, 10 + i, changes), `plan ${i}`).toBeLessThan(TOL);
      // and the cloud really is quantized: its share alone differs from fp32
      expect(await worst(e, fp32, cloudOnlyPlan(g), 30)).toBeGreaterThan(10 * TOL);
    });
  }

  it('each side its own precision: an fp32 edge (with the LM head) and a q4 cloud under the cloud-only plan', async () => {
    const e = await connectRemoteEdge({ server: server.url, plan: 'cloud', probeEveryMs: 0, weights: 'fp32', cloudWeights: 'q4' });
    edges.push(e);
    // the reference: every layer at q4, the LM head (the edge's) fp32
    const q = quantizeCheckpoint(ckpt as Checkpoint, 'q4');
    const matrices = new Map(q.quantized!.matrices);
    matrices.delete('lm_head');
    const ref = new Runner(ckpt.config, await new OrtNodeRuntime().createSession(buildMonolithicGraph({ ...q, quantized: { ...q.quantized!, matrices } }), 'monolithic'));
    expect(await worst(e, ref, cloudOnlyPlan(e.graph), 50)).toBeLessThan(TOL);
  });

  it('/api/reference/logits at a precision equals that monolithic graph', async () => {
    const ids = [1, 403, 407, 261];
    for (const weights of ['int8', 'q4'] as const) {
      const res = await fetch(`${server.url}/api/reference/logits?ids=${ids.join(',')}&weights=${weights}`);
      const got = Float32Array.from(((await res.json()) as { logits: number[] }).logits);
      expect(maxAbsDiff(got, await (await createMonolithic(ckpt, { weights })).forward(ids))).toBeLessThan(TOL);
    }
    expect((await fetch(`${server.url}/api/reference/logits?ids=1&weights=fp16`)).status).toBe(400);
  });

  it('refuses weights it does not know, and a precision a quantized model folder cannot give', async () => {
    const s = await rawClient(server.url);
    const graph = edges[0]!.graph;
    const r = await ask<{ ok: boolean; error?: { code: string } }>(s, 'hello', { ...helloFor(graph), weights: 'fp16' });
    expect(r).toMatchObject({ ok: false, error: { code: 'malformed' } });
    s.close();

    const root = await mkdtemp(join(tmpdir(), 'splitwise-q-'));
    try {
      await writeQuantizedCheckpoint(join(root, 'q4'), quantizeCheckpoint(ckpt as Checkpoint, 'q4'), { copyFrom: STORY });
      const qs = await createCloudServer({ modelDir: join(root, 'q4'), port: 0, logLevel: 'silent' });
      try {
        const c = await rawClient(qs.url);
        expect(await ask(c, 'hello', { ...helloFor(graph), weights: 'fp32' })).toMatchObject({ ok: false, error: { code: 'unsupported_weights' } });
        c.close();
        // its own precision, asked or not, is served
        const e = await connectRemoteEdge({ server: qs.url, plan: 'cloud', probeEveryMs: 0, weights: 'q4', checkpoint: { ckpt } });
        edges.push(e);
        expect(await worst(e, await createMonolithic(ckpt, { weights: 'q4' }), cloudOnlyPlan(e.graph), 60)).toBeLessThan(TOL);
      } finally {
        await qs.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
