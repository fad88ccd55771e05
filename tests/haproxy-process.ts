// HAProxy as a real process in front of cloud servers, for tests/haproxy.test.ts and scripts/soak.ts.
// It runs the shipped deploy/haproxy.cfg, unchanged: the listen address, the backends and the
// runtime API socket come in through the environment variables the file reads, so what is tested
// is what is deployed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from './server-process.ts';

export const HAPROXY_CFG = fileURLToPath(new URL('../deploy/haproxy.cfg', import.meta.url));
/** The backends deploy/haproxy.cfg declares (s1..s3). */
export const HAPROXY_BACKENDS = 3;

/** The haproxy binary: on PATH, or Debian's /usr/sbin (not on a non-root user's PATH). */
const BINARY = ['haproxy', '/usr/sbin/haproxy'].find((b) => spawnSync(b, ['-v']).status === 0);

/** `haproxy -v`'s first line, or undefined when the binary is missing. */
export function haproxyVersion(): string | undefined {
  return BINARY ? spawnSync(BINARY, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] : undefined;
}

/** A free loopback port (bound, read, released: fine on a machine we own). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Haproxy {
  url: string;
  port: number;
  proc: ChildProcess;
  /** One runtime API command (`show stat`, `set server splitwise/s1 state drain`); its answer. */
  admin(cmd: string): Promise<string>;
  /** The backends' rows of `show stat`: name (s1..), status (UP, DOWN, DRAIN, MAINT...), current sessions. */
  servers(): Promise<Array<{ name: string; status: string; scur: number; addr: string }>>;
  /** Waits until `n` backends are UP (health checks on /api/health passed). */
  waitUp(n: number, ms?: number): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Start HAProxy with deploy/haproxy.cfg: `backends` are host:port of up to 3 servers (missing ones
 * point at a closed port and stay DOWN), `socket` the runtime API's path.
 */
export async function startHaproxy(o: { backends: string[]; socket: string; maxConnPerAddress?: number; maxconn?: number }): Promise<Haproxy> {
  if (o.backends.length > HAPROXY_BACKENDS) throw new Error(`deploy/haproxy.cfg declares ${HAPROXY_BACKENDS} backends`);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SPLITWISE_LISTEN: `127.0.0.1:${port}`,
    SPLITWISE_HAPROXY_SOCKET: o.socket,
    SPLITWISE_MAX_CONN_PER_ADDRESS: String(o.maxConnPerAddress ?? 32),
    // the cfg's 4096 needs ~8,200 file descriptors; a test needs far fewer, and a CI runner's hard
    // limit may be 1,024 or 4,096
    SPLITWISE_HAPROXY_MAXCONN: String(o.maxconn ?? 256),
  };
  for (let i = 0; i < HAPROXY_BACKENDS; i++) env[`SPLITWISE_BACKEND_${i + 1}`] = o.backends[i] ?? `127.0.0.1:${await freePort()}`;
  // -db: stay in the foreground, logs on stdout
  if (!BINARY) throw new Error('no haproxy binary (apt-get install haproxy)');
  const proc = spawn(BINARY, ['-db', '-f', HAPROXY_CFG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  process.once('exit', () => proc.kill('SIGKILL'));

  const admin = (cmd: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = connect(o.socket);
      let answer = '';
      const timer = setTimeout(() => (c.destroy(), reject(new Error(`runtime API: no answer to "${cmd}"`))), 5000);
      c.on('connect', () => c.write(`${cmd}\n`));
      c.on('data', (d: Buffer) => (answer += d.toString()));
      c.on('end', () => (clearTimeout(timer), resolve(answer)));
      c.on('error', (e) => (clearTimeout(timer), reject(e)));
    });

  const servers = async () => {
    const csv = await admin('show stat');
    const lines = csv.split('\n').filter((l) => l.length > 0);
    const head = lines[0]!.replace(/^# /, '').split(',');
    const col = (name: string): number => head.indexOf(name);
    return lines
      .slice(1)
      .map((l) => l.split(','))
      .filter((f) => f[col('pxname')] === 'splitwise' && /^s\d+$/.test(f[col('svname')]!))
      .map((f) => ({ name: f[col('svname')]!, status: f[col('status')]!, scur: Number(f[col('scur')]), addr: f[col('addr')]! }));
  };

  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited (${proc.exitCode}):\n${out.slice(-2000)}`);
    try {
      await admin('show info');
      break;
    } catch {
      if (Date.now() - t0 > 10_000) throw new Error(`haproxy did not start:\n${out.slice(-2000)}`);
      await sleep(50);
    }
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    admin,
    servers,
    waitUp: async (n, ms = 20_000) => {
      const t = Date.now();
      for (;;) {
        const up = (await servers()).filter((s) => s.status === 'UP').length;
        if (up >= n) return;
        if (Date.now() - t > ms) throw new Error(`only ${up} of ${n} backends UP after ${ms} ms: ${JSON.stringify(await servers())}`);
        await sleep(100);
      }
    },
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
