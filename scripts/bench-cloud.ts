// npm run bench:cloud — a cloud serving many edges at once: decode tokens per second and per-token
// latency (p50, p99) against the number of edges (1, 2, 4, 8, 16, 32), with continuous batching
// (the default) and serial (--no-batching: each session's layers run on their own, one call at a
// time, as the cloud did before batching). Both servers run in the same run, windows interleaved,
// so the ratios come from one run.
//
// The servers are real processes (apps/server/src/main.ts) with the gpt2-small shape (random
// weights); the edges are headless socket.io edges in child processes (scripts/bench-cloud-edges.ts)
// on the cloud-only plan. They do not run the LM head (teacher-forced ids): see that file for why.
//
// This machine is shared and its load moves, so the sweep over edge counts is repeated --rounds
// times (modes alternating first) and each figure is the median over rounds (latency percentiles
// over all rounds' steps).
//
//   npm run bench:cloud -- [--config gpt2] [--model DIR] [--edges 1,2,4,8,16,32] [--rounds 3] [--seconds 6] [--warmup 2]
//                          [--modes batched,serial] [--max-batch 16] [--batch-wait-ms 2] [--threads 2]
//                          [--prompt 16] [--answer 64] [--precision fp32] [--per-process 8]
//                          [--out out/bench-cloud.json] [--svg docs/bench-cloud.svg]
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PRESETS, type PresetName, type WirePrecision } from '@splitwise/core';
import { makeModel } from '@splitwise/checkpoint/node';
import { lineChart } from '@splitwise/policy';
import { getJson, pct, sleep, spawnServer, type ServerProcess } from '../tests/server-process.ts';
import type { EdgesCommand, EdgesReply, EdgesResult } from './bench-cloud-edges.ts';

const { values: a } = parseArgs({
  options: {
    config: { type: 'string', default: 'gpt2' },
    model: { type: 'string' },
    edges: { type: 'string', default: '1,2,4,8,16,32' },
    seconds: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'batched,serial' },
    'max-batch': { type: 'string', default: '16' },
    'batch-wait-ms': { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    prompt: { type: 'string', default: '16' },
    answer: { type: 'string', default: '64' },
    precision: { type: 'string', default: 'fp32' },
    'per-process': { type: 'string', default: '8' },
    out: { type: 'string', default: 'out/bench-cloud.json' },
    svg: { type: 'string', default: 'docs/bench-cloud.svg' },
  },
});

