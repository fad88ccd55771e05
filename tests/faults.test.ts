// Nothing lost, with real processes on loopback: cloud workers SIGKILLed mid-answer, the network
// cut and stalled by NetemProxy, and a failover from one server to another. Every answer completes
// and equals, token for token, the server's own uninterrupted greedy run (/api/reference, the
// monolithic graph). The edge is the headless client's: SocketLink + onnxruntime-node +
// RecoveringEdge (exponential backoff with jitter, reconnect, rebuild from the partition checkpoint).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildModelGraph,
  generate,
  randomPlan,
  SplitSessions,
  syncPointsPerForward,
  halfPlan,
  cloudOnlyPlan,
  type CloudReply,
  type CloudRequest,
  type Fallback,
  type PartitionPlan,
  type RecoveryEvent,
  type BackoffOptions,
} from '@splitwise/core';
import { loadGpt2FromDir, makeModel, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { NetemProxy, type Schedule } from '@splitwise/netem';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { getJson, killPid, pct, pidOf, referenceTokens, sleep, spawnServer, type ServerProcess } from './server-process.ts';

const PROMPT = [464, 5044, 290, 262, 6279];
const NEW_TOKENS = 110; // tiny's context is 128

let root: string, dir: string, ckpt: LoadedGpt2Checkpoint, sessions: SplitSessions;
let reference: number[];
const servers: ServerProcess[] = [];
const edges: RemoteEdge[] = [];
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'splitwise-faults-'));
  dir = join(root, 'tiny');
  await makeModel({ config: 'tiny', seed: 11, outDir: dir });
  ckpt = await loadGpt2FromDir(dir);
  // one set of edge sessions for every edge here: the weights are inputs, the KV caches per edge
  sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
});

afterAll(async () => {
  for (const e of edges) await e.close();
  await Promise.all(servers.map((s) => s.stop()));
  await sessions?.release();
  if (root) await rm(root, { recursive: true, force: true });
  console.log(`fault figures: ${JSON.stringify(figures, null, 1)}`);
});

async function server(args: string[] = []): Promise<ServerProcess> {
  const s = await spawnServer(['--model', dir, '--max-sessions', '64', '--threads', '1', ...args]);
  servers.push(s);
  return s;
}

interface Run {
  edge: RemoteEdge;
  events: RecoveryEvent[];
  /** Called after each cloud request is sent (the request still in flight), with its 1-based index. */
  onSent?: (n: number, req: CloudRequest) => void;
  /** ms from each fault to the next successful cloud reply. */
  recoveries: number[];
  faultAt?: number;
}

async function edgeFor(urls: string[], o: { fallback: Fallback; backoff: BackoffOptions; timeoutMs: number }): Promise<Run> {
  const run: Run = { events: [], recoveries: [] } as unknown as Run;
  run.edge = await connectRemoteEdge({
    server: urls.join(','),
    plan: 'half',
    checkpoint: { ckpt },
    sessions,
    probeEveryMs: 0,
    timeoutMs: o.timeoutMs,
    fallback: o.fallback,
    backoff: o.backoff,
    onRecoveryEvent: (e) => run.events.push(e),
  });
  edges.push(run.edge);
  // count cloud calls, let the test strike while one is in flight, and time each recovery
  const link = run.edge.link, send = link.request.bind(link);
  let n = 0;
  link.request = (req: CloudRequest): Promise<CloudReply> => {
    const p = send(req);
    run.onSent?.(++n, req);
    return p.then((r) => {
      if (run.faultAt !== undefined) {
        run.recoveries.push(performance.now() - run.faultAt);
        run.faultAt = undefined;
      }
      return r;
    });
  };
  return run;
}

async function answer(run: Run, planFor?: (step: number) => PartitionPlan | undefined): Promise<number[]> {
  const out: number[] = [];
  for await (const t of generate(run.edge.recovering, PROMPT, { maxNewTokens: NEW_TOKENS, ...(planFor ? { planFor } : {}) })) out.push(t.id);
  return out;
}

