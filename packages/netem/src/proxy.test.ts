import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetemProxy } from './proxy.ts';
import { conditionsAt, scheduleFromTrace } from './conditions.ts';

// an echo server on loopback: what the proxy sits in front of in these tests
async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
  return s;
}

/** Send `bytes` and wait for them all to come back; returns ms taken. */
async function roundTrip(s: net.Socket, bytes: number): Promise<number> {
  const t = performance.now();
  let got = 0;
  await new Promise<void>((resolve) => {
    const on = (d: Buffer): void => {
      got += d.length;
      if (got >= bytes) {
        s.off('data', on);
        resolve();
      }
    };
    s.on('data', on);
    s.write(Buffer.alloc(bytes, 7));
  });
  return performance.now() - t;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

describe('NetemProxy', () => {
  it('adds the scheduled delay each way', async () => {
    const echo = await echoServer();
    const p = await NetemProxy.listen({ target: { host: '127.0.0.1', port: echo.port }, schedule: { phases: [{ at: 0, delayMs: 25 }] } });
    cleanup.push(() => p.close(), echo.close);
    const s = await connect(p.port);
    const rtts = [];
    for (let i = 0; i < 5; i++) rtts.push(await roundTrip(s, 100));
    s.destroy();
    const median = rtts.sort((a, b) => a - b)[2]!;
    expect(median).toBeGreaterThanOrEqual(49);
    expect(median).toBeLessThan(80);
  });

  it('limits throughput to the scheduled bandwidth', async () => {
    const echo = await echoServer();
    const p = await NetemProxy.listen({ target: { host: '127.0.0.1', port: echo.port }, schedule: { phases: [{ at: 0, bandwidthBps: 8e6 }] } });
    cleanup.push(() => p.close(), echo.close);
    const s = await connect(p.port);
    const ms = await roundTrip(s, 500_000); // 4 Mbit each way at 8 Mbit/s: >= 0.5 s pipelined
    s.destroy();
    expect(ms).toBeGreaterThan(450);
    expect(ms).toBeLessThan(2000);
  });

  it('stalls deliver nothing until the window ends', async () => {
    const echo = await echoServer();
    const p = await NetemProxy.listen({ target: { host: '127.0.0.1', port: echo.port }, schedule: { phases: [{ at: 0, stall: true }, { at: 300, stall: false }] } });
    cleanup.push(() => p.close(), echo.close);
    const s = await connect(p.port);
    const ms = await roundTrip(s, 10);
    s.destroy();
    expect(ms).toBeGreaterThan(250);
  });

  it('a cut closes open connections and refuses new ones until it ends', async () => {
    const echo = await echoServer();
    const p = await NetemProxy.listen({ target: { host: '127.0.0.1', port: echo.port } });
    cleanup.push(() => p.close(), echo.close);
    const s = await connect(p.port);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    p.setSchedule({ phases: [{ at: 0, cut: true }, { at: 200, cut: false }] });
    await closed;
    const refused = await connect(p.port).then((x) => new Promise<boolean>((r) => x.once('close', () => r(true)).once('data', () => r(false))));
    expect(refused).toBe(true);
    await new Promise((r) => setTimeout(r, 250));
    const again = await connect(p.port);
    expect(await roundTrip(again, 10)).toBeLessThan(100);
    again.destroy();
    expect(p.stats.cuts).toBeGreaterThan(0);
  });

  it('reads a bandwidth trace (seconds, Mbit/s)', () => {
    const s = scheduleFromTrace('0\t2.5\n1\t0.5\n2\t4\n', { delayMs: 10 });
    expect(conditionsAt(s, 500)).toMatchObject({ bandwidthBps: 2.5e6, delayMs: 10 });
    expect(conditionsAt(s, 1500).bandwidthBps).toBe(0.5e6);
    expect(conditionsAt(s, 3500).bandwidthBps).toBe(2.5e6); // loops
    expect(() => scheduleFromTrace('x y')).toThrow(/bad trace line/);
  });
});
