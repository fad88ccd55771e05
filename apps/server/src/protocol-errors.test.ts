// Whatever a client sends, the server answers with a typed error code (or, for an oversized
// message, drops that one connection) and keeps serving everyone else: an edge connected
// throughout completes a generation afterwards that matches the monolithic reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { cloudOnlyPlan, generate, halfPlan } from '@splitwise/core';
import { encodeRows } from '@splitwise/protocol';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { createCloudServer, type CloudServer } from './index.ts';
import { ask, closed, helloClient, helloFor, rawClient, segment, TINY, tinyGraph, tinyModelDir, until } from './test-support.ts';

const MAX_BYTES = 256 * 1024;
const graph = tinyGraph();
const E = TINY.nEmbd;
const LAST_BLOCK = 2 * TINY.nLayer - 1;

let model: Awaited<ReturnType<typeof tinyModelDir>>;
let server: CloudServer;
let good: RemoteEdge;
const sockets: Socket[] = [];

beforeAll(async () => {
  model = await tinyModelDir(3);
  server = await createCloudServer({ modelDir: model.dir, port: 0, maxMessageBytes: MAX_BYTES, maxRequestsPerSecond: 300, maxSessions: 32, logLevel: 'silent' });
  // the bystander: connected before the abuse starts, generates after it
  good = await connectRemoteEdge({ server: server.url, plan: 'half', probeEveryMs: 0 });
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await good?.close();
  await server?.close();
  await model?.cleanup();
});

async function session(): Promise<{ s: Socket; session: string }> {
  const c = await helloClient(server.url, graph);
  sockets.push(c.s);
  return c;
}

const code = (r: { type?: string; ok?: boolean; error?: { code: string } }): string | undefined => r.error?.code;

