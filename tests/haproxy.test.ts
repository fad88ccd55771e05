// Scale-out behind a real load balancer: three cloud server processes behind HAProxy running the
// shipped deploy/haproxy.cfg (health checks on /api/health, WebSocket pass-through, polling
// refused), and a headless edge given only the balancer's URL. Mid-answer the backend serving the
// answer is SIGKILLed (twice), or drained and restarted as for an upgrade; the edge reconnects
// through the balancer to another backend, rebuilds it from its partition checkpoint, and the
// tokens equal the undisturbed run's. Skipped, saying so, only where the haproxy binary is missing
// (.ci/run installs Debian's).
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket as TcpSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { buildModelGraph, generate, randomPlan, SplitSessions, type CloudReply, type CloudRequest, type ModelGraph, type PartitionPlan, type RecoveryEvent } from '@splitwise/core';
import { loadGpt2FromDir, makeModel, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { helloFor } from '../apps/server/src/test-support.ts';
import { getJson, pidOf, referenceTokens, sleep, spawnServer, type ServerProcess } from './server-process.ts';
import { haproxyVersion, startHaproxy, type Haproxy } from './haproxy-process.ts';

const VERSION = haproxyVersion();
if (!VERSION) console.warn('tests/haproxy.test.ts SKIPPED: no `haproxy` binary on PATH (apt-get install haproxy; .ci/run installs it)');

const PROMPT = [464, 5044, 290, 262, 6279];
const NEW_TOKENS = 100; // tiny's context is 128

let root: string, dir: string, ckpt: LoadedGpt2Checkpoint, sessions: SplitSessions, graph: ModelGraph;
let lb: Haproxy;
let reference: number[];
/** Backend i is `s${i + 1}` in deploy/haproxy.cfg. */
const backends: ServerProcess[] = [];
const edges: RemoteEdge[] = [];

const serverArgs = (): string[] => ['--model', dir, '--max-sessions', '16', '--threads', '1', '--trust-proxy', '127.0.0.1'];

describe.skipIf(!VERSION)(`behind HAProxy (${VERSION ?? 'missing'}) with deploy/haproxy.cfg`, () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'splitwise-haproxy-'));
    dir = join(root, 'tiny');
    await makeModel({ config: 'tiny', seed: 11, outDir: dir });
    ckpt = await loadGpt2FromDir(dir);
    graph = buildModelGraph(ckpt.config);
    sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
    backends.push(...(await Promise.all([0, 1, 2].map(() => spawnServer(serverArgs())))));
    lb = await startHaproxy({ backends: backends.map((b) => `127.0.0.1:${b.port}`), socket: join(root, 'haproxy.sock') });
    await lb.waitUp(3);
    reference = await referenceTokens(lb.url, PROMPT, NEW_TOKENS);
  });

  afterAll(async () => {
    for (const e of edges) await e.close();
    await lb?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await sessions?.release();
    if (root) await rm(root, { recursive: true, force: true });
  });

  interface Run {
    edge: RemoteEdge;
    events: RecoveryEvent[];
    onSent?: (n: number) => void;
    /** When the last fault struck; the next successful reply closes it into `recoveries` (ms). */
    faultAt?: number;
    recoveries: number[];
    /** While set, the edge's next cloud request waits for it (the test's move comes first). */
    hold?: Promise<void>;
  }

  async function edge(): Promise<Run> {
    const run = { events: [] as RecoveryEvent[], recoveries: [] as number[] } as Run;
    run.edge = await connectRemoteEdge({
      server: lb.url, // one URL: the balancer
      plan: randomPlan(graph, 7), // mixed: heads and FFN chunks of most layers on both sides
      checkpoint: { ckpt },
      sessions,
      probeEveryMs: 0,
      timeoutMs: 3000,
      fallback: 'wait',
      backoff: { initialMs: 20, maxMs: 300, maxAttempts: 30 },
      onRecoveryEvent: (e) => run.events.push(e),
    });
    edges.push(run.edge);
    const link = run.edge.link, send = link.request.bind(link);
    let n = 0;
    link.request = async (req: CloudRequest): Promise<CloudReply> => {
      if (run.hold) await run.hold;
      const p = send(req);
      run.onSent?.(++n); // the request just sent is in flight
      return p.then((r) => {
        if (run.faultAt !== undefined) run.recoveries.push(+(performance.now() - run.faultAt).toFixed(1));
        run.faultAt = undefined;
        return r;
      });
    };
    return run;
  }

  // the plan moves mid-answer too: the rebuild after a fault must follow the plan in force
  const planFor = (step: number): PartitionPlan | undefined => (step === 50 ? randomPlan(graph, 9) : undefined);

  async function answer(run: Run): Promise<number[]> {
    const out: number[] = [];
    for await (const t of generate(run.edge.recovering, PROMPT, { maxNewTokens: NEW_TOKENS, planFor })) out.push(t.id);
    return out;
  }

  /** Which backend serves this edge: the worker id hello reported, checked against that backend's /api/health. */
  async function servingBackend(run: Run): Promise<number> {
    const i = backends.findIndex((b) => b.proc.pid === pidOf(run.edge.link.worker));
    expect(i).toBeGreaterThanOrEqual(0);
    const health = await getJson<{ worker: string; sessions: number }>(`${backends[i]!.url}/api/health`);
    expect(health.worker).toBe(run.edge.link.worker);
    expect(health.sessions).toBeGreaterThanOrEqual(1);
    return i;
  }

  it('passes WebSockets through, refuses polling (it would need stickiness), and the undisturbed answer through it is the reference', async () => {
    const health = await getJson<{ ok: boolean; worker: string }>(`${lb.url}/api/health`);
    expect(health.ok).toBe(true);
    const polling = await fetch(`${lb.url}/socket.io/?EIO=4&transport=polling`);
    expect(polling.status).toBe(403);
    await polling.arrayBuffer();
    // a plain socket.io client over WebSocket gets through
    const s = io(lb.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => (s.once('connect', resolve), s.once('connect_error', reject)));
    s.disconnect();

    const run = await edge();
    expect(await answer(run)).toEqual(reference);
    expect(run.events.filter((e) => e.type === 'failure')).toEqual([]);
    await run.edge.close();
  });

  it('per client address: the backends see the client (X-Forwarded-For from the trusted balancer), and HAProxy caps connections per source address', async () => {
    // a socket.io client from its own loopback address, through the balancer
    const from = '127.0.0.9';
    const s = io(lb.url, { transports: ['websocket'], reconnection: false, forceNew: true, localAddress: from } as Parameters<typeof io>[1]);
    await new Promise<void>((resolve, reject) => (s.once('connect', () => resolve()), s.once('connect_error', reject)));
    const hello = await s.timeout(5000).emitWithAck('hello', helloFor(graph));
    expect(hello.ok).toBe(true);
    const serving = backends.find((b) => b.proc.pid === pidOf(hello.worker))!;
    const stats = await getJson<{ sessions: Array<{ session: string; remote: string }> }>(`${serving.url}/api/stats`);
    expect(stats.sessions.find((x) => x.session === hello.session)?.remote).toBe(from);
    s.disconnect();

    // deploy/haproxy.cfg: more than SPLITWISE_MAX_CONN_PER_ADDRESS (32 here) at once from one address are refused
    // (one at a time, so the count is exact; a refused one is reset, at connect or just after)
    const socks: TcpSocket[] = [];
    for (let i = 0; i < 36; i++) {
      const k = connect({ host: '127.0.0.1', port: lb.port, localAddress: '127.0.0.10' });
      k.on('error', () => undefined);
      socks.push(k);
      await new Promise((r) => (k.once('connect', r), k.once('close', r)));
    }
    await sleep(300);
    const open = socks.filter((k) => !k.destroyed && k.readyState === 'open');
    expect(open.length).toBe(32);
    socks.forEach((k) => k.destroy());
    // another address is unaffected meanwhile
    expect((await getJson<{ ok: boolean }>(`${lb.url}/api/health`)).ok).toBe(true);
  });

  it('draining the serving backend for an upgrade: no new connections reach it, it is stopped and restarted mid-answer, the answer is unchanged', async () => {
    const run = await edge();
    const first = await servingBackend(run);
    const name = `s${first + 1}`;
    const drainedPid = backends[first]!.proc.pid;
    let upgraded: Promise<void> | undefined;
    run.onSent = (n) => {
      if (n !== 40 || upgraded) return;
      let release = (): void => undefined;
      run.hold = new Promise<void>((r) => (release = r));
      const unhold = (): void => {
        run.hold = undefined;
        release();
      };
      upgraded = (async () => {
        try {
          expect(await lb.admin(`set server splitwise/${name} state drain`)).toBe('\n');
          expect((await lb.servers()).find((s) => s.name === name)!.status).toBe('DRAIN');
          // new edges go elsewhere while it drains
          for (let k = 0; k < 3; k++) {
            const other = await getJson<{ worker: string }>(`${lb.url}/api/health`);
            expect(other.worker).not.toBe(run.edge.link.worker);
          }
          // the upgrade: SIGTERM (its sessions' sockets close; the edge reconnects through the
          // balancer and rebuilds), a new process on the same port, back in rotation
          const port = backends[first]!.port;
          run.faultAt = performance.now();
          const stopped = backends[first]!.stop(); // SIGTERM sent now
          unhold(); // the answer goes on while the backend goes
          await stopped;
          backends[first] = await spawnServer([...serverArgs(), '--port', String(port)]);
          expect(await lb.admin(`set server splitwise/${name} state ready`)).toBe('\n');
        } finally {
          unhold(); // a failed check above must not leave the answer waiting
        }
      })();
    };
    const tokens = await answer(run);
    await upgraded;
    expect(tokens).toEqual(reference);
    expect(run.events.some((e) => e.type === 'failure')).toBe(true);
    expect(run.events.some((e) => e.type === 'reconnected')).toBe(true);
    expect(pidOf(run.edge.link.worker)).not.toBe(drainedPid);
    console.log(`haproxy drain+restart: recovery ${JSON.stringify(run.recoveries)} ms`);
    await lb.waitUp(3);
    await run.edge.close();
  });

  it('SIGKILL of the backend serving the answer, twice mid-answer: the edge reconnects through the balancer to another backend and the tokens equal the undisturbed run', async () => {
    const run = await edge();
    const served: number[] = [await servingBackend(run)];
    const killedAt: number[] = [];
    let striking: Promise<void> = Promise.resolve();
    run.onSent = (n) => {
      if (n !== 30 && n !== 120) return;
      striking = striking.then(async () => {
        const i = backends.findIndex((b) => b.proc.pid === pidOf(run.edge.link.worker));
        if (i < 0 || killedAt.includes(i)) return;
        killedAt.push(i);
        run.faultAt = performance.now();
        await backends[i]!.kill();
      });
    };
    const tokens = await answer(run);
    await striking;
    expect(killedAt).toHaveLength(2);
    expect(tokens).toEqual(reference);
    // it ended on the one backend never killed, having been rebuilt there from the checkpoint
    const last = await servingBackend(run);
    served.push(last);
    expect(killedAt).not.toContain(last);
    expect(run.events.filter((e) => e.type === 'reconnected').length).toBeGreaterThanOrEqual(2);
    console.log(`haproxy SIGKILL x2: recovery (kill -> next cloud reply) ${JSON.stringify(run.recoveries)} ms`);
    // the balancer marked the dead ones down by its health checks
    await expect.poll(async () => (await lb.servers()).filter((s) => s.status.startsWith('DOWN')).length, { timeout: 10_000 }).toBe(2);
    await run.edge.close();
  });
});