/** Wait until the server answers /api/health (a killed cluster worker restarts in ~2 s). */
async function serving(url: string, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      if ((await getJson<{ ok: boolean }>(`${url}/api/health`, 1000)).ok) return;
    } catch {
      if (Date.now() - t0 > ms) throw new Error(`${url} did not come back in ${ms} ms`);
    }
    await sleep(100);
  }
}

const summary = (xs: number[]): Record<string, number> => ({ n: xs.length, p50: +pct(xs, 0.5).toFixed(1), p90: +pct(xs, 0.9).toFixed(1), max: +Math.max(...xs).toFixed(1) });

describe('faults with real processes on loopback', () => {
  it('20 SIGKILLs of the serving cloud worker (cluster of 2) at random points mid-answer: every answer is the greedy reference', async () => {
    const cluster = await server(['--workers', '2']);
    reference = await referenceTokens(cluster.url, PROMPT, NEW_TOKENS);
    expect(reference).toHaveLength(NEW_TOKENS);
    const graph = buildModelGraph(ckpt.config);
    let seed = 20251124;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const callsPerAnswer = NEW_TOKENS * syncPointsPerForward(halfPlan(graph));
    const recoveries: number[] = [];
    const workersSeen = new Set<string>();
    let kills = 0, answers = 0;
    const byMode: Record<string, { answers: number; kills: number; fallbacks: number; restored: number }> = {};
    // answers alternate between waiting for the cloud and falling back to the edge when retries run
    // out; up to 5 kills each, until 20 (an answer that fell back makes no cloud calls to strike
    // until the cloud is restored, so it may see fewer)
    const plans: Array<((s: number) => PartitionPlan | undefined) | undefined> = [
      undefined,
      (s) => (s === 40 ? cloudOnlyPlan(graph) : s === 80 ? randomPlan(graph, 5) : undefined),
      (s) => (s === 50 ? randomPlan(graph, 9) : undefined),
    ];
    for (let i = 0; kills < 20 && i < 10; i++) {
      const fallback: Fallback = i % 2 === 0 ? 'wait' : 'edge-after-retries';
      await serving(cluster.url); // the last answer's kills may have left no worker up yet
      const run = await edgeFor([cluster.url], {
        fallback,
        // 'wait': up to ~40 retries of <= 400 ms, enough for a worker restart; the other falls back after 3
        backoff: fallback === 'wait' ? { initialMs: 20, maxMs: 400, maxAttempts: 40 } : { initialMs: 20, maxMs: 200, maxAttempts: 3 },
        timeoutMs: 3000,
      });
      workersSeen.add(run.edge.link.worker);
      let killsHere = 0;
      // the next kill comes after a random number of cloud calls
      const gap = (): number => 1 + Math.floor(rnd() * (callsPerAnswer / 6));
      let next = gap();
      run.onSent = (n) => {
        if (killsHere >= 5 || kills >= 20 || n < next) return;
        // the request just sent is in flight: the worker dies before, during or after running it
        if (killPid(pidOf(run.edge.link.worker))) {
          kills++;
          killsHere++;
          run.faultAt = performance.now();
        }
        next = n + gap();
      };
      const tokens = await answer(run, plans[i % plans.length]);
      answers++;
      expect(tokens).toEqual(reference);
      if (killsHere > 0) expect(run.events.some((e) => e.type === 'failure')).toBe(true);
      const m = (byMode[fallback] ??= { answers: 0, kills: 0, fallbacks: 0, restored: 0 });
      m.answers++;
      m.kills += killsHere;
      m.fallbacks += run.events.filter((e) => e.type === 'fallback').length;
      m.restored += run.events.filter((e) => e.type === 'restored').length;
      recoveries.push(...run.recoveries);
      for (const e of run.events) if (e.type === 'reconnected' && e.worker) workersSeen.add(e.worker);
      await run.edge.close();
    }
    expect(kills).toBe(20);
    // the primary restarted the killed workers: it still serves, from other processes than at first
    await serving(cluster.url);
    expect(workersSeen.size).toBeGreaterThan(2);
    figures.kill = { kills, answers, byMode, workersSeen: workersSeen.size, recoveryMs: summary(recoveries) };
  });

  const netemRuns: Array<{ name: string; schedule: Schedule; fallback: Fallback; timeoutMs: number; expectFault: boolean }> = [
    {
      name: 'cut windows (150 ms every 700 ms), 1 ms delay',
      schedule: { phases: [{ at: 0, delayMs: 1 }, { at: 450, cut: true }, { at: 600, cut: false }], loopMs: 700 },
      fallback: 'wait',
      timeoutMs: 2000,
      expectFault: true,
    },
    {
      name: 'stall windows (600 ms every 1.2 s; calls time out after 250 ms), 1 ms delay',
      schedule: { phases: [{ at: 0, delayMs: 1 }, { at: 500, stall: true }, { at: 1100, stall: false }], loopMs: 1200 },
      fallback: 'edge-after-retries',
      timeoutMs: 250,
      expectFault: true,
    },
    {
      name: '5 ms delay, 3 ms jitter, 2 Mbit/s, and a 300 ms cut every 2 s',
      schedule: { phases: [{ at: 0, delayMs: 5, jitterMs: 3, bandwidthBps: 2e6 }, { at: 1500, cut: true }, { at: 1800, cut: false }], loopMs: 2000 },
      fallback: 'edge-after-retries',
      timeoutMs: 2000,
      expectFault: true,
    },
  ];

  describe('network faults through NetemProxy', () => {
    let target: ServerProcess;
    beforeAll(async () => {
      target = await server();
      reference ??= await referenceTokens(target.url, PROMPT, NEW_TOKENS);
    });
    for (const r of netemRuns) {
      it(`${r.name}, fallback ${r.fallback}: the same answer`, async () => {
        const proxy = await NetemProxy.listen({ target: { host: '127.0.0.1', port: target.port } });
        try {
          const run = await edgeFor([proxy.url], { fallback: r.fallback, backoff: { initialMs: 20, maxMs: 300, maxAttempts: r.fallback === 'wait' ? 60 : 3 }, timeoutMs: r.timeoutMs });
          proxy.setSchedule(r.schedule); // the clock starts with the answer
          const t0 = performance.now();
          const tokens = await answer(run);
          const ms = performance.now() - t0;
          expect(tokens).toEqual(reference);
          const failures = run.events.filter((e) => e.type === 'failure').length;
          if (r.expectFault) expect(failures).toBeGreaterThan(0);
          (figures.netem ??= {}) as Record<string, unknown>;
          (figures.netem as Record<string, unknown>)[r.name] = {
            answerMs: Math.round(ms),
            cuts: proxy.stats.cuts,
            connections: proxy.stats.connections,
            failures,
            reconnects: run.edge.link.reconnects,
            fallbacks: run.events.filter((e) => e.type === 'fallback').length,
            restored: run.events.filter((e) => e.type === 'restored').length,
          };
          await run.edge.close();
        } finally {
          await proxy.close();
        }
      });
    }
  });

  it('failover: the first server is SIGKILLed mid-answer; the link moves to the second, the answer is the same', async () => {
    const [a, b] = await Promise.all([server(), server()]);
    const ref = await referenceTokens(b.url, PROMPT, NEW_TOKENS);
    expect(ref).toEqual(reference);
    const run = await edgeFor([a.url, b.url], { fallback: 'wait', backoff: { initialMs: 20, maxMs: 300, maxAttempts: 20 }, timeoutMs: 3000 });
    const first = run.edge.link.worker;
    expect(pidOf(first)).toBe(a.proc.pid);
    run.onSent = (n) => {
      if (n === 60) {
        run.faultAt = performance.now();
        a.proc.kill('SIGKILL');
      }
    };
    const tokens = await answer(run);
    expect(tokens).toEqual(ref);
    expect(run.edge.link.worker).not.toBe(first);
    expect(pidOf(run.edge.link.worker)).toBe(b.proc.pid);
    expect(run.edge.link.url).toBe(b.url);
    expect(run.events.some((e) => e.type === 'reconnected' && e.worker === run.edge.link.worker)).toBe(true);
    figures.failover = { from: first, to: run.edge.link.worker, recoveryMs: run.recoveries.map((x) => +x.toFixed(1)) };
    await run.edge.close();
  });
});