describe('typed errors on the socket', () => {
  it('hello: wrong protocol version, wrong model dims, garbage, twice', async () => {
    const s = await rawClient(server.url);
    sockets.push(s);
    expect(code(await ask(s, 'hello', helloFor(graph, { protocol: 99 })))).toBe('unsupported_version');
    const wrong = helloFor(graph);
    expect(code(await ask(s, 'hello', { ...wrong, model: { ...wrong.model, nEmbd: 128 } }))).toBe('model_mismatch');
    expect(code(await ask(s, 'hello', { ...wrong, model: { ...wrong.model, ffnChunks: 3 } }))).toBe('model_mismatch');
    expect(code(await ask(s, 'hello', { ...wrong, model: { ...wrong.model, family: 'llama' } }))).toBe('model_mismatch');
    expect(code(await ask(s, 'hello', { ...wrong, model: { ...wrong.model, family: 'gpt-neo' } }))).toBe('malformed');
    expect(code(await ask(s, 'hello', 'hello?'))).toBe('malformed');
    expect(code(await ask(s, 'hello'))).toBe('malformed');
    const ok = await ask(s, 'hello', helloFor(graph));
    expect(ok.ok).toBe(true);
    expect(ok.limits).toEqual({ maxContext: TINY.nPositions, maxMessageBytes: MAX_BYTES, maxRequestsPerSecond: 300 });
    expect(code(await ask(s, 'hello', helloFor(graph)))).toBe('malformed');
  });

  it('requests before hello or naming another session: unknown_session', async () => {
    const s = await rawClient(server.url);
    sockets.push(s);
    expect(code(await ask(s, 'cloud', segment('whatever', { seq: 1, start: 0, count: 1, from: 0, to: 0 })))).toBe('unknown_session');
    const c = await session();
    expect(code(await ask(c.s, 'cloud', { session: 'not-mine', type: 'reset', plan: cloudOnlyPlan(graph) }))).toBe('unknown_session');
  });

  it('bad tensors: rows != count, unknown dtype, byte length mismatch, NaN', async () => {
    const { s, session: id } = await session();
    expect((await ask(s, 'cloud', { session: id, type: 'reset', plan: cloudOnlyPlan(graph) })).type).toBe('ok');
    const base = segment(id, { seq: 1, start: 0, count: 2, from: 0, to: LAST_BLOCK }) as Extract<ReturnType<typeof segment>, { type: 'segment' }>;
    const x3 = encodeRows(new Float32Array(3 * E), E, 'fp32');
    expect(code(await ask(s, 'cloud', { ...base, x: x3 }))).toBe('bad_tensor');
    expect(code(await ask(s, 'cloud', { ...base, x: { ...base.x, dtype: 'fp64' } }))).toBe('bad_tensor');
    expect(code(await ask(s, 'cloud', { ...base, x: { ...base.x, data: (base.x.data as Uint8Array).subarray(0, 100) } }))).toBe('bad_tensor');
    const nan = new Float32Array(2 * E).fill(NaN);
    expect(code(await ask(s, 'cloud', { ...base, x: encodeRows(nan, E, 'fp32') }))).toBe('bad_tensor');
    // none of these was applied: the same seq still runs
    expect((await ask(s, 'cloud', base)).type).toBe('segment');
  });

  it('sequence numbers and positions: repeated or late seq, a gap, past the context', async () => {
    const { s, session: id } = await session();
    await ask(s, 'cloud', { session: id, type: 'reset', plan: cloudOnlyPlan(graph) });
    expect((await ask(s, 'cloud', segment(id, { seq: 1, start: 0, count: 2, from: 0, to: LAST_BLOCK }))).type).toBe('segment');
    expect(code(await ask(s, 'cloud', segment(id, { seq: 1, start: 2, count: 1, from: 0, to: LAST_BLOCK })))).toBe('out_of_order');
    expect(code(await ask(s, 'cloud', segment(id, { seq: 0, start: 2, count: 1, from: 0, to: LAST_BLOCK })))).toBe('out_of_order');
    expect(code(await ask(s, 'cloud', segment(id, { seq: 2, start: 5, count: 1, from: 0, to: LAST_BLOCK })))).toBe('out_of_order'); // positions 2..4 skipped
    expect(code(await ask(s, 'cloud', segment(id, { seq: 3, start: TINY.nPositions - 1, count: 2, from: 0, to: LAST_BLOCK })))).toBe('too_large');
    expect((await ask(s, 'cloud', segment(id, { seq: 4, start: 2, count: 1, from: 0, to: LAST_BLOCK }))).type).toBe('segment');
  });

  it('invalid plans', async () => {
    const { s, session: id } = await session();
    const plan = halfPlan(graph);
    expect(code(await ask(s, 'cloud', { session: id, type: 'reset', plan: { ...plan, layers: plan.layers.slice(1) } }))).toBe('invalid_plan');
    expect(code(await ask(s, 'cloud', { session: id, type: 'reset', plan: { layers: [{ cloudHeads: [9], cloudFfnChunks: [] }, { cloudHeads: [], cloudFfnChunks: [] }] } }))).toBe('invalid_plan');
    expect(code(await ask(s, 'cloud', { session: id, type: 'reset', plan: 'all of it' }))).toBe('invalid_plan');
  });

  it('garbage: strings, numbers, binary, null, deep nesting, huge strings, unknown events', async () => {
    const { s } = await session();
    let deep: unknown = { type: 'segment' };
    for (let i = 0; i < 500; i++) deep = { a: deep };
    const garbage = ['cloud?', 42, Buffer.from([1, 2, 3]), null, deep, [1, [2, [3]]], { type: 'segment' }, 'x'.repeat(200_000), { session: 'y'.repeat(100_000), type: 'reset' }];
    for (const g of garbage) expect(code(await ask(s, 'cloud', g))).toBe('malformed');
    expect(code(await ask(s, 'probe', 'now'))).toBe('malformed');
    expect(code(await ask(s, 'no-such-event', 1))).toBe('malformed');
    expect((await ask(s, 'probe', { t: 1 })).t).toBe(1);
  });

  it('a message without an ack callback is dropped, not applied', async () => {
    const { s, session: id } = await session();
    await ask(s, 'cloud', { session: id, type: 'reset', plan: cloudOnlyPlan(graph) });
    const before = server.stats().totals.errors.no_ack ?? 0;
    s.emit('cloud', segment(id, { seq: 1, start: 0, count: 1, from: 0, to: LAST_BLOCK }));
    s.emit('cloud', segment(id, { seq: 1, start: 0, count: 1, from: 0, to: LAST_BLOCK }), 'not a function');
    s.emit('hello');
    await until(() => (server.stats().totals.errors.no_ack ?? 0) === before + 3);
    // seq 1 and position 0 were not consumed
    expect((await ask(s, 'cloud', segment(id, { seq: 1, start: 0, count: 1, from: 0, to: LAST_BLOCK }))).type).toBe('segment');
  });

  it('rate limit: a burst beyond the bucket is refused with rate_limited', async () => {
    const { s } = await session();
    const replies = await Promise.all(Array.from({ length: 400 }, (_, i) => ask(s, 'probe', { t: i })));
    const limited = replies.filter((r) => r.error?.code === 'rate_limited').length;
    expect(limited).toBeGreaterThan(50);
    expect(replies.filter((r) => typeof r.serverTime === 'number').length).toBeGreaterThan(250);
  });

  it('oversized messages close only that connection', async () => {
    for (const payload of [
      Buffer.alloc(MAX_BYTES + 1024), // one frame over the limit (engine.io)
      [Buffer.alloc(100_000), Buffer.alloc(100_000), Buffer.alloc(100_000)], // attachments that only together exceed it (our parser)
    ]) {
      const s = await rawClient(server.url);
      sockets.push(s);
      s.emit('cloud', payload);
      await closed(s);
      expect(s.connected).toBe(false);
    }
  });

  it('the bystander still generates the reference tokens, and the errors were counted', async () => {
    const prompt = [464, 5044, 290, 262, 6279];
    const ids: number[] = [];
    for await (const t of generate(good.edge, prompt, { maxNewTokens: 12 })) ids.push(t.id);
    const ref = (await (await fetch(`${server.url}/api/reference?ids=${prompt.join(',')}&n=12`)).json()) as { tokens: number[] };
    expect(ids).toEqual(ref.tokens);
    expect(good.link.stats.bytesUp).toBeGreaterThan(0);
    const errors = server.stats().totals.errors;
    for (const c of ['malformed', 'bad_tensor', 'unknown_session', 'out_of_order', 'too_large', 'invalid_plan', 'rate_limited', 'unsupported_version', 'model_mismatch', 'no_ack']) {
      expect(errors[c], c).toBeGreaterThan(0);
    }
  });

  it('sessions are freed on disconnect', async () => {
    const open = server.stats().totals.sessions;
    expect(open).toBeGreaterThan(1);
    for (const s of sockets) s.disconnect();
    await until(() => server.stats().totals.sessions === 1); // the bystander
    await good.close();
    await until(() => server.stats().totals.sessions === 0 && server.stats().totals.connections === 0);
    const t = server.stats().totals;
    expect(t.sessionsClosed).toBe(t.sessionsOpened);
    expect(t.freedKvBytes).toBeGreaterThan(0);
  });
});

