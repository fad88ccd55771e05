// Soak: many edges for many minutes through HAProxy (deploy/haproxy.cfg) in front of several cloud
// server processes, over mixed plans and wire precisions, while one backend is SIGKILLed every
// minute and restarted after a few seconds. It reports wrong answers (an answer that differs from
// the undisturbed run of the same plan and precision), lost answers (an edge's retries ran out),
// memory over time (every backend, HAProxy, the edge processes), and per-token latency (p50, p99,
// max) overall and per minute. A script, not a CI test.
//
//   npm run soak                         # 32 edges, 10 minutes, 3 backends, a kill every 60 s
//   npm run soak -- --minutes 2          # a quick run
//   npx tsx scripts/soak.ts --edges 16 --minutes 3 --kill-every 30 --json soak.json
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generate, SplitSessions, type WirePrecision } from '@splitwise/core';
import { loadGpt2FromDir, makeModel } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { connectRemoteEdge } from '@splitwise/cli/remote-edge';
import { getJson, pct, referenceTokens, sleep, spawnServer, type ServerProcess } from '../tests/server-process.ts';
import { HAPROXY_BACKENDS, haproxyVersion, startHaproxy, type Haproxy } from '../tests/haproxy-process.ts';
import type { SoakChildMessage, SoakClientStart, SoakParentMessage, SoakSample, SoakVariant } from './soak-client.ts';

export interface SoakOptions {
  minutes: number;
  edges: number;
  /** Backends behind HAProxy (deploy/haproxy.cfg declares 3). */
  backends: number;
  killEverySeconds: number;
  restartAfterSeconds: number;
  tokens: number;
  /** Edge processes (edges are spread over them). */
  processes: number;
  plans: string[];
  precisions: WirePrecision[];
  /** Model folder; default: a tiny random model made in a temp folder. */
  model?: string;
  timeoutMs: number;
  log?: (line: string) => void;
}

export const DEFAULT_SOAK: SoakOptions = {
  minutes: 10,
  edges: 32,
  backends: 3,
  killEverySeconds: 60,
  restartAfterSeconds: 5,
  tokens: 48,
  processes: 4,
  plans: ['half', 'random:3', 'layers:1', 'cloud'],
  precisions: ['fp32', 'fp16', 'int8'],
  timeoutMs: 10_000,
};

const CLIENT = fileURLToPath(new URL('./soak-client.ts', import.meta.url));
const PROMPTS = [
  [464, 5044, 290, 262, 6279],
  [40, 1101, 257, 1310],
  [818, 262, 3726, 286, 640, 11],
  [15496, 11, 995],
];
const round = (x: number, d = 1): number => (Number.isFinite(x) ? +x.toFixed(d) : NaN);
const spread = (xs: number[]) => ({ n: xs.length, p50: round(pct(xs, 0.5)), p90: round(pct(xs, 0.9)), p99: round(pct(xs, 0.99)), max: round(xs.reduce((m, x) => Math.max(m, x), -Infinity)) });
const mib = (b: number): number => round(b / 2 ** 20);

async function rssOf(pid: number | undefined): Promise<number> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

