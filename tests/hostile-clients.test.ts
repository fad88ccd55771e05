// Hostile clients beyond the fuzzer (scripts/fuzz.ts sends bad messages; these misuse the
// transport itself): slow-loris headers and bodies, oversized request targets and headers, too
// many connections and sessions from one address, brute-forcing the access token, and a socket.io
// client that sends requests but never reads its answers. During each attack a well-behaved edge
// on the same server keeps generating, and its answer must equal the reference; /api/health must
// keep answering. Attackers come from their own loopback addresses (127.0.0.2, ...: all of
// 127.0.0.0/8 is this host), or from addresses named in X-Forwarded-For by a trusted proxy.
import { connect, type Socket as TcpSocket } from 'node:net';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { buildModelGraph, cloudOnlyPlan, generate, SplitSessions, type ModelGraph } from '@splitwise/core';
import { loadGpt2FromDir, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { attachmentsFor, wireParser } from '@splitwise/link-socketio/parser';
import { createCloudServer, type CloudServer } from '@splitwise/server';
import { helloFor, segment, tinyModelDir, TINY } from '../apps/server/src/test-support.ts';
import { referenceTokens, sleep } from './server-process.ts';

const TOKEN = 'correct horse battery staple';
const PROMPT = [464, 5044, 290, 262, 6279];
const NEW_TOKENS = 40;
const LIMITS = {
  headersTimeoutMs: 1000,
  requestTimeoutMs: 2000,
  maxHeaderBytes: 8192,
  maxUrlBytes: 2048,
  maxConnectionsPerAddress: 6,
  maxSessionsPerAddress: 2,
  maxAuthFailures: 5,
  maxOutgoingBytes: 1024 * 1024,
};

let model: Awaited<ReturnType<typeof tinyModelDir>>;
let server: CloudServer;
let ckpt: LoadedGpt2Checkpoint, graph: ModelGraph, sessions: SplitSessions;
let edge: RemoteEdge;
let reference: number[];
let host: string, port: number;
const cleanup: Array<() => void> = [];

beforeAll(async () => {
  model = await tinyModelDir(21);
  server = await createCloudServer({
    modelDir: model.dir,
    port: 0,
    threads: 1,
    token: TOKEN,
    maxSessions: 16,
    maxRequestsPerSecond: 20_000,
    // 127.0.0.1 is the trusted proxy: its X-Forwarded-For names the client. Nothing is exempt
    trustProxy: ['127.0.0.1'],
    perAddressExempt: [],
    logLevel: 'silent',
    ...LIMITS,
  });
  ({ hostname: host, port } = new URL(server.url) as unknown as { hostname: string; port: number });
  port = Number(port);
  ckpt = await loadGpt2FromDir(model.dir);
  graph = buildModelGraph(ckpt.config);
  sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
  edge = await connectRemoteEdge({ server: server.url, token: TOKEN, plan: 'half', checkpoint: { ckpt }, sessions, probeEveryMs: 0, fallback: 'wait' });
  reference = await referenceTokens(server.url, PROMPT, NEW_TOKENS);
});

afterAll(async () => {
  for (const f of cleanup) f();
  await edge?.close();
  await server?.close();
  await sessions?.release();
  await model?.cleanup();
});

/** The well-behaved client: an answer through the edge (compared by the caller) and a health check. */
async function bystander(): Promise<{ tokens: number[]; healthMs: number }> {
  const tokens: number[] = [];
  for await (const t of generate(edge.recovering, PROMPT, { maxNewTokens: NEW_TOKENS })) tokens.push(t.id);
  const t0 = performance.now();
  const r = await fetch(`${server.url}/api/health`, { signal: AbortSignal.timeout(2000) });
  expect(r.status).toBe(200);
  await r.json();
  return { tokens, healthMs: performance.now() - t0 };
}

/** While `attack` runs, the bystander keeps getting the reference answer (several answers in a row). */
async function withBystander<T>(attack: () => Promise<T>): Promise<T> {
  let done = false;
  const watcher = (async () => {
    let answers = 0;
    while (!done || answers === 0) {
      const b = await bystander();
      expect(b.tokens).toEqual(reference);
      expect(b.healthMs).toBeLessThan(3000); // generous: the CI machine's cores are shared
      answers++;
    }
    return answers;
  })();
  try {
    return await attack();
  } finally {
    done = true;
    expect(await watcher).toBeGreaterThan(0);
  }
}

/** A raw TCP connection from a given loopback address. */
function tcp(localAddress: string): Promise<TcpSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, localAddress }, () => resolve(s));
    s.once('error', reject);
    cleanup.push(() => s.destroy());
  });
}

/** Resolves when the server closes `s`, with what it sent first and how long it took. */
function closedByServer(s: TcpSocket): Promise<{ ms: number; data: string }> {
  const t0 = performance.now();
  let data = '';
  s.on('data', (d: Buffer) => (data += d.toString()));
  s.on('error', () => undefined);
  return new Promise((r) => s.once('close', () => r({ ms: performance.now() - t0, data })));
}

