// The split engine over the real network path: a Node edge (model downloaded from the server)
// and the server's cloud side, joined by socket.io on loopback. At fp32 the logits equal the
// monolithic graph's for every plan, with plan changes mid-sequence and two edges interleaving
// on the server's shared sessions; fp16 and int8 add a small, measured error.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudOnlyPlan, edgeOnlyPlan, halfPlan, randomPlan, type MonolithicRunner, type PartitionPlan, type WirePrecision } from '@splitwise/core';
import { loadGpt2FromDir, makeModel, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { createMonolithic } from '@splitwise/runtime-node';
import { createCloudServer, type CloudServer } from '@splitwise/server';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { klFromLogits } from '../packages/cli/src/stats.ts';
import { maxAbsDiff, tokenIds } from './helpers.ts';

const TOL = 1e-4;
let root: string;
let dir: string;
let server: CloudServer;
let ckpt: LoadedGpt2Checkpoint;
let mono: MonolithicRunner;
let edge: RemoteEdge;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'splitwise-socket-'));
  dir = join(root, 'tiny');
  await makeModel({ config: 'tiny', seed: 21, outDir: dir });
  server = await createCloudServer({ modelDir: dir, port: 0, logLevel: 'silent' });
  ckpt = await loadGpt2FromDir(dir);
  mono = await createMonolithic(ckpt);
  edge = await connectRemoteEdge({ server: server.url, plan: 'edge', probeEveryMs: 0 });
});