const num = (name: keyof typeof a): number => {
  const n = Number(a[name]);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0, got ${a[name]}`);
  return n;
};
const preset = a.config as PresetName;
if (!PRESETS[preset]) throw new Error(`unknown --config ${a.config}; presets: ${Object.keys(PRESETS).join(', ')}`);
const EDGES = a.edges!.split(',').map(Number);
if (EDGES.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--edges must list whole numbers >= 1');
const MODES = a.modes!.split(',') as Array<'batched' | 'serial'>;
if (MODES.some((m) => m !== 'batched' && m !== 'serial')) throw new Error('--modes lists batched and/or serial');
const precision = a.precision as WirePrecision;
if (!['fp32', 'fp16', 'int8'].includes(precision)) throw new Error('--precision is fp32, fp16 or int8');
const SECONDS = num('seconds'), WARMUP = num('warmup'), PER_PROCESS = Math.max(1, num('per-process')), ROUNDS = Math.max(1, Math.round(num('rounds')));
const maxEdges = Math.max(...EDGES);

// --- the model: a folder on disk, as a server loads it
const modelDir = a.model ?? join('models', preset === 'gpt2' ? 'default' : preset);
if (!existsSync(join(modelDir, 'config.json'))) {
  if (a.model) throw new Error(`--model ${a.model} has no config.json`);
  console.log(`making ${preset} (random weights, seed 0) in ${modelDir} ...`);
  await makeModel({ config: preset, seed: 0, outDir: modelDir });
}

// --- the servers: one batched, one serial, loaded side by side; only one is busy at a time
const common = ['--model', modelDir, '--threads', a.threads!, '--max-sessions', String(maxEdges + 8), '--max-connections', String(4 * maxEdges + 32)];
const servers = new Map<string, ServerProcess>();
for (const mode of MODES) {
  const extra = mode === 'serial' ? ['--no-batching'] : ['--max-batch', a['max-batch']!, '--batch-wait-ms', a['batch-wait-ms']!];
  servers.set(mode, await spawnServer([...common, ...extra], { timeoutMs: 300_000 }));
  console.log(`${mode} server: ${servers.get(mode)!.url}`);
}

// --- edge processes, loaded once
const CHILD = fileURLToPath(new URL('./bench-cloud-edges.ts', import.meta.url));
const children: Array<{ proc: ChildProcess; replies: EdgesReply[]; waiters: Array<() => void> }> = [];
for (let i = 0; i < Math.ceil(maxEdges / PER_PROCESS); i++) {
  const proc = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const c = { proc, replies: [] as EdgesReply[], waiters: [] as Array<() => void> };
  proc.on('message', (m: EdgesReply) => {
    if (m.type === 'fatal') throw new Error(`edge process: ${m.error}`);
    c.replies.push(m);
    for (const w of c.waiters.splice(0)) w();
  });
  children.push(c);
}
const ask = async <T extends EdgesReply['type']>(c: (typeof children)[number], cmd: EdgesCommand, want: T): Promise<Extract<EdgesReply, { type: T }>> => {
  c.proc.send(cmd);
  for (;;) {
    const i = c.replies.findIndex((r) => r.type === want);
    if (i >= 0) return c.replies.splice(i, 1)[0] as Extract<EdgesReply, { type: T }>;
    await new Promise<void>((r) => c.waiters.push(r));
  }
};
await Promise.all(children.map((c) => ask(c, { type: 'load', modelDir }, 'loaded')));

interface Point {
  mode: 'batched' | 'serial';
  edges: number;
  round: number;
  seconds: number;
  tokens: number;
  tokensPerSecond: number;
  /** Decode step round trips seen by the edges, ms. */
  tokenMs: { p50: number; p90: number; p99: number; max: number };
  prompts: number;
  errors: Record<string, number>;
  /** Batched mode: mean rows per batch and the most runs a step waited, over the window. */
  meanBatch?: number;
  maxWaitedRuns?: number;
  /** Batched mode: ms per batch in each stage (front, core, back), over the window. */
  stageMs?: { front: number; core: number; back: number };
}

type Batching = { batches: number; rows: number; maxWaitedRuns: number; ms: { front: number; core: number; back: number } };
const batchingOf = async (s: ServerProcess): Promise<Batching | undefined> => Object.values((await getJson<{ batching?: Record<string, Batching> }>(`${s.url}/api/stats`)).batching ?? {})[0];

/** Each window's decode step times, by mode and edge count (pooled over rounds for the percentiles). */
const samples = new Map<string, number[]>();

async function measure(mode: 'batched' | 'serial', edges: number, round: number): Promise<Point> {
  const server = servers.get(mode)!;
  const used = children.slice(0, Math.ceil(edges / PER_PROCESS));
  await Promise.all(
    used.map((c, i) => {
      const first = i * PER_PROCESS, count = Math.min(PER_PROCESS, edges - first);
      return ask(c, { type: 'start', url: server.url, count, first, prompt: num('prompt'), answer: num('answer'), precision }, 'started');
    }),
  );
  await sleep(WARMUP * 1000);
  const before = await batchingOf(server), t0 = performance.timeOrigin + performance.now();
  await sleep(SECONDS * 1000);
  const t1 = performance.timeOrigin + performance.now(), after = await batchingOf(server);
  const results: EdgesResult[] = await Promise.all(used.map((c) => ask(c, { type: 'stop' }, 'result')));
  const inWindow = results.flatMap((r) => r.steps).filter(([t]) => t >= t0 && t <= t1).map(([, ms]) => ms);
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  for (const r of results) for (const [k, v] of Object.entries(r.examples)) console.log(`  ${mode} x${edges} error ${k}: ${v}`);
  samples.set(`${mode}/${edges}`, [...(samples.get(`${mode}/${edges}`) ?? []), ...inWindow]);
  const r2 = (x: number): number => Number(x.toFixed(2));
  const p: Point = {
    mode,
    edges,
    round,
    seconds: r2((t1 - t0) / 1000),
    tokens: inWindow.length,
    tokensPerSecond: r2(inWindow.length / ((t1 - t0) / 1000)),
    tokenMs: { p50: r2(pct(inWindow, 0.5)), p90: r2(pct(inWindow, 0.9)), p99: r2(pct(inWindow, 0.99)), max: r2(Math.max(...inWindow)) },
    prompts: results.flatMap((r) => r.prompts).filter(([t]) => t >= t0 && t <= t1).length,
    errors,
  };
  if (before && after) {
    const batches = after.batches - before.batches;
    p.meanBatch = batches > 0 ? r2((after.rows - before.rows) / batches) : 0;
    p.maxWaitedRuns = after.maxWaitedRuns;
    const per = (k: 'front' | 'core' | 'back'): number => (batches > 0 ? Number(((after.ms[k] - before.ms[k]) / batches).toFixed(3)) : 0);
    p.stageMs = { front: per('front'), core: per('core'), back: per('back') };
  }
  return p;
}

const load0 = os.loadavg()[0]!;
const points: Point[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const edges of EDGES) {
    // the modes take turns going first
    for (const mode of round % 2 ? MODES : [...MODES].reverse()) {
      const p = await measure(mode, edges, round);
      points.push(p);
      console.log(`round ${round}: ${mode.padEnd(7)} ${String(edges).padStart(2)} edges: ${p.tokensPerSecond.toFixed(1).padStart(7)} tokens/s, p50 ${p.tokenMs.p50} ms, p99 ${p.tokenMs.p99} ms${p.meanBatch !== undefined ? `, mean batch ${p.meanBatch}` : ''}, load ${os.loadavg()[0]!.toFixed(1)}${Object.keys(p.errors).length ? `, errors ${JSON.stringify(p.errors)}` : ''}`);
      await sleep(500);
    }
  }
}
const load1 = os.loadavg()[0]!;

// --- the report: medians over rounds, ratios within this run
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
interface Summary {
  tokensPerSecond: number;
  tokenMs: { p50: number; p90: number; p99: number; max: number };
  meanBatch?: number;
  stageMs?: { front: number; core: number; back: number };
  errors: number;
}
const at = (mode: string, edges: number): Summary | undefined => {
  const ps = points.filter((p) => p.mode === mode && p.edges === edges);
  if (ps.length === 0) return undefined;
  const xs = samples.get(`${mode}/${edges}`) ?? [], r2 = (x: number): number => Number(x.toFixed(2));
  return {
    tokensPerSecond: r2(median(ps.map((p) => p.tokensPerSecond))),
    tokenMs: { p50: r2(pct(xs, 0.5)), p90: r2(pct(xs, 0.9)), p99: r2(pct(xs, 0.99)), max: r2(Math.max(...xs)) },
    meanBatch: ps[0]!.meanBatch === undefined ? undefined : r2(median(ps.map((p) => p.meanBatch!))),
    stageMs: ps[0]!.stageMs && { front: r2(median(ps.map((p) => p.stageMs!.front))), core: r2(median(ps.map((p) => p.stageMs!.core))), back: r2(median(ps.map((p) => p.stageMs!.back))) },
    errors: ps.reduce((n, p) => n + Object.values(p.errors).reduce((a, b) => a + b, 0), 0),
  };
};
/** Median over rounds of a ratio taken within each round (the two windows minutes apart at most). */
const ratio = (num: (r: number) => Point | undefined, den: (r: number) => Point | undefined): number | undefined => {
  const xs = Array.from({ length: ROUNDS }, (_, i) => i + 1).flatMap((r) => {
    const n = num(r), d = den(r);
    return n && d ? [n.tokensPerSecond / d.tokensPerSecond] : [];
  });
  return xs.length ? Number(median(xs).toFixed(2)) : undefined;
};
const point = (mode: string, edges: number) => (r: number): Point | undefined => points.find((p) => p.mode === mode && p.edges === edges && p.round === r);
const rows = EDGES.map((edges) => {
  const b = at('batched', edges), s = at('serial', edges), fewest = Math.min(...EDGES);
  return {
    edges,
    batched: b && { tokensPerSecond: b.tokensPerSecond, xOneEdge: ratio(point('batched', edges), point('batched', fewest)), p50: b.tokenMs.p50, p99: b.tokenMs.p99, meanBatch: b.meanBatch, stageMs: b.stageMs },
    serial: s && { tokensPerSecond: s.tokensPerSecond, xOneEdge: ratio(point('serial', edges), point('serial', fewest)), p50: s.tokenMs.p50, p99: s.tokenMs.p99 },
    batchedOverSerial: ratio(point('batched', edges), point('serial', edges)),
  };
});
const report = {
  command: `npm run bench:cloud -- ${process.argv.slice(2).join(' ')}`.trim(),
  when: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadAvg: { start: load0, end: load1 } },
  config: preset,
  modelDir,
  settings: { rounds: ROUNDS, seconds: SECONDS, warmup: WARMUP, maxBatch: num('max-batch'), batchWaitMs: num('batch-wait-ms'), threads: num('threads'), prompt: num('prompt'), answer: num('answer'), precision },
  rows,
  points,
};
await mkdir(dirname(a.out!), { recursive: true });
await writeFile(a.out!, JSON.stringify(report, null, 2));

const cell = (x: number | undefined, d = 1): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
console.log(`\n${preset}, cloud-only plan, ${precision} wire, ${ROUNDS} rounds of ${SECONDS} s windows (medians); load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}`);
console.log('| edges | batched tokens/s | × 1 edge | p50 ms | p99 ms | mean batch | serial tokens/s | × 1 edge | p50 ms | p99 ms | batched ÷ serial |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.edges} | ${cell(r.batched?.tokensPerSecond)} | ${cell(r.batched?.xOneEdge, 2)} | ${cell(r.batched?.p50)} | ${cell(r.batched?.p99)} | ${cell(r.batched?.meanBatch, 1)} | ${cell(r.serial?.tokensPerSecond)} | ${cell(r.serial?.xOneEdge, 2)} | ${cell(r.serial?.p50)} | ${cell(r.serial?.p99)} | ${cell(r.batchedOverSerial, 2)} |`);
}
if (MODES.includes('batched')) {
  console.log('\nwhere a batch of one layer spends its time (ms, medians over rounds):');
  console.log('| edges | mean batch | front | core | back | per row |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const m = r.batched?.stageMs, sum = m ? m.front + m.core + m.back : NaN;
    console.log(`| ${r.edges} | ${cell(r.batched?.meanBatch, 1)} | ${cell(m?.front, 2)} | ${cell(m?.core, 2)} | ${cell(m?.back, 2)} | ${cell(sum / (r.batched?.meanBatch ?? NaN), 2)} |`);
  }
}
console.log(`\njson: ${a.out}`);

