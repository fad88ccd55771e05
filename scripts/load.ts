// Load test: many headless edge clients generating at once against one cloud server process.
// Each client is a real edge (SocketLink + onnxruntime-node + RecoveringEdge), hosted several to a
// child process (scripts/load-client.ts); each generates greedy answers back to back and checks
// every answer against the server's reference. Reports per-token latency percentiles, cloud-call
// round trips, throughput, errors by code, wrong answers, the server's RSS over time (sampled from
// /api/stats), and that every session is freed when its client disconnects. With --ramp it adds
// clients step by step until errors or latency blow up, and says where.
//
//   npm run load                                    # short form: 8 clients x 20 s, tiny model
//   npm run load -- --long                          # 32 clients for 5 minutes
//   npm run load -- --ramp 8,16,32,64,128 --step-seconds 30     # find the breaking point
//   npx tsx scripts/load.ts --clients 32 --seconds 60 --model models/default --plan half --tokens 32
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { makeModel } from '@splitwise/checkpoint/node';
import { getJson, pct, referenceTokens, spawnServer, type ServerProcess } from '../tests/server-process.ts';
import type { ChildMessage, LoadClientStart, LoadSample, ParentMessage } from './load-client.ts';

export interface LoadOptions {
  /** Client counts, one step each (one step = a plain run). */
  steps: number[];
  /** Seconds per step. */
  stepSeconds: number;
  /** Model folder; default: a tiny random model made in a temp folder. */
  model?: string;
  plan: string;
  /** New tokens per answer. */
  tokens: number;
  /** Client processes (clients are spread over them). */
  processes: number;
  /** Server: --workers (cluster) or undefined for one process. */
  workers?: number;
  /** Server's maxSessions; default: the largest step + 8 (so the server's own limit is not what breaks). */
  maxSessions?: number;
  /** p99 per-token latency above which a step counts as broken, ms. */
  sloMs: number;
  timeoutMs: number;
  log?: (line: string) => void;
}

export const SHORT_LOAD: LoadOptions = { steps: [8], stepSeconds: 20, plan: 'half', tokens: 48, processes: 2, sloMs: 1000, timeoutMs: 10_000 };
export const LONG_LOAD: LoadOptions = { ...SHORT_LOAD, steps: [32], stepSeconds: 300, processes: 4 };

export interface StepReport {
  clients: number;
  seconds: number;
  tokens: number;
  tokensPerSecond: number;
  tokenMs: { p50: number; p90: number; p99: number; max: number };
  callMs: { p50: number; p90: number; p99: number; max: number };
  answers: number;
  wrong: number;
  errors: Record<string, number>;
  /** One message per error code. */
  errorExamples: Record<string, string>;
  serverRssMiB: { min: number; max: number };
  serverSessions: { min: number; max: number };
  /** Server process CPU over the step, % of one core (Linux /proc; NaN elsewhere or with --workers). */
  serverCpuPct: number;
  /** The client processes' CPU, % of one core (summed). */
  clientsCpuPct: number;
  /** The whole machine's CPU use over the step, % of all its cores (Linux). */
  machineBusyPct: number;
  broken: string | undefined;
}

export interface LoadReport {
  ok: boolean;
  failures: string[];
  plan: string;
  model: string;
  steps: StepReport[];
  /** First step that broke (errors, wrong answers, or p99 over the SLO), or undefined. */
  breakingPoint?: { clients: number; why: string };
  memory: Array<{ t: number; rssMiB: number; sessions: number }>;
  sessions: { opened: number; closed: number; atEnd: number; freedKvMiB: number; secondsToFree: number };
}

const round = (x: number, d = 1): number => (Number.isFinite(x) ? +x.toFixed(d) : NaN);
const spread = (xs: number[]): { p50: number; p90: number; p99: number; max: number } => ({
  p50: round(pct(xs, 0.5)),
  p90: round(pct(xs, 0.9)),
  p99: round(pct(xs, 0.99)),
  max: round(xs.reduce((m, x) => Math.max(m, x), -Infinity)),
});