afterAll(async () => {
  await edge?.close();
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Monolithic logits for a prompt then one token at a time. */
async function referenceLogits(prompt: number[], next: number[]): Promise<Float32Array[]> {
  mono.reset();
  const out = [await mono.forward(prompt)];
  for (const id of next) out.push(await mono.forward([id]));
  return out;
}

/** The same through an edge, with plan changes before the given decode steps; returns the worst difference. */
async function splitWorst(e: RemoteEdge, plan: PartitionPlan, prompt: number[], next: number[], ref: Float32Array[], changes = new Map<number, PartitionPlan>()): Promise<number> {
  await e.edge.reset(plan);
  let worst = maxAbsDiff(await e.edge.forward(prompt), ref[0]!);
  for (const [i, id] of next.entries()) {
    const change = changes.get(i);
    if (change) await e.edge.setPlan(change);
    worst = Math.max(worst, maxAbsDiff(await e.edge.forward([id]), ref[i + 1]!));
  }
  return worst;
}

describe('split over socket.io equals the monolithic graph (fp32)', () => {
  it('the downloaded model is the server\'s, bit for bit', () => {
    for (const [name, t] of ckpt.tensors) expect(Buffer.from(edge.ckpt.tensors.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
  });

  it('edge-only, cloud-only, half and 2 random plans (one changing plan twice mid-sequence)', async () => {
    const g = edge.graph, V = g.config.vocabSize;
    const session = () => server.stats().sessions.find((s) => s.session === edge.link.session)!;
    const cases: Array<[string, PartitionPlan, Map<number, PartitionPlan>]> = [
      ['edge-only', edgeOnlyPlan(g), new Map()],
      ['cloud-only', cloudOnlyPlan(g), new Map()],
      ['half', halfPlan(g), new Map()],
      ['random 1', randomPlan(g, 41), new Map()],
      ['random 2 + changes', randomPlan(g, 42), new Map([[4, halfPlan(g)], [11, randomPlan(g, 43)]])],
    ];
    for (const [i, [name, plan, changes]] of cases.entries()) {
      const prompt = tokenIds(12, 100 + i, V), next = tokenIds(16, 200 + i, V);
      const ref = await referenceLogits(prompt, next);
      const before = { ...session() };
      const worst = await splitWorst(edge, plan, prompt, next, ref, changes);
      const after = session();
      console.log(`socket fp32 ${name}: max |split - monolithic| = ${worst.toExponential(2)}, server bytes in/out ${after.bytesIn - before.bytesIn}/${after.bytesOut - before.bytesOut}`);
      expect(worst, name).toBeLessThan(TOL);
      if (name === 'edge-only') {
        expect(after.bytesIn - before.bytesIn).toBe(0);
        expect(after.bytesOut - before.bytesOut).toBe(0);
        expect(after.segments - before.segments).toBe(0);
      } else {
        expect(after.bytesIn - before.bytesIn, name).toBeGreaterThan(0);
        expect(after.bytesOut - before.bytesOut, name).toBeGreaterThan(0);
      }
      if (name === 'half') {
        expect(after.plan.cloudHeads).toBe(after.plan.totalHeads / 2);
        expect(after.kvBytes).toBeGreaterThan(0);
      }
    }
  });

  it('two edges interleaving on the shared cloud sessions each stay exact', async () => {
    const other = await connectRemoteEdge({ server: server.url, plan: 'half', probeEveryMs: 0, checkpoint: { ckpt: edge.ckpt, tokenizer: edge.tokenizer } });
    try {
      const g = edge.graph, V = g.config.vocabSize;
      const jobs = [
        { e: edge, plan: cloudOnlyPlan(g), prompt: tokenIds(9, 7, V), next: tokenIds(20, 8, V) },
        { e: other, plan: halfPlan(g), prompt: tokenIds(5, 9, V), next: tokenIds(20, 10, V) },
      ];
      const refs: Float32Array[][] = [];
      for (const j of jobs) refs.push(await referenceLogits(j.prompt, j.next));
      expect(server.stats().totals.sessions).toBe(2);
      const worst = await Promise.all(jobs.map((j, i) => splitWorst(j.e, j.plan, j.prompt, j.next, refs[i]!)));
      for (const w of worst) expect(w).toBeLessThan(TOL);
    } finally {
      await other.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(server.stats().totals.sessions).toBe(1);
  });
});

describe('wire precision', () => {
  it('fp16 and int8 add small, finite errors, fp16 less than int8 (half plan, teacher-forced text)', async () => {
    const text = 'The edge and the cloud share one model: each runs some heads of every layer and some slices of every feed-forward block, and only the residual stream crosses the network between them.';
    const ids = edge.tokenizer!.encode(text).slice(0, 32);
    const logitsAt = async (p: WirePrecision): Promise<Float32Array[]> => {
      edge.link.precision = p;
      await edge.edge.reset(halfPlan(edge.graph));
      const out: Float32Array[] = [];
      for (const id of ids) out.push(await edge.edge.forward([id]));
      return out;
    };
    const exact = await logitsAt('fp32');
    const figures: Record<string, { maxAbs: number; kl: number }> = {};
    for (const p of ['fp16', 'int8'] as const) {
      const got = await logitsAt(p);
      figures[p] = { maxAbs: Math.max(...got.map((l, i) => maxAbsDiff(l, exact[i]!))), kl: got.reduce((a, l, i) => a + klFromLogits(exact[i]!, l), 0) / got.length };
    }
    edge.link.precision = 'fp32';
    console.log(`wire precision error vs fp32 over ${ids.length} positions (tiny, half plan): ${JSON.stringify(figures)}`);
    for (const f of Object.values(figures)) {
      expect(Number.isFinite(f.maxAbs) && Number.isFinite(f.kl)).toBe(true);
      expect(f.maxAbs).toBeGreaterThan(0); // the precision really was applied
      expect(f.kl).toBeGreaterThanOrEqual(0);
    }
    expect(figures.fp16!.maxAbs).toBeLessThan(1e-2);
    expect(figures.fp16!.maxAbs).toBeLessThan(figures.int8!.maxAbs);
    expect(figures.fp16!.kl).toBeLessThan(figures.int8!.kl);
    expect(figures.int8!.kl).toBeLessThan(1e-2);
  });
});

describe('splitwise client (the CLI, in its own process)', () => {
  it('generates the server\'s reference tokens and reports its stats', async () => {
    const prompt = 'Hello world';
    const run = promisify(execFile);
    const { stdout, stderr } = await run('npx', ['tsx', 'packages/cli/src/main.ts', 'client', '--server', server.url, '--prompt', prompt, '--plan', 'half', '--max-new-tokens', '6', '--threads', '1'], { cwd: join(import.meta.dirname, '..') });
    const ref = (await (await fetch(`${server.url}/api/reference/text?prompt=${encodeURIComponent(prompt)}&n=6`)).json()) as { text: string };
    expect(stdout.trim()).toBe(prompt + ref.text);
    const stats = JSON.parse(stderr.split('\n').filter((l) => l.startsWith('{')).at(-1)!) as Record<string, number>;
    expect(stats.newTokens).toBe(6);
    expect(stats.bytesUpPerToken).toBeGreaterThan(0);
    expect(stats.decodeMsMedian).toBeGreaterThan(0);
  });
});

