// Issue 10: is the policy's contention model (dynamics.ts: the cloud's kernels take 1 / (1 - rho)
// times longer when other edges keep it busy a share rho of the time, processor sharing) what a
// real server does, and is the load the server reports (ProbeReply.load, apps/server/src/load-meter.ts)
// the rho that predicts it, or is the mean number of requests it holds (its `concurrency`) the
// better predictor? One measured edge decodes against a real server process while k other
// edges keep it busy (k = 0, 1, 2, 4, 8: headless cloud-only edges in a child process,
// scripts/bench-cloud-edges.ts); the measured edge's link hears the server's `others` figure once a
// second. Per k: the reported rho, the measured edge's decode step (round trip; the server's own
// compute for it), the slowdown over k = 0, the processor-sharing prediction 1 / (1 - rho), and
// 1 + beta L with the contention factor beta the server reports (what the page prices).
// Batched (the server's default) and serial (--no-batching) servers, one process each, one thread
// (a single processor, as the model assumes), windows interleaved.
//
//   npx tsx scripts/measure-contention.ts [--config gpt2] [--edges 0,1,2,4,8] [--seconds 8] [--warmup 3] [--threads 1]
//                                         [--modes batched,serial] [--out docs/contention-measured]
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildModelGraph, cloudOnlyPlan, PRESETS, SplitWeights, type CloudRequest, type PresetName } from '@splitwise/core';
import { loadModelFromDir, makeModel } from '@splitwise/checkpoint/node';
import { SocketLink } from '@splitwise/link-socketio';
import { pct, sleep, spawnServer, type ServerProcess } from '../tests/server-process.ts';
import type { EdgesCommand, EdgesReply } from './bench-cloud-edges.ts';

const { values: a } = parseArgs({
  options: {
    config: { type: 'string', default: 'gpt2' },
    model: { type: 'string' },
    edges: { type: 'string', default: '0,1,2,4,8' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'batched,serial' },
    prompt: { type: 'string', default: '16' },
    answer: { type: 'string', default: '32' },
    out: { type: 'string', default: 'docs/contention-measured' },
  },
});
const t0 = performance.now();
const preset = a.config as PresetName;
if (!(preset in PRESETS)) throw new Error(`--config must be one of ${Object.keys(PRESETS).join(', ')}`);
const EDGES = a.edges!.split(',').map(Number), SECONDS = Number(a.seconds), WARMUP = Number(a.warmup), PROMPT = Number(a.prompt), ANSWER = Number(a.answer);
const MODES = a.modes!.split(',') as Array<'batched' | 'serial'>;
const modelDir = a.model ?? join('models', preset === 'gpt2' ? 'default' : preset);
if (!existsSync(join(modelDir, 'config.json'))) {
  console.log(`making ${preset} (random weights, seed 0) in ${modelDir} ...`);
  await makeModel({ config: preset, seed: 0, outDir: modelDir });
}
const ckpt = await loadModelFromDir(modelDir), graph = buildModelGraph(ckpt.config), weights = new SplitWeights(ckpt, graph);

const servers = new Map<string, ServerProcess>();
for (const mode of MODES) {
  const extra = mode === 'serial' ? ['--no-batching'] : [];
  servers.set(mode, await spawnServer(['--model', modelDir, '--threads', a.threads!, '--max-sessions', String(Math.max(...EDGES) + 8), ...extra], { timeoutMs: 300_000 }));
}

// the background edges: one child process, started and stopped per window
const CHILD = fileURLToPath(new URL('./bench-cloud-edges.ts', import.meta.url));
const child: ChildProcess = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const ask = (m: EdgesCommand, want: EdgesReply['type']): Promise<EdgesReply> =>
  new Promise((resolve, reject) => {
    const on = (r: EdgesReply): void => {
      if (r.type === 'fatal') reject(new Error(r.error));
      else if (r.type === want) resolve(r);
      else return;
      child.off('message', on);
    };
    child.on('message', on);
    child.send(m);
  });
await ask({ type: 'load', modelDir }, 'loaded');

/** The measured edge: cloud-only, teacher-forced decode steps (as the background edges), its link probing the server's load once a second. */
async function measure(url: string): Promise<{ stepMs: number[]; rho: number[]; held: number[]; contention: number[] }> {
  const link = await SocketLink.connect(graph, { url, probeEveryMs: 1000, timeoutMs: 120_000 });
  const plan = cloudOnlyPlan(graph), V = graph.config.vocabSize, last = 2 * graph.config.nLayer - 1;
  const stepMs: number[] = [], samples0 = link.cloudLoad.snapshot().samples, contention: number[] = [];
  let heard = samples0;
  // the contention factor each report gave (the link keeps only the last)
  const listen = (): void => {
    const c = link.cloudLoad.snapshot();
    if (c.samples !== heard && c.contention !== undefined) contention.push(c.contention);
    heard = c.samples;
  };
  try {
    const end = performance.now() + SECONDS * 1000;
    for (let answer = 0; performance.now() < end; answer++) {
      await link.request({ type: 'reset', plan });
      const ids = Array.from({ length: PROMPT + ANSWER }, (_, i) => (answer * 104729 + i * 31 + 17) % V);
      let seq = 0;
      const step = async (start: number, count: number): Promise<number> => {
        const req: CloudRequest = { type: 'segment', seq: ++seq, start, count, from: 0, to: last, x: weights.embed(ids.slice(start, start + count), start), precision: 'fp32' };
        const t = performance.now();
        await link.request(req);
        const ms = performance.now() - t;
        listen();
        return ms;
      };
      await step(0, PROMPT);
      for (let p = PROMPT; p < PROMPT + ANSWER && performance.now() < end; p++) stepMs.push(await step(p, 1));
    }
    const c = link.cloudLoad.snapshot(), n = c.samples - samples0;
    return { stepMs, rho: c.recentOthers.slice(-n), held: c.recentConcurrency.slice(-n), contention };
  } finally {
    await link.close();
  }
}