export async function runSoak(o: SoakOptions) {
  const log = o.log ?? ((l: string) => console.error(l));
  if (o.backends < 2 || o.backends > HAPROXY_BACKENDS) throw new Error(`--backends must be 2..${HAPROXY_BACKENDS} (deploy/haproxy.cfg)`);
  const root = await mkdtemp(join(tmpdir(), 'splitwise-soak-'));
  const backends: ServerProcess[] = [];
  const kids: ChildProcess[] = [];
  let lb: Haproxy | undefined;
  const failures: string[] = [];
  try {
    let dir = o.model;
    if (!dir) {
      dir = join(root, 'tiny');
      await makeModel({ config: 'tiny', seed: 5, outDir: dir });
    }
    const args = ['--model', dir, '--threads', '1', '--max-sessions', String(o.edges + 8), '--max-connections', String(4 * o.edges + 64), '--trust-proxy', '127.0.0.1'];
    backends.push(...(await Promise.all(Array.from({ length: o.backends }, () => spawnServer(args, { env: { LOG_LEVEL: 'warn' } })))));
    const ports = backends.map((b) => b.port);
    lb = await startHaproxy({ backends: ports.map((p) => `127.0.0.1:${p}`), socket: join(root, 'haproxy.sock'), maxConnPerAddress: 4 * o.edges + 64, maxconn: 8 * o.edges + 256 });
    await lb.waitUp(o.backends);
    log(`soak: ${haproxyVersion()} at ${lb.url} in front of ${o.backends} backends (ports ${ports.join(', ')})`);

    // the undisturbed answers of every plan and precision, through the balancer, before any kill
    const ckpt = await loadGpt2FromDir(dir);
    const sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
    const variants: SoakVariant[] = [];
    const monolithic = await Promise.all(PROMPTS.map((p) => referenceTokens(lb!.url, p, o.tokens)));
    for (const plan of o.plans)
      for (const precision of o.precisions) {
        const e = await connectRemoteEdge({ server: lb.url, plan, precision, checkpoint: { ckpt }, sessions, probeEveryMs: 0, fallback: 'wait' });
        const reference: number[][] = [];
        for (const p of PROMPTS) {
          const out: number[] = [];
          for await (const t of generate(e.recovering, p, { maxNewTokens: o.tokens })) out.push(t.id);
          reference.push(out);
        }
        await e.close();
        if (precision === 'fp32' && reference.some((r, i) => r.join() !== monolithic[i]!.join())) failures.push(`the undisturbed ${plan}/fp32 answer differs from /api/reference`);
        variants.push({ plan, precision, reference });
      }
    await sessions.release();
    const agreeing = variants.map((v) => `${v.plan}/${v.precision}: ${v.reference.filter((r, i) => r.join() === monolithic[i]!.join()).length}/${PROMPTS.length}`);
    log(`soak: undisturbed answers equal to the monolithic reference, per variant: ${agreeing.join(', ')}`);

    // edge processes
    let pending: SoakSample[] = [];
    const procs = Math.max(1, Math.min(o.processes, o.edges));
    await Promise.all(
      Array.from({ length: procs }, async () => {
        const kid = fork(CLIENT, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        kids.push(kid);
        kid.on('message', (m: SoakChildMessage) => {
          if (m.type === 'sample') pending.push(m);
          else if (m.type === 'fatal') failures.push(`edge process failed: ${m.error}`);
        });
        const ready = new Promise<void>((resolve, reject) => {
          kid.on('message', (m: SoakChildMessage) => m.type === 'ready' && resolve());
          kid.once('exit', (c) => reject(new Error(`edge process exited (${c}) before it was ready`)));
        });
        kid.send({ type: 'start', url: lb!.url, modelDir: dir, prompts: PROMPTS, tokens: o.tokens, timeoutMs: o.timeoutMs } satisfies SoakClientStart);
        await ready;
      }),
    );
    for (let k = 0; k < o.edges; k++) kids[k % kids.length]!.send({ type: 'add', variant: variants[k % variants.length]!, index: k } satisfies SoakParentMessage);
    log(`soak: ${o.edges} edges over ${variants.length} plan/precision variants in ${kids.length} processes, ${o.minutes} min, a backend SIGKILLed every ${o.killEverySeconds} s`);

    const t0 = performance.now();
    const now = (): number => (performance.now() - t0) / 1000;
    const endAt = o.minutes * 60;

    // per-minute buckets, filled from the edge samples
    interface Minute { tokenMs: number[]; ok: number; wrong: number; lost: number; reconnects: number; failures: number; backendRssMiB: number[]; clientsRssMiB: number; haproxyRssMiB: number }
    const minutes: Minute[] = [];
    const minute = (t: number): Minute => (minutes[Math.floor(t / 60)] ??= { tokenMs: [], ok: 0, wrong: 0, lost: 0, reconnects: 0, failures: 0, backendRssMiB: [], clientsRssMiB: NaN, haproxyRssMiB: NaN });
    const allTokenMs: number[] = [];
    const byVariant: Record<string, { ok: number; wrong: number; lost: number }> = {};
    const failureCodes: Record<string, number> = {};
    const examples: Record<string, string> = {};
    const clientRss = new Map<number, number>();
    const drain = (): void => {
      const t = now(), m = minute(Math.min(t, endAt - 1e-3));
      for (const s of pending) {
        m.tokenMs.push(...s.tokenMs);
        allTokenMs.push(...s.tokenMs);
        m.reconnects += s.reconnects;
        for (const [k, v] of Object.entries(s.answers)) {
          const b = (byVariant[k] ??= { ok: 0, wrong: 0, lost: 0 });
          b.ok += v.ok;
          b.wrong += v.wrong;
          b.lost += v.lost;
          m.ok += v.ok;
          m.wrong += v.wrong;
          m.lost += v.lost;
        }
        for (const [k, v] of Object.entries(s.failures)) {
          failureCodes[k] = (failureCodes[k] ?? 0) + v;
          m.failures += v;
        }
        for (const [k, v] of Object.entries(s.examples)) examples[k] ??= v;
      }
      pending = [];
    };

    // memory every 5 s: each live backend (its own /api/stats), HAProxy, the edge processes
    const memory: Array<{ t: number; backends: Array<{ port: number; pid: number; rssMiB: number; sessions: number }>; haproxyMiB: number; edgesMiB: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const row = await Promise.all(
          backends.map(async (b) => {
            try {
              const s = await getJson<{ rssBytes: number; totals: { sessions: number } }>(`${b.url}/api/stats`, 3000);
              return { port: b.port, pid: b.proc.pid!, rssMiB: mib(s.rssBytes), sessions: s.totals.sessions };
            } catch {
              return { port: b.port, pid: b.proc.pid!, rssMiB: NaN, sessions: NaN }; // killed, or restarting
            }
          }),
        );
        for (const k of kids) clientRss.set(k.pid!, await rssOf(k.pid));
        const sample = { t: round(now()), backends: row, haproxyMiB: mib(await rssOf(lb!.proc.pid)), edgesMiB: mib([...clientRss.values()].reduce((a, b) => a + b, 0)) };
        memory.push(sample);
        if (sample.t < endAt) {
          const m = minute(sample.t);
          m.backendRssMiB.push(...row.map((r) => r.rssMiB).filter(Number.isFinite));
          m.clientsRssMiB = sample.edgesMiB;
          m.haproxyRssMiB = sample.haproxyMiB;
        }
        await sleep(5000);
      }
    })();

    // one backend killed every killEverySeconds (round-robin), restarted on its port after restartAfterSeconds
    const kills: Array<{ t: number; port: number; pid: number; sessions: number; restartedAfterS?: number; upAfterS?: number }> = [];
    let killing = true;
    const killer = (async () => {
      for (let k = 0; killing; k++) {
        const at = (k + 1) * o.killEverySeconds;
        if (at >= endAt) break;
        while (killing && now() < at) await sleep(200);
        if (!killing) break;
        const i = k % backends.length, b = backends[i]!;
        let sessionsThere = NaN;
        try {
          sessionsThere = (await getJson<{ sessions: number }>(`${b.url}/api/health`, 2000)).sessions;
        } catch {
          /* counted as NaN */
        }
        const rec: (typeof kills)[number] = { t: round(now()), port: b.port, pid: b.proc.pid!, sessions: sessionsThere };
        kills.push(rec);
        await b.kill();
        log(`soak: t=${rec.t}s SIGKILL backend :${b.port} (pid ${rec.pid}, ${sessionsThere} sessions)`);
        await sleep(o.restartAfterSeconds * 1000);
        const tr = now();
        backends[i] = await spawnServer([...args, '--port', String(b.port)], { env: { LOG_LEVEL: 'warn' } });
        rec.restartedAfterS = round(now() - rec.t);
        await lb!.waitUp(o.backends, 30_000).catch((e: Error) => failures.push(`backend :${b.port} not UP again: ${e.message}`));
        rec.upAfterS = round(now() - tr);
      }
    })();

    // progress, once a minute
    while (now() < endAt) {
      await sleep(1000);
      drain();
      const t = now();
      if (Math.floor(t) % 60 === 0 || t >= endAt) {
        const m = minutes[Math.floor((t - 1) / 60)];
        if (m) log(`soak: minute ${Math.floor((t - 1) / 60) + 1}: ${m.tokenMs.length} tokens, p99 ${round(pct(m.tokenMs, 0.99))} ms, answers ok ${m.ok} wrong ${m.wrong} lost ${m.lost}, reconnects ${m.reconnects}, backend RSS max ${Math.max(...m.backendRssMiB)} MiB`);
      }
    }
    killing = false;
    await killer;

    // stop the edges; every session on every backend must be freed
    await Promise.all(
      kids.map(
        (k) =>
          new Promise<void>((resolve) => {
            k.on('message', (m: SoakChildMessage) => m.type === 'stopped' && resolve());
            k.once('exit', () => resolve());
            k.send({ type: 'stop' } satisfies SoakParentMessage);
          }),
      ),
    );
    drain();
    sampling = false;
    await sampler;
    let open = Infinity;
    for (let i = 0; i < 100 && open > 0; i++) {
      open = (await Promise.all(backends.map((b) => getJson<{ sessions: number }>(`${b.url}/api/health`).then((h) => h.sessions)))).reduce((a, b) => a + b, 0);
      if (open > 0) await sleep(100);
    }
    if (open !== 0) failures.push(`${open} sessions still open on the backends after every edge disconnected`);

    const total = Object.values(byVariant).reduce((a, v) => ({ ok: a.ok + v.ok, wrong: a.wrong + v.wrong, lost: a.lost + v.lost }), { ok: 0, wrong: 0, lost: 0 });
    if (total.wrong > 0) failures.push(`${total.wrong} wrong answers`);
    if (total.lost > 0) failures.push(`${total.lost} lost answers`);
    // memory: each backend process from its first to its last sample (a restart is a new process)
    const lifetimes = new Map<number, { port: number; first: number; last: number; firstT: number; lastT: number }>();
    for (const s of memory)
      for (const b of s.backends) {
        if (!Number.isFinite(b.rssMiB)) continue;
        const l = lifetimes.get(b.pid);
        if (!l) lifetimes.set(b.pid, { port: b.port, first: b.rssMiB, last: b.rssMiB, firstT: s.t, lastT: s.t });
        else Object.assign(l, { last: b.rssMiB, lastT: s.t });
      }
    const edgesMiB = memory.map((m) => m.edgesMiB).filter(Number.isFinite);
    return {
      ok: failures.length === 0,
      failures,
      options: { ...o, log: undefined },
      model: o.model ?? 'tiny (random weights)',
      seconds: round(now()),
      answers: total,
      byVariant,
      tokenMs: spread(allTokenMs),
      perMinute: minutes.map((m, i) => ({
        minute: i + 1,
        tokens: m.tokenMs.length,
        tokenMs: { p50: round(pct(m.tokenMs, 0.5)), p99: round(pct(m.tokenMs, 0.99)), max: round(Math.max(...m.tokenMs)) },
        ok: m.ok,
        wrong: m.wrong,
        lost: m.lost,
        reconnects: m.reconnects,
        failures: m.failures,
        backendRssMiBMax: Math.max(...m.backendRssMiB),
        edgesRssMiB: m.clientsRssMiB,
        haproxyRssMiB: m.haproxyRssMiB,
      })),
      kills,
      recoveryFailures: failureCodes,
      examples,
      memory: {
        backendLifetimes: [...lifetimes.entries()].map(([pid, l]) => ({ pid, ...l })),
        edgesMiB: { first: edgesMiB[0], last: edgesMiB.at(-1), max: Math.max(...edgesMiB) },
        haproxyMiB: { first: memory[0]?.haproxyMiB, last: memory.at(-1)?.haproxyMiB },
      },
    };
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
    await lb?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      minutes: { type: 'string' },
      edges: { type: 'string' },
      backends: { type: 'string' },
      'kill-every': { type: 'string' },
      'restart-after': { type: 'string' },
      tokens: { type: 'string' },
      processes: { type: 'string' },
      plans: { type: 'string' },
      precisions: { type: 'string' },
      model: { type: 'string' },
      json: { type: 'string' },
    },
  });
  if (!haproxyVersion()) {
    console.error('soak: needs the haproxy binary (apt-get install haproxy)');
    process.exit(2);
  }
  const num = (v: string | undefined, d: number): number => (v === undefined ? d : Number(v));
  const o: SoakOptions = {
    ...DEFAULT_SOAK,
    minutes: num(a.minutes, DEFAULT_SOAK.minutes),
    edges: num(a.edges, DEFAULT_SOAK.edges),
    backends: num(a.backends, DEFAULT_SOAK.backends),
    killEverySeconds: num(a['kill-every'], DEFAULT_SOAK.killEverySeconds),
    restartAfterSeconds: num(a['restart-after'], DEFAULT_SOAK.restartAfterSeconds),
    tokens: num(a.tokens, DEFAULT_SOAK.tokens),
    processes: num(a.processes, DEFAULT_SOAK.processes),
    ...(a.plans ? { plans: a.plans.split(',') } : {}),
    ...(a.precisions ? { precisions: a.precisions.split(',') as WirePrecision[] } : {}),
    ...(a.model ? { model: a.model } : {}),
  };
  const report = await runSoak(o);
  const json = JSON.stringify(report, null, 2);
  if (a.json) await writeFile(a.json, json);
  console.log(json);
  const r = report;
  console.error(
    [
      `soak: ${r.seconds} s, ${o.edges} edges, ${r.kills.length} backends SIGKILLed`,
      `  answers: ${r.answers.ok} right, ${r.answers.wrong} wrong, ${r.answers.lost} lost`,
      `  per token: p50 ${r.tokenMs.p50} ms, p99 ${r.tokenMs.p99} ms, max ${r.tokenMs.max} ms over ${r.tokenMs.n} tokens`,
      `  per minute: ${r.perMinute.map((m) => `${m.minute}: p99 ${m.tokenMs.p99} ms, backend RSS <= ${m.backendRssMiBMax} MiB, edges ${m.edgesRssMiB} MiB`).join('; ')}`,
      `  backend processes (RSS first -> last): ${r.memory.backendLifetimes.map((l) => `:${l.port} ${l.first} -> ${l.last} MiB over ${round(l.lastT - l.firstT, 0)} s`).join('; ')}`,
    ].join('\n'),
  );
  if (!r.ok) {
    console.error(`soak: FAILED\n  ${r.failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