/** A raw HTTP GET from `localAddress` with a given target and headers. */
function rawGet(path: string, headers: Record<string, string> = {}, localAddress = '127.0.0.5'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, headers, localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A socket.io client; `from` is the address the trusted proxy (127.0.0.1) forwards for it. */
function sio(from: string): Promise<Socket> {
  const s = io(server.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { 'x-forwarded-for': from },
    parser: wireParser({ maxAttachments: attachmentsFor(TINY.nLayer), maxMessageBytes: Infinity }),
  });
  cleanup.push(() => s.disconnect());
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}
const ask = <T = any>(s: Socket, event: string, ...args: unknown[]): Promise<T> => s.timeout(5000).emitWithAck(event, ...args);

describe('hostile clients: the server keeps serving a well-behaved edge exactly', () => {
  it('the bystander alone: the reference answer', async () => {
    expect((await bystander()).tokens).toEqual(reference);
  });

  it('slow-loris headers: connections that trickle headers are answered 408 and closed after headersTimeout', async () => {
    const results = await withBystander(async () => {
      const socks = await Promise.all(Array.from({ length: 5 }, () => tcp('127.0.0.2')));
      const closes = socks.map(closedByServer);
      // one header line every 200 ms, never the blank line that ends them
      const drip = setInterval(() => socks.forEach((s, i) => s.writable && s.write(`X-Drip-${i}: ${Date.now()}\r\n`)), 200);
      socks.forEach((s) => s.write('GET /api/health HTTP/1.1\r\nHost: x\r\n'));
      try {
        return await Promise.all(closes);
      } finally {
        clearInterval(drip);
      }
    });
    for (const r of results) {
      expect(r.data).toMatch(/^HTTP\/1\.1 408/);
      expect(r.ms).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 50);
      expect(r.ms).toBeLessThan(LIMITS.headersTimeoutMs + 3000); // Node checks every 250 ms here; slack for a loaded machine
    }
    expect(server.stats().totals.errors.too_many_connections_per_address ?? 0).toBe(0);
  });

  it('slow-loris bodies: a request whose body trickles is cut off after requestTimeout', async () => {
    const results = await withBystander(async () => {
      const socks = await Promise.all(Array.from({ length: 4 }, () => tcp('127.0.0.3')));
      const closes = socks.map(closedByServer);
      socks.forEach((s) => s.write('POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n'));
      const drip = setInterval(() => socks.forEach((s) => s.writable && s.write('x')), 100);
      try {
        return await Promise.all(closes);
      } finally {
        clearInterval(drip);
      }
    });
    for (const r of results) {
      // answered at once (there is no such POST route), then cut off when the body has not arrived in time
      expect(r.data).toMatch(/^HTTP\/1\.1 404/);
      expect(r.ms).toBeGreaterThanOrEqual(LIMITS.requestTimeoutMs - 50);
      expect(r.ms).toBeLessThan(LIMITS.requestTimeoutMs + 3000);
    }
  });

  it('oversized request targets (414) and headers (431): refused, and the server answers the next request', async () => {
    await withBystander(async () => {
      const long = `/api/health?pad=${'a'.repeat(LIMITS.maxUrlBytes)}`;
      const r414 = await rawGet(long);
      expect(r414.status).toBe(414);
      expect(JSON.parse(r414.body).error.code).toBe('too_large');
      // a target over the header limit, or headers over it: Node's parser answers 431
      expect((await rawGet(`/api/health?pad=${'a'.repeat(LIMITS.maxHeaderBytes)}`)).status).toBe(431);
      expect((await rawGet('/api/health', { 'x-big': 'b'.repeat(LIMITS.maxHeaderBytes) })).status).toBe(431);
      const many: Record<string, string> = {};
      for (let i = 0; i < 400; i++) many[`x-h${i}`] = 'v'.repeat(20);
      expect((await rawGet('/api/health', many)).status).toBe(431);
      // the socket.io handshake too (its own handler, ahead of express): refused at the upgrade
      const s = io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true, query: { pad: 'a'.repeat(LIMITS.maxUrlBytes) } });
      cleanup.push(() => s.disconnect());
      await expect(new Promise<void>((resolve, reject) => (s.once('connect', () => resolve()), s.once('connect_error', reject)))).rejects.toThrow();
      // and the next request from the same address is answered
      expect((await rawGet('/api/health')).status).toBe(200);
    });
    expect(server.stats().totals.errors.uri_too_long).toBeGreaterThanOrEqual(2);
  });

  it('connections per address: TCP past the cap is dropped, socket.io past it refused, sessions past theirs are busy', async () => {
    await withBystander(async () => {
      // raw TCP from one address: the first 6 stay, the rest are closed at once
      const socks = await Promise.all(Array.from({ length: 10 }, () => tcp('127.0.0.4')));
      const closed = socks.map((s) => closedByServer(s).then(() => true));
      await sleep(300);
      const open = socks.filter((s) => !s.destroyed && s.readyState === 'open');
      expect(open.length).toBe(LIMITS.maxConnectionsPerAddress);
      socks.forEach((s) => s.destroy());
      await Promise.all(closed);

      // socket.io behind the trusted proxy: counted by the forwarded address
      const from = '198.51.100.7';
      const clients: Socket[] = [];
      for (let i = 0; i < LIMITS.maxConnectionsPerAddress; i++) clients.push(await sio(from));
      await expect(sio(from)).rejects.toThrow();
      // another client address through the same proxy is unaffected
      const other = await sio('198.51.100.8');
      expect((await ask(other, 'hello', helloFor(graph, { token: TOKEN }))).ok).toBe(true);
      // sessions: 2 per address, the third is busy
      const hellos = await Promise.all(clients.slice(0, 3).map((c) => ask(c, 'hello', helloFor(graph, { token: TOKEN }))));
      expect(hellos.filter((h) => h.ok)).toHaveLength(LIMITS.maxSessionsPerAddress);
      const refused = hellos.find((h) => !h.ok);
      expect(refused.error.code).toBe('busy');
      expect(refused.error.message).toMatch(/limit per address/);
      for (const c of [...clients, other]) c.disconnect();
      // a freed slot is usable again
      await sleep(200);
      const again = await sio(from);
      expect((await ask(again, 'hello', helloFor(graph, { token: TOKEN }))).ok).toBe(true);
      again.disconnect();
    });
    expect(server.stats().totals.errors.too_many_connections_per_address).toBeGreaterThan(0);
    expect(server.stats().totals.errors.too_many_sessions_per_address).toBeGreaterThan(0);
  });

  it('brute-forcing the access token: after 5 wrong tokens the address is refused (rate_limited, with a retry time), even with the right one; others are not', async () => {
    await withBystander(async () => {
      const from = '203.0.113.5';
      const codes: string[] = [];
      for (let i = 0; i < 8; i++) {
        const s = await sio(from); // a fresh connection each time: the count is per address, not per socket
        const r = await ask(s, 'hello', helloFor(graph, { token: `guess-${i}` }));
        codes.push(r.ok ? 'ok' : r.error.code);
        s.disconnect();
      }
      expect(codes).toEqual([...Array(5).fill('unauthorized'), ...Array(3).fill('rate_limited')]);
      const s = await sio(from);
      const right = await ask(s, 'hello', helloFor(graph, { token: TOKEN }));
      expect(right.ok).toBe(false);
      expect(right.error.code).toBe('rate_limited');
      expect(right.error.message).toMatch(/too many failed access-token attempts .* try again in \d+ s/);
      s.disconnect();
      const elsewhere = await sio('203.0.113.6');
      expect((await ask(elsewhere, 'hello', helloFor(graph, { token: TOKEN }))).ok).toBe(true);
      elsewhere.disconnect();
    });
  });

  it('a client that sends requests but never reads its answers is disconnected once maxOutgoingBytes are queued for it', async () => {
    const before = server.stats().totals.errors.slow_reader ?? 0;
    const outcome = await withBystander(async () => {
      const s = await sio('192.0.2.44');
      const hello = await ask(s, 'hello', helloFor(graph, { token: TOKEN }));
      expect(hello.ok).toBe(true);
      const session = hello.session as string;
      // stop reading: the client's kernel buffer fills, then the server's, then the server's heap
      const tcpSock = (s.io.engine.transport as unknown as { ws: { _socket: TcpSocket } }).ws._socket;
      tcpSock.pause();
      let seq = 0, sent = 0;
      const disconnected = new Promise<void>((r) => s.once('disconnect', () => r()));
      let gone = false;
      void disconnected.then(() => (gone = true));
      const t0 = performance.now();
      // bounded: at most 40 rounds of a cloud-only reset and a 128-position prefill (~100 KB of answer each)
      for (let round = 0; round < 40 && !gone; round++) {
        for (let k = 0; k < 10; k++) {
          s.emit('cloud', { session, type: 'reset', plan: cloudOnlyPlan(graph) }, () => undefined);
          s.emit('cloud', segment(session, { seq: ++seq, start: 0, count: TINY.nPositions, from: 0, to: 2 * TINY.nLayer - 1 }), () => undefined);
          sent += 2;
        }
        await sleep(100);
        // the server's socket closes; the paused client sees it once it reads again
        if ((server.stats().totals.errors.slow_reader ?? 0) > before) break;
      }
      const ms = performance.now() - t0;
      tcpSock.resume();
      await Promise.race([disconnected, sleep(5000)]);
      return { sent, ms, gone };
    });
    expect(server.stats().totals.errors.slow_reader).toBe(before + 1);
    expect(outcome.gone).toBe(true);
    // its session was freed with the socket
    expect(server.stats().sessions.find((x) => x.remote === '192.0.2.44')).toBeUndefined();
    console.log(`non-reader: ${JSON.stringify(outcome)}`);
  });
});
