// The server reports its load in every probe's reply (issue 10: one cloud serves many edges, and
// the policy prices a contended cloud): while one edge generates, another edge's link hears that
// others keep the cloud busy, the generating edge hears that nobody else does, and once it stops the
// figure falls back to 0. A link to a server that sends no report (an older one) keeps none. The
// report also says how much each request of the others slows the asking session's: 1 when its
// calls run on their own; when they share the batcher's runs, what an extra row costs a run plus
// each step's share of the prompts, which run alone. And the share of the others' load held by
// sessions that said (in a probe) that they price congestion, which the page's toll is in proportion to.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '@splitwise/core';
import { makeModel } from '@splitwise/checkpoint/node';
import { connectRemoteEdge } from '@splitwise/cli/remote-edge';
import { createCloudServer, type CloudServer } from '@splitwise/server';

let tmp: string, server: CloudServer;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitwise-load-'));
  await makeModel({ config: 'tiny', seed: 5, outDir: join(tmp, 'm') });
  server = await createCloudServer({ modelDir: join(tmp, 'm'), port: 0, logLevel: 'silent' });
});
afterAll(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('the cloud load a probe reports', () => {
  it('others busy while another edge generates, nobody else for the generating edge, 0 once it stops', async () => {
    const busy = await connectRemoteEdge({ server: server.url, plan: 'cloud', probeEveryMs: 0, threads: 1 });
    const idle = await connectRemoteEdge({ server: server.url, plan: 'edge', probeEveryMs: 0, threads: 1 });
    try {
      await idle.link.probe();
      const { others: before, samples: n0 } = idle.link.cloudLoad.snapshot(); // the sessions' setup only (connect probes once too)
      expect(before).toBeLessThan(0.05);
      // generate on `busy` for about 1.5 s, probing `idle` meanwhile
      const t0 = performance.now();
      let tokens = 0;
      while (performance.now() - t0 < 1500) {
        for await (const _ of generate(busy.recovering, [1, 2, 3], { maxNewTokens: 8 })) tokens++;
      }
      expect(tokens).toBeGreaterThan(0);
      await idle.link.probe();
      await busy.link.probe();
      const seenByIdle = idle.link.cloudLoad.snapshot(), seenByBusy = busy.link.cloudLoad.snapshot();
      expect(seenByIdle.samples).toBe(n0 + 1);
      expect(seenByIdle.others).toBeGreaterThan(0.02); // 0.09 here: the tiny model's cloud share is a small part of each token
      expect(seenByIdle.sessions).toBeGreaterThanOrEqual(1);
      expect(seenByBusy.others).toBeLessThan(0.01); // its own requests are not "others" (the idle edge's setup is)
      expect(seenByBusy.all).toBeCloseTo(seenByIdle.all, 1);
      expect(seenByIdle.recentOthers.slice(-2)).toEqual([before, seenByIdle.others]);
      // the server batches by default, and says so (the page then prices no congestion toll)
      expect(seenByIdle.batching).toBe(true);
      // ...except for a session whose cloud runs at quantized weights: the batcher's graphs take fp32
      const quantized = await connectRemoteEdge({ server: server.url, plan: 'edge', probeEveryMs: 0, threads: 1, weights: 'fp32', cloudWeights: 'int8' });
      try {
        await quantized.link.probe();
        expect(quantized.link.cloudLoad.snapshot().batching).toBe(false);
      } finally {
        await quantized.close();
      }
      // one other session holds at most one request at a time: its mean count is its busy share
      expect(seenByIdle.concurrency).toBeCloseTo(seenByIdle.others, 6);
      // GET /api/stats reports the same figure for nobody in particular
      const stats = (await (await fetch(`${server.url}/api/stats`)).json()) as { load: { all: number; others: number; windowMs: number } };
      expect(stats.load.windowMs).toBe(5000);
      expect(stats.load.others).toBe(stats.load.all);
      expect(stats.load.all).toBeGreaterThanOrEqual(seenByIdle.others);
      console.log(`cloud load while one edge generates: others ${seenByIdle.others.toFixed(3)} (seen by the idle edge), ${seenByBusy.others.toFixed(4)} (by the busy one), all ${stats.load.all.toFixed(3)}`);
      // the server's window is 5 s: after it, nothing is in hand any more
      await new Promise((r) => setTimeout(r, 5200));
      await idle.link.probe();
      expect(idle.link.cloudLoad.snapshot().others).toBe(0);
    } finally {
      await busy.close();
      await idle.close();
    }
  }, 60_000);

  it('a batched session hears how much each other request slows it, from the batcher\'s run times; calls run on their own hear 1', async () => {
    const edges = await Promise.all([0, 1, 2, 3].map(() => connectRemoteEdge({ server: server.url, plan: 'cloud', probeEveryMs: 0, threads: 1 })));
    const quantized = await connectRemoteEdge({ server: server.url, plan: 'edge', probeEveryMs: 0, threads: 1, weights: 'fp32', cloudWeights: 'int8' });
    try {
      // four edges decode at once for about 1.5 s: their one-row steps share the batcher's runs
      await Promise.all(edges.map(async (e, i) => {
        const t0 = performance.now();
        while (performance.now() - t0 < 1500) for await (const _ of generate(e.recovering, [1, 2, 3 + i], { maxNewTokens: 8 })) void _;
      }));
      const batcher = server.stats().batching!.default!;
      expect(batcher.meanBatch).toBeGreaterThan(1);
      // each extra row costs a run less than a run of one row: a batch of B rows costs less than B lone runs
      expect(batcher.rowCost).toBeGreaterThanOrEqual(0);
      expect(batcher.rowCost).toBeLessThan(1);
      // the factor a batched session hears: that, plus each step's share of the prompts (run alone), at most 1
      expect(batcher.promptShare).toBeGreaterThan(0);
      expect(batcher.contention).toBeCloseTo(Math.min(1, batcher.rowCost! + batcher.promptShare!), 9);
      await edges[0]!.link.probe();
      const seen = edges[0]!.link.cloudLoad.snapshot();
      expect(seen.batching).toBe(true);
      expect(seen.contention).toBeGreaterThanOrEqual(batcher.rowCost! - 0.05);
      expect(seen.contention).toBeLessThanOrEqual(1);
      console.log(`4 edges decoding at once on a batching server: mean batch ${batcher.meanBatch.toFixed(2)}, each extra row ${batcher.rowCost!.toFixed(3)} of a lone run, prompts ${batcher.promptShare!.toFixed(3)} a step, L ${seen.concurrency.toFixed(2)}, contention ${seen.contention!.toFixed(3)}`);
      // a session at quantized cloud weights is not batched: its calls take turns with the others', 1
      await quantized.link.probe();
      expect(quantized.link.cloudLoad.snapshot().contention).toBe(1);
      // a later report without the figure (no batch in the window) keeps the last one for the history
      await new Promise((r) => setTimeout(r, 5200));
      await edges[0]!.link.probe();
      const after = edges[0]!.link.cloudLoad.snapshot();
      expect(server.stats().batching!.default!.rowCost).toBeUndefined();
      expect(after.concurrency).toBe(0);
      expect(after.contention).toBe(seen.contention);
    } finally {
      await Promise.all([...edges, quantized].map((e) => e.close()));
    }
  }, 60_000);

  it('a server that does not batch says so in each session\'s report, and the link keeps it', async () => {
    const serial = await createCloudServer({ modelDir: join(tmp, 'm'), port: 0, logLevel: 'silent', batching: false });
    const edge = await connectRemoteEdge({ server: serial.url, plan: 'edge', probeEveryMs: 0, threads: 1 });
    try {
      await edge.link.probe();
      expect(edge.link.cloudLoad.snapshot().batching).toBe(false);
      // its calls take turns with the others': each request they hold slows this one's by one more
      expect(edge.link.cloudLoad.snapshot().contention).toBe(1);
      // a report for no session in particular (GET /api/stats) names no model, so it says nothing of batching
      const stats = (await (await fetch(`${serial.url}/api/stats`)).json()) as { load: Record<string, unknown> };
      expect(stats.load.batching).toBeUndefined();
    } finally {
      await edge.close();
      await serial.close();
    }
  }, 60_000);

  it('reports the share of the others\' load held by sessions that said they price congestion, as they say it', async () => {
    const serial = await createCloudServer({ modelDir: join(tmp, 'm'), port: 0, logLevel: 'silent', batching: false });
    const busy = await connectRemoteEdge({ server: serial.url, plan: 'cloud', probeEveryMs: 0, threads: 1 });
    const watcher = await connectRemoteEdge({ server: serial.url, plan: 'edge', probeEveryMs: 0, threads: 1 });
    const generateFor = async (ms: number): Promise<void> => {
      const t0 = performance.now();
      while (performance.now() - t0 < ms) for await (const _ of generate(busy.recovering, [1, 2, 3], { maxNewTokens: 8 })) void _;
    };
    try {
      busy.link.pricesCongestion = true;
      await busy.link.probe(); // the server hears it with the probe
      await generateFor(1000);
      await watcher.link.probe();
      let seen = watcher.link.cloudLoad.snapshot();
      expect(seen.concurrency).toBeGreaterThan(0);
      expect(seen.pricingShare).toBeGreaterThan(0.99); // the setup before it said so is a sliver of the window
      // it stops saying so: once the window has passed, its requests count as not priced
      busy.link.pricesCongestion = false;
      await busy.link.probe();
      await new Promise((r) => setTimeout(r, 5200));
      await generateFor(1000);
      await watcher.link.probe();
      seen = watcher.link.cloudLoad.snapshot();
      expect(seen.concurrency).toBeGreaterThan(0);
      expect(seen.pricingShare).toBe(0);
      // a probe that says it in a form the protocol does not know is refused, and the session keeps serving
      const reply = (await (watcher.link as unknown as { conn: { socket: { emitWithAck: (e: string, m: unknown) => Promise<{ type: string; error?: { code: string } }> } } }).conn.socket.emitWithAck('probe', { t: 1, pricing: 'yes' }));
      expect(reply.type).toBe('error');
      expect(reply.error!.code).toBe('malformed');
      await watcher.link.probe();
    } finally {
      await busy.close();
      await watcher.close();
      await serial.close();
    }
  }, 60_000);
});
