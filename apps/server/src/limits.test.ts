// What one client can make the server hold: a session's KV caches stop at the model's context
// (a reset that would rebuild more positions is refused too), the bytes of requests queued on one
// connection are capped, and so is the number of connections (sessions or not) at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { cloudOnlyPlan } from '@splitwise/core';
import { encodeRows } from '@splitwise/protocol';
import { createCloudServer, type CloudServer } from './index.ts';
import { ask, helloClient, rawClient, segment, TINY, tinyGraph, tinyModelDir, until } from './test-support.ts';

const graph = tinyGraph();
const E = TINY.nEmbd, LAST_BLOCK = 2 * TINY.nLayer - 1;
let model: Awaited<ReturnType<typeof tinyModelDir>>;
let server: CloudServer;
const sockets: Socket[] = [];

beforeAll(async () => {
  model = await tinyModelDir(5);
  server = await createCloudServer({ modelDir: model.dir, port: 0, maxSessions: 4, maxConnections: 6, maxMessageBytes: 256 * 1024, maxQueuedBytes: 64 * 1024, logLevel: 'silent' });
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await server?.close();
  await model?.cleanup();
});

const code = (r: { error?: { code: string } }): string | undefined => r.error?.code;

describe('memory limits per connection and in total', () => {
  it("a session's KV caches are bounded by the context: at most 2 x layers x n_positions x n_embd x 4 bytes", async () => {
    const { s, session } = await helloClient(server.url, graph);
    sockets.push(s);
    expect((await ask(s, 'cloud', { session, type: 'reset', plan: cloudOnlyPlan(graph) })).type).toBe('ok');
    // fill the whole context in 4 prefills of 32 positions
    for (let i = 0; i < 4; i++) expect((await ask(s, 'cloud', segment(session, { seq: i + 1, start: 32 * i, count: 32, from: 0, to: LAST_BLOCK }))).type).toBe('segment');
    const full = 2 * TINY.nLayer * TINY.nPositions * E * 4;
    const kv = (): number => server.stats().sessions.find((x) => x.session === session)!.kvBytes;
    expect(kv()).toBe(full);
    expect(code(await ask(s, 'cloud', segment(session, { seq: 5, start: TINY.nPositions, count: 1, from: 0, to: LAST_BLOCK })))).toBe('too_large');
    // a reset that would rebuild past the context is refused before anything is allocated
    const length = TINY.nPositions + 1;
    const rebuild = [{ layer: 0, x: encodeRows(new Float32Array(length * E), E, 'fp32') }];
    expect(code(await ask(s, 'cloud', { session, type: 'reset', plan: cloudOnlyPlan(graph), length, rebuild }))).toBe('too_large');
    expect(kv()).toBe(full);
    s.disconnect();
  });

  it('the bytes of requests queued on one connection are capped (rate_limited), and released as they finish', async () => {
    const { s, session } = await helloClient(server.url, graph);
    sockets.push(s);
    await ask(s, 'cloud', { session, type: 'reset', plan: cloudOnlyPlan(graph) });
    // 80 KiB: under maxMessageBytes (256 KiB), over what may be queued (64 KiB)
    const big = segment(session, { seq: 1, start: 0, count: 80 * 4, from: 0, to: LAST_BLOCK });
    expect(code(await ask(s, 'cloud', big))).toBe('rate_limited');
    // a burst: whatever is admitted runs; nothing is lost track of (the count returns to zero)
    const replies = await Promise.all(Array.from({ length: 24 }, (_, i) => ask(s, 'cloud', segment(session, { seq: i + 1, start: 4 * i, count: 4, from: 0, to: LAST_BLOCK }))));
    const codes = replies.map((r) => (r.type === 'segment' ? 'ok' : code(r)));
    expect(codes[0]).toBe('ok');
    expect(codes.every((c) => c === 'ok' || c === 'rate_limited' || c === 'out_of_order')).toBe(true);
    const next = 1 + codes.lastIndexOf('ok');
    expect((await ask(s, 'cloud', segment(session, { seq: 100, start: 4 * next, count: 8, from: 0, to: LAST_BLOCK }))).type).toBe('segment'); // the queue is empty again
    s.disconnect();
  });

  it('connections at once are capped (with or without a session); a freed slot is usable again', async () => {
    for (const s of sockets.splice(0)) s.disconnect();
    await until(() => server.stats().totals.connections === 0);
    const open: Socket[] = [];
    for (let i = 0; i < 6; i++) open.push(await rawClient(server.url));
    sockets.push(...open);
    await expect(rawClient(server.url)).rejects.toThrow();
    expect(server.stats().totals.errors.too_many_connections).toBeGreaterThan(0);
    open[0]!.disconnect();
    await until(() => server.stats().totals.connections === 5);
    const again = await rawClient(server.url);
    sockets.push(again);
    expect(again.connected).toBe(true);
  });
});