if (a.svg) {
  const series = MODES.flatMap((mode, i) => [
    { name: `${mode} tokens/s`, points: EDGES.map((e) => [e, at(mode, e)?.tokensPerSecond ?? NaN] as [number, number]), color: ['#1f77b4', '#d62728'][i] },
  ]);
  const latency = MODES.flatMap((mode, i) => [
    { name: `${mode} p50`, points: EDGES.map((e) => [e, at(mode, e)?.tokenMs.p50 ?? NaN] as [number, number]), color: ['#1f77b4', '#d62728'][i] },
    { name: `${mode} p99`, points: EDGES.map((e) => [e, at(mode, e)?.tokenMs.p99 ?? NaN] as [number, number]), color: ['#1f77b4', '#d62728'][i], dashed: true },
  ]);
  const title = `${preset}, cloud-only, ${precision}: tokens/s against edges`;
  const svgA = lineChart({ title, xLabel: 'edges', yLabel: 'decode tokens / s (all edges)', series });
  const svgB = lineChart({ title: 'per-token latency seen by the edges', xLabel: 'edges', yLabel: 'ms per token (log)', series: latency, yLog: true });
  // two charts stacked in one file
  const h = (s: string): number => Number(/height="(\d+)"/.exec(s)![1]);
  const inner = (s: string): string => s.replace(/^<svg[^>]*>/, '').replace(/<\/svg>\s*$/, '');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="760" height="${h(svgA) + h(svgB)}">\n<g>${inner(svgA)}</g>\n<g transform="translate(0 ${h(svgA)})">${inner(svgB)}</g>\n</svg>\n`;
  await mkdir(dirname(a.svg), { recursive: true });
  await writeFile(a.svg, svg);
  console.log(`plot: ${a.svg}`);
}

for (const c of children) c.proc.kill();
for (const s of servers.values()) await s.stop();
process.exit(0);