describe('access control', () => {
  let guarded: CloudServer;
  beforeAll(async () => {
    guarded = await createCloudServer({ modelDir: model.dir, port: 0, token: 's3cret', maxSessions: 1, helloTimeoutMs: 300, logLevel: 'silent' });
  });
  afterAll(() => guarded?.close());

  it('a wrong or missing token is unauthorized; a second session is busy; silence is disconnected', async () => {
    const s = await rawClient(guarded.url);
    expect(code(await ask(s, 'hello', helloFor(graph)))).toBe('unauthorized');
    expect(code(await ask(s, 'hello', helloFor(graph, { token: 'guess' })))).toBe('unauthorized');
    expect((await ask(s, 'hello', helloFor(graph, { token: 's3cret' }))).ok).toBe(true);
    const t = await rawClient(guarded.url);
    expect(code(await ask(t, 'hello', helloFor(graph, { token: 's3cret' })))).toBe('busy');
    await closed(t); // no hello accepted within helloTimeoutMs
    s.disconnect();
    await until(() => guarded.stats().totals.sessions === 0);
    const u = await rawClient(guarded.url);
    expect((await ask(u, 'hello', helloFor(graph, { token: 's3cret' }))).ok).toBe(true);
    u.disconnect();
  });

  it('the socket handshake refuses foreign page origins', async () => {
    const { io } = await import('socket.io-client');
    const s = io(guarded.url, { transports: ['websocket'], reconnection: false, extraHeaders: { Origin: 'https://evil.example' } });
    const err = await new Promise<Error>((resolve) => s.once('connect_error', resolve));
    expect(err).toBeInstanceOf(Error);
    s.close();
  });
});
