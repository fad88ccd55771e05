// SocketLink's failure behaviour against stand-in servers (plain socket.io, no model): a call in
// flight fails at once with link_closed when its socket dies (not after timeoutMs); reconnect
// goes round-robin over the URLs starting with the one in use, opens a new session, reports the
// worker, and gives up within its time bound when no server answers.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { buildModelGraph, halfPlan, LinkError, PRESETS } from '@splitwise/core';
import { SocketLink, wireParser, attachmentsFor } from '@splitwise/link-socketio';

const graph = buildModelGraph(PRESETS.tiny);

interface Fake {
  url: string;
  name: string;
  hellos: number;
  probes: Array<Record<string, unknown>>;
  io: Server;
  close(): Promise<void>;
}

/** A server that says hello as `name` and never answers 'cloud' (unless `answer`); `strictProbe`: a server older than the probe's `pricing`, which refuses it. */
async function fake(name: string, o: { answer?: boolean; strictProbe?: boolean } = {}): Promise<Fake> {
  const http = createServer();
  const io = new Server(http, { parser: wireParser({ maxAttachments: attachmentsFor(2), maxMessageBytes: 1 << 20 }) });
  const f: Fake = { url: '', name, hellos: 0, probes: [], io, close: async () => void (await io.close()) };
  io.on('connection', (s) => {
    s.on('hello', (_m, ack) => ack({ ok: true, session: `${name}-${++f.hellos}`, limits: { maxContext: 128, maxMessageBytes: 1 << 20, maxRequestsPerSecond: 1000 }, worker: name }));
    s.on('probe', (m, ack) => {
      f.probes.push(m);
      if (o.strictProbe && 'pricing' in m) ack({ type: 'error', error: { code: 'malformed', message: 'probe: unrecognized key "pricing"' } });
      else ack({ t: m.t, serverTime: Date.now() });
    });
    s.on('cloud', (_m, ack) => o.answer && ack({ type: 'ok' }));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return f;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('SocketLink failure handling', () => {
  it('a call in flight fails at once with link_closed when the socket dies, not after timeoutMs', async () => {
    const a = await fake('A');
    cleanup.push(a.close);
    const link = await SocketLink.connect(graph, { url: a.url, probeEveryMs: 0, timeoutMs: 30_000 });
    cleanup.push(() => link.close());
    const t0 = performance.now();
    const call = link.request({ type: 'reset', plan: halfPlan(graph) });
    setTimeout(() => a.io.disconnectSockets(true), 50);
    const err = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinkError);
    expect((err as LinkError).code).toBe('link_closed');
    expect(performance.now() - t0).toBeLessThan(2000);
    // and later calls fail fast too, until a reconnect
    await expect(link.request({ type: 'reset', plan: halfPlan(graph) })).rejects.toMatchObject({ code: 'link_closed' });
  });

  it('a call that gets no answer fails with timeout after timeoutMs', async () => {
    const a = await fake('A');
    cleanup.push(a.close);
    const link = await SocketLink.connect(graph, { url: a.url, probeEveryMs: 0, timeoutMs: 200 });
    cleanup.push(() => link.close());
    await expect(link.request({ type: 'reset', plan: halfPlan(graph) })).rejects.toMatchObject({ code: 'timeout' });
  });

  it('says whether it prices congestion in a probe at once when that changes, and again after a reconnect; a server that refuses the word stops hearing it', async () => {
    const a = await fake('A', { answer: true });
    cleanup.push(a.close);
    const link = await SocketLink.connect(graph, { url: a.url, probeEveryMs: 0, timeoutMs: 2000 });
    cleanup.push(() => link.close());
    expect(a.probes.every((m) => !('pricing' in m))).toBe(true); // not set: probes do not say
    link.pricesCongestion = true;
    await expect.poll(() => a.probes.at(-1)?.pricing).toBe(true); // probed at once
    const n = a.probes.length;
    link.pricesCongestion = true; // no change: no probe
    await link.reconnect();
    await expect.poll(() => a.probes.length).toBe(n + 1); // the new session hears it before its requests
    expect(a.probes.at(-1)!.pricing).toBe(true);
    link.pricesCongestion = false;
    await expect.poll(() => a.probes.at(-1)?.pricing).toBe(false);

    const old = await fake('old', { strictProbe: true });
    cleanup.push(old.close);
    const toOld = await SocketLink.connect(graph, { url: old.url, probeEveryMs: 0, timeoutMs: 2000 });
    cleanup.push(() => toOld.close());
    toOld.pricesCongestion = true;
    await expect.poll(() => toOld.pricesCongestion).toBeUndefined(); // refused: it stops saying it
    expect(await toOld.probe()).toBeGreaterThanOrEqual(0);
    expect('pricing' in old.probes.at(-1)!).toBe(false);
  });

  it('reconnect: a new session on the same server first, then round-robin to the next that answers', async () => {
    const [a, b] = [await fake('A', { answer: true }), await fake('B', { answer: true })];
    cleanup.push(a.close, b.close);
    const link = await SocketLink.connect(graph, { urls: [a.url, b.url], probeEveryMs: 0, timeoutMs: 2000 });
    cleanup.push(() => link.close());
    expect([link.worker, link.session]).toEqual(['A', 'A-1']);
    expect(await link.reconnect()).toBe('A'); // the current server is tried first
    expect(link.session).toBe('A-2');
    await a.close();
    expect(await link.reconnect()).toBe('B');
    expect([link.worker, link.session, link.url, link.reconnects]).toEqual(['B', 'B-1', b.url, 2]);
    expect((await link.request({ type: 'reset', plan: halfPlan(graph) })).type).toBe('ok');
  });

  it('connect skips a dead first URL; reconnect with every server down fails with connect_failed in bounded time', async () => {
    const b = await fake('B');
    const dead = await fake('dead');
    await dead.close();
    cleanup.push(b.close);
    const link = await SocketLink.connect(graph, { urls: [dead.url, b.url], probeEveryMs: 0, timeoutMs: 1000 });
    cleanup.push(() => link.close());
    expect(link.worker).toBe('B');
    await b.close();
    const t0 = performance.now();
    await expect(link.reconnect()).rejects.toMatchObject({ code: 'connect_failed' });
    expect(performance.now() - t0).toBeLessThan(2 * 1000 + 500);
  });
});