interface Row {
  mode: string;
  edges: number;
  rho: number;
  /** Mean number of other sessions' requests the server reported holding. */
  held: number;
  stepMsMean: number;
  stepMsP50: number;
  steps: number;
  backgroundSteps: number;
  slowdown: number;
  /** 1 / (1 - rho) (the busy share as an M/M/1 utilisation) and 1 + held (processor sharing among the requests held). */
  predicted: number;
  predictedHeld: number;
  /** The mean contention factor beta the server reported (1: calls that take turns; NaN: none reported), and 1 + beta held (what the page prices). */
  contention: number;
  predictedBeta: number;
}
const rows: Row[] = [];
const mean = (xs: number[]): number => xs.reduce((s, v) => s + v, 0) / Math.max(1, xs.length);
for (const k of EDGES) {
  for (const mode of MODES) {
    const url = servers.get(mode)!.url;
    if (k > 0) await ask({ type: 'start', url, count: k, first: 0, prompt: PROMPT, answer: ANSWER, precision: 'fp32' }, 'started');
    await sleep(WARMUP * 1000);
    const m = await measure(url);
    const bg = k > 0 ? await ask({ type: 'stop' }, 'result') : undefined;
    const base = rows.find((r) => r.mode === mode && r.edges === 0);
    // the first report's window reaches back before the measured edge began
    const rho = mean(m.rho.slice(1)), held = mean(m.held.slice(1)), beta = m.contention.length > 1 ? mean(m.contention.slice(1)) : (m.contention[0] ?? NaN);
    const row: Row = {
      mode,
      edges: k,
      rho,
      held,
      stepMsMean: mean(m.stepMs),
      stepMsP50: pct(m.stepMs, 0.5),
      steps: m.stepMs.length,
      backgroundSteps: bg && bg.type === 'result' ? bg.steps.length : 0,
      slowdown: base ? mean(m.stepMs) / base.stepMsMean : 1,
      predicted: 1 / (1 - Math.min(0.95, rho)),
      predictedHeld: 1 + held,
      contention: beta,
      predictedBeta: 1 + (Number.isFinite(beta) ? beta : 1) * held,
    };
    rows.push(row);
    console.log(`${mode.padEnd(7)} k=${String(k).padStart(2)}  reported rho ${rho.toFixed(3)} held ${held.toFixed(2)}  decode step ${row.stepMsMean.toFixed(1)} ms (p50 ${row.stepMsP50.toFixed(1)}; ${row.steps} steps; background ${row.backgroundSteps})  slowdown ${row.slowdown.toFixed(2)}  1/(1-rho) ${row.predicted.toFixed(2)}  1+held ${row.predictedHeld.toFixed(2)}  beta ${row.contention.toFixed(3)} 1+beta held ${row.predictedBeta.toFixed(2)}`);
    await sleep(5500); // the server's load window empties before the next window
  }
}
child.kill();
for (const s of servers.values()) await s.stop();

const command = `npx tsx scripts/measure-contention.ts ${process.argv.slice(2).join(' ')}`.trim();
const md = [
  '# Contention on a real server: the reported load against the slowdown it causes',
  '',
  `Generated by \`${command}\` in ${((performance.now() - t0) / 1000).toFixed(0)} s on this machine (2 shared cores). ${preset} shape (random weights), server processes with ${a.threads} onnxruntime thread(s); one measured edge decodes (cloud-only, teacher-forced, fp32 on the wire, loopback) for ${SECONDS} s while k other edges do the same; "reported rho" is the mean of the \`others\` figure the measured edge's link heard in its probe replies (the server's share of the last 5 s with other sessions' requests in hand), "held" the mean of its \`concurrency\` figure (the mean number of other sessions' requests it held). Slowdown: the measured edge's mean decode step over its mean at k = 0 on the same server. Three predictions: 1 / (1 - rho), the busy share read as an M/M/1 utilisation; 1 + held, the server's compute shared among the requests it holds; and 1 + beta held, with beta the mean contention factor the server reported (\`contention\`: 1 for calls that take turns, for a batched session what each extra row costs a batched run over a run of one row, from the batcher's run times; "–" while none was reported, priced as 1), which is what the page's Policy mode prices.`,
  '',
  '| server | other edges k | reported rho | held | decode step ms (mean, p50) | slowdown | 1 / (1 - rho) | 1 + held | reported beta | 1 + beta held | slowdown over 1 + beta held | steps measured | background steps |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.mode} | ${r.edges} | ${r.rho.toFixed(3)} | ${r.held.toFixed(2)} | ${r.stepMsMean.toFixed(1)}, ${r.stepMsP50.toFixed(1)} | ${r.slowdown.toFixed(2)} | ${r.predicted.toFixed(2)} | ${r.predictedHeld.toFixed(2)} | ${Number.isFinite(r.contention) ? r.contention.toFixed(3) : '–'} | ${r.predictedBeta.toFixed(2)} | ${(r.slowdown / r.predictedBeta).toFixed(2)} | ${r.steps} | ${r.backgroundSteps} |`),
  '',
];
await writeFile(`${a.out}.md`, md.join('\n'));
await writeFile(`${a.out}.json`, JSON.stringify({ command, seconds: (performance.now() - t0) / 1000, preset, threads: Number(a.threads), rows }, null, 1));
console.log(`wrote ${a.out}.md and .json`);
process.exit(0);
