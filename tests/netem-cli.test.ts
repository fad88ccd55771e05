// `splitwise netem` as a process: it proxies to the target with the delay it was given, follows a
// schedule file (here, a cut), and prints its counters when stopped.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScheduleJson, parseTarget } from '../packages/cli/src/netem.ts';
import { REPO } from './server-process.ts';

let echo: net.Server, echoPort: number, root: string;

beforeAll(async () => {
  echo = net.createServer((s) => s.on('error', () => undefined).pipe(s)); // the proxy may reset it
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
  root = await mkdtemp(join(tmpdir(), 'splitwise-netem-'));
});
afterAll(async () => {
  await new Promise((r) => echo.close(r));
  await rm(root, { recursive: true, force: true });
});

async function netem(args: string[]): Promise<{ port: number; stop: () => Promise<string> }> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', 'netem', '--listen', '0', '--target', `127.0.0.1:${echoPort}`, '--stats-every', '0', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /splitwise netem: http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    p.once('exit', (c) => reject(new Error(`netem exited ${c}: ${err}`)));
  });
  return {
    port,
    stop: () =>
      new Promise<string>((resolve) => {
        p.once('exit', () => resolve(err));
        p.kill('SIGTERM');
      }),
  };
}

async function rtt(port: number): Promise<number> {
  const s = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
  const t = performance.now();
  await new Promise<void>((r) => {
    s.once('data', () => r());
    s.write('ping');
  });
  const ms = performance.now() - t;
  s.destroy();
  return ms;
}

describe('splitwise netem', () => {
  it('parses schedules and targets, refusing bad ones', () => {
    const s = parseScheduleJson('{"phases":[{"at":100,"bandwidthMbps":2,"stall":true}],"loopMs":500}', { delayMs: 10 });
    expect(s).toEqual({ phases: [{ at: 0, delayMs: 10 }, { at: 100, bandwidthBps: 2e6, stall: true }], loopMs: 500 });
    expect(() => parseScheduleJson('{"phases":[{"at":-1}]}')).toThrow(/at must be/);
    expect(() => parseScheduleJson('{"phases":[{"at":0,"lag":3}]}')).toThrow(/unknown field/);
    expect(() => parseScheduleJson('[]')).toThrow(/phases/);
    expect(parseTarget('localhost:8080')).toEqual({ host: 'localhost', port: 8080 });
    expect(parseTarget('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(() => parseTarget('8080')).toThrow(/HOST:PORT/);
  });

  it('adds the delay it is given, each way', async () => {
    const n = await netem(['--delay', '40']);
    try {
      expect(await rtt(n.port)).toBeGreaterThanOrEqual(78);
    } finally {
      const err = await n.stop();
      expect(err).toMatch(/"bytesUp":4/);
    }
  });

  it('follows a schedule file: a cut refuses connections until it ends', async () => {
    const file = join(root, 'cut.json');
    await writeFile(file, JSON.stringify({ phases: [{ at: 0, cut: true }, { at: 1500, cut: false }] }));
    const n = await netem(['--schedule', file]);
    try {
      const s = net.connect({ port: n.port, host: '127.0.0.1' }).on('error', () => undefined); // refused: a reset
      const closedWithoutData = await new Promise<boolean>((r) => s.once('data', () => r(false)).once('close', () => r(true)).once('connect', () => s.write('x')));
      expect(closedWithoutData).toBe(true);
      await new Promise((r) => setTimeout(r, 1600));
      expect(await rtt(n.port)).toBeLessThan(500);
    } finally {
      await n.stop();
    }
  });
});
