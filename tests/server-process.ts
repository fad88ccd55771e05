// Cloud servers as real processes, for the fault, fuzz and load tests: spawn `apps/server/src/main.ts`
// (one process, or a cluster with --workers N), learn its URL from its first line, kill it (or one
// of its workers) with a real signal, and make sure nothing is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../apps/server/src/main.ts', import.meta.url));

export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Everything the process wrote to stderr (logs), for a failing test to show. */
  stderr(): string;
  /** Stop it (SIGTERM, then SIGKILL after 5 s); resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGKILL now; resolves when it has exited. */
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
// a test that fails half-way must not leave servers running
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Start a server: `args` after main.ts (e.g. ['--model', dir, '--workers', '2']); port 0 unless given. */
export async function spawnServer(args: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const withPort = args.includes('--port') ? args : [...args, '--port', '0'];
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...withPort], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: process.env.SERVER_LOG_LEVEL ?? 'warn', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => (live.delete(proc), resolve())));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${err.slice(-2000)}`)), o.timeoutMs ?? 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /splitwise server: (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before it listened:\n${err.slice(-2000)}`));
    });
  });
  const signal = (s: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(s);
    return exited;
  };
  return {
    url,
    port: Number(new URL(url).port),
    proc,
    stderr: () => err,
    kill: () => signal('SIGKILL'),
    stop: async () => {
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await signal('SIGTERM');
      clearTimeout(t);
    },
  };
}

/** The process id in a worker id ("host:pid", as hello and /api/health report it). */
export const pidOf = (worker: string): number => Number(worker.slice(worker.lastIndexOf(':') + 1));

/** SIGKILL a process; false if it was already gone. */
export function killPid(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

export async function getJson<T = any>(url: string, timeoutMs = 5000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return (await res.json()) as T;
}

/** The server's greedy continuation of `ids` (the monolithic graph): what every split run must match. */
export async function referenceTokens(url: string, ids: number[], n: number): Promise<number[]> {
  return (await getJson<{ tokens: number[] }>(`${url}/api/reference?ids=${ids.join(',')}&n=${n}`, 60_000)).tokens;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Percentile (nearest rank) of unsorted samples. */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}