/** CPU seconds (user + system) a process has used, from /proc; NaN where unavailable. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  try {
    const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
async function machineJiffies(): Promise<{ busy: number; total: number }> {
  try {
    const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0), total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

const CLIENT = fileURLToPath(new URL('./load-client.ts', import.meta.url));

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const log = o.log ?? ((l: string) => console.error(l));
  const failures: string[] = [];
  let root: string | undefined;
  let server: ServerProcess | undefined;
  const kids: ChildProcess[] = [];
  try {
    let dir = o.model;
    if (!dir) {
      root = await mkdtemp(join(tmpdir(), 'splitwise-load-'));
      dir = join(root, 'tiny');
      await makeModel({ config: 'tiny', seed: 5, outDir: dir });
    }
    const maxClients = Math.max(...o.steps);
    server = await spawnServer(
      ['--model', dir, '--threads', '1', '--max-sessions', String(o.maxSessions ?? maxClients + 8), '--max-connections', String(4 * maxClients + 64), ...(o.workers ? ['--workers', String(o.workers)] : [])],
      { env: { LOG_LEVEL: 'warn' } },
    );
    const url = server.url;
    const prompts = [
      [464, 5044, 290, 262, 6279],
      [40, 1101, 257, 1310],
      [818, 262, 3726, 286, 640, 11],
      [15496, 11, 995],
    ];
    const reference = await Promise.all(prompts.map((p) => referenceTokens(url, p, o.tokens)));

    // client processes
    let pending: LoadSample[] = [];
    const procs = Math.max(1, Math.min(o.processes, maxClients));
    await Promise.all(
      Array.from({ length: procs }, async () => {
        const kid = fork(CLIENT, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        kids.push(kid);
        kid.on('message', (m: ChildMessage) => {
          if (m.type === 'sample') pending.push(m);
          else if (m.type === 'fatal') failures.push(`client process failed: ${m.error}`);
        });
        const ready = new Promise<void>((resolve, reject) => {
          kid.on('message', (m: ChildMessage) => m.type === 'ready' && resolve());
          kid.once('exit', (c) => reject(new Error(`client process exited (${c}) before it was ready`)));
        });
        kid.send({ type: 'start', url, modelDir: dir, plan: o.plan, prompts, reference, tokens: o.tokens, timeoutMs: o.timeoutMs } satisfies LoadClientStart);
        await ready;
      }),
    );

    // server memory and sessions over time
    const t0 = performance.now();
    const memory: LoadReport['memory'] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          const s = await getJson<{ rssBytes: number; totals: { sessions: number } }>(`${url}/api/stats`, 5000);
          memory.push({ t: round((performance.now() - t0) / 1000), rssMiB: round(s.rssBytes / 2 ** 20), sessions: s.totals.sessions });
        } catch (e) {
          failures.push(`/api/stats did not answer: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();

    const steps: StepReport[] = [];
    let running = 0, breakingPoint: LoadReport['breakingPoint'];
    for (const target of o.steps) {
      // spread the new clients over the processes
      const add = target - running;
      for (let i = 0; i < add; i++) kids[(running + i) % kids.length]!.send({ type: 'add', count: 1 } satisfies ParentMessage);
      running = target;
      log(`load: ${target} clients for ${o.stepSeconds} s ...`);
      // let the new clients connect before measuring
      await new Promise((r) => setTimeout(r, 2000));
      pending = [];
      const ts = performance.now(), memFrom = memory.length, cpu0 = await cpuSeconds(o.workers ? undefined : server.proc.pid);
      const kidsCpu = async (): Promise<number> => (await Promise.all(kids.map((k) => cpuSeconds(k.pid)))).reduce((a, b) => a + b, 0);
      const kids0 = await kidsCpu(), m0 = await machineJiffies();
      await new Promise((r) => setTimeout(r, o.stepSeconds * 1000));
      const seconds = (performance.now() - ts) / 1000;
      const cpu = (await cpuSeconds(o.workers ? undefined : server.proc.pid)) - cpu0;
      const kidsUsed = (await kidsCpu()) - kids0, m1 = await machineJiffies();
      const got = pending;
      pending = [];
      const tokenMs = got.flatMap((s) => s.tokenMs), callMs = got.flatMap((s) => s.callMs);
      const errors: Record<string, number> = {};
      const errorExamples: Record<string, string> = {};
      for (const s of got) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
      for (const s of got) for (const [k, v] of Object.entries(s.examples)) if (k in errors) errorExamples[k] ??= v;
      const mem = memory.slice(memFrom);
      const step: StepReport = {
        clients: target,
        seconds: round(seconds),
        tokens: tokenMs.length,
        tokensPerSecond: round(tokenMs.length / seconds),
        tokenMs: spread(tokenMs),
        callMs: spread(callMs),
        answers: got.reduce((a, s) => a + s.answers, 0),
        wrong: got.reduce((a, s) => a + s.wrong, 0),
        errors,
        errorExamples,
        serverRssMiB: { min: Math.min(...mem.map((m) => m.rssMiB)), max: Math.max(...mem.map((m) => m.rssMiB)) },
        serverSessions: { min: Math.min(...mem.map((m) => m.sessions)), max: Math.max(...mem.map((m) => m.sessions)) },
        serverCpuPct: round((100 * cpu) / seconds, 0),
        clientsCpuPct: round((100 * kidsUsed) / seconds, 0),
        machineBusyPct: round((100 * (m1.busy - m0.busy)) / (m1.total - m0.total), 0),
        broken: undefined,
      };
      const nErrors = Object.values(errors).reduce((a, b) => a + b, 0);
      step.broken =
        step.wrong > 0 ? `${step.wrong} wrong answers` : nErrors > 0 ? `${nErrors} errors (${JSON.stringify(errors)})` : step.tokenMs.p99 > o.sloMs ? `p99 per-token latency ${step.tokenMs.p99} ms > ${o.sloMs} ms` : step.tokens === 0 ? 'no tokens at all' : undefined;
      steps.push(step);
      log(`load: ${JSON.stringify(step)}`);
      if (step.broken && !breakingPoint) breakingPoint = { clients: target, why: step.broken };
      if (step.wrong > 0) failures.push(`${step.wrong} answers differ from the reference at ${target} clients`);
    }

    // disconnect everyone: every session must be freed
    const tStop = performance.now();
    await Promise.all(
      kids.map(
        (k) =>
          new Promise<void>((resolve) => {
            k.on('message', (m: ChildMessage) => m.type === 'stopped' && resolve());
            k.once('exit', () => resolve());
            k.send({ type: 'stop' } satisfies ParentMessage);
          }),
      ),
    );
    let stats = await getJson<{ totals: { sessions: number; sessionsOpened: number; sessionsClosed: number; freedKvBytes: number } }>(`${url}/api/stats`);
    for (let i = 0; i < 100 && stats.totals.sessions > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await getJson(`${url}/api/stats`);
    }
    const secondsToFree = (performance.now() - tStop) / 1000;
    sampling = false;
    await sampler;
    if (stats.totals.sessions !== 0) failures.push(`${stats.totals.sessions} sessions still open after every client disconnected`);
    if (stats.totals.sessionsOpened !== stats.totals.sessionsClosed) failures.push(`sessions opened ${stats.totals.sessionsOpened} != closed ${stats.totals.sessionsClosed}`);
    return {
      ok: failures.length === 0,
      failures,
      plan: o.plan,
      model: o.model ?? 'tiny (random weights)',
      steps,
      ...(breakingPoint ? { breakingPoint } : {}),
      memory,
      sessions: {
        opened: stats.totals.sessionsOpened,
        closed: stats.totals.sessionsClosed,
        atEnd: stats.totals.sessions,
        freedKvMiB: round(stats.totals.freedKvBytes / 2 ** 20, 2),
        secondsToFree: round(secondsToFree, 2),
      },
    };
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      long: { type: 'boolean', default: false },
      clients: { type: 'string' },
      seconds: { type: 'string' },
      ramp: { type: 'string' },
      'step-seconds': { type: 'string' },
      model: { type: 'string' },
      plan: { type: 'string' },
      tokens: { type: 'string' },
      processes: { type: 'string' },
      workers: { type: 'string' },
      'max-sessions': { type: 'string' },
      'slo-ms': { type: 'string' },
    },
  });
  const base = a.long ? LONG_LOAD : SHORT_LOAD;
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const o: LoadOptions = {
    ...base,
    steps: a.ramp ? a.ramp.split(',').map(Number) : a.clients ? [Number(a.clients)] : base.steps,
    stepSeconds: num(a['step-seconds']) ?? num(a.seconds) ?? base.stepSeconds,
    ...(a.model ? { model: a.model } : {}),
    ...(a.plan ? { plan: a.plan } : {}),
    ...(a.tokens ? { tokens: Number(a.tokens) } : {}),
    ...(a.processes ? { processes: Number(a.processes) } : {}),
    ...(a.workers ? { workers: Number(a.workers) } : {}),
    ...(a['max-sessions'] ? { maxSessions: Number(a['max-sessions']) } : {}),
    ...(a['slo-ms'] ? { sloMs: Number(a['slo-ms']) } : {}),
  };
  const report = await runLoad(o);
  console.log(JSON.stringify(report, null, 2));
  const table = report.steps.map((s) => `${String(s.clients).padStart(4)} clients: ${String(s.tokensPerSecond).padStart(7)} tok/s, per token p50 ${s.tokenMs.p50} / p90 ${s.tokenMs.p90} / p99 ${s.tokenMs.p99} ms, CPU: server ${s.serverCpuPct}%, clients ${s.clientsCpuPct}% (of one core), machine ${s.machineBusyPct}% busy, errors ${Object.values(s.errors).reduce((x, y) => x + y, 0)}, wrong ${s.wrong}${s.broken ? `  <- ${s.broken}` : ''}`);
  console.error(`load:\n${table.join('\n')}`);
  console.error(report.breakingPoint ? `load: breaks at ${report.breakingPoint.clients} clients: ${report.breakingPoint.why}` : `load: no step broke (SLO p99 <= ${o.sloMs} ms, no errors)`);
  console.error(`load: sessions opened ${report.sessions.opened}, closed ${report.sessions.closed}, open at end ${report.sessions.atEnd} (${report.sessions.secondsToFree} s to free; ${report.sessions.freedKvMiB} MiB KV freed)`);
  if (!report.ok) {
    console.error(`load: FAILED\n  ${report.failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
