// npm run bench:e2e — the browser edge against the Node cloud, end to end: headless Chromium runs
// the page (onnxruntime-web, WASM threads), the server runs the cloud side, socket.io on loopback
// between them. gpt2-small dimensions (random weights). Per plan and wire precision: per-token
// decode latency (median, p95), prefill, round trips and bytes per token, and whether the tokens
// equal the edge-only run's (exactness; fp16/int8 may legitimately differ). Both sides share this
// machine's cores, so this measures the protocol and runtime overheads, not a two-machine speed-up.
//   tsx scripts/bench-e2e.ts [--model DIR] [--tokens 32] [--prompt-tokens 32] [--rounds 2] [--plans half] [--precisions fp32]
//                            [--weightless | --compare QUERY] [--out out/bench-e2e.json]
// --compare QUERY also runs edge-only and the half plan in a second page opened with ?QUERY,
// interleaved with the rest: an A/B of a page setting in one run. --weightless is --compare
// subsets=0: mixed layers pass their weights per call (the weightless subset graphs), the
// before/after of SplitSessions' constantSubsets.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from '@playwright/test';
import { build } from 'vite';
import { makeModel } from '@splitwise/checkpoint/node';
import { createCloudServer } from '@splitwise/server';
import type { WirePrecision } from '@splitwise/core';
import type { HookWindow, RunResult, SplitwiseState } from '../apps/web/src/hook-types.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../apps/web/e2e/chromium.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    tokens: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
    'prompt-tokens': { type: 'string', default: '32' },
    /** Only these plans (comma-separated, of edge, cloud, layers:6, half); edge is always run (the token reference). */
    plans: { type: 'string' },
    /** Only these wire precisions (comma-separated, of fp32, fp16, int8). */
    precisions: { type: 'string' },
    weightless: { type: 'boolean', default: false },
    compare: { type: 'string' },
    out: { type: 'string', default: join(root, 'out/bench-e2e.json') },
    shot: { type: 'string', default: join(root, 'out/bench-e2e.png') },
  },
});
const TOKENS = Number(a.tokens), PROMPT_TOKENS = Number(a['prompt-tokens']), ROUNDS = Number(a.rounds);

// ------------------------------------------------------------------ model, page, server
async function modelDir(): Promise<string> {
  if (a.model) return resolve(a.model);
  // models/default is what `npm start` makes: the same random gpt2 (seed 0); reuse it if present
  const fallback = join(root, 'models/default');
  if (existsSync(join(fallback, 'model.safetensors')) && existsSync(join(fallback, 'tokenizer.json'))) {
    const cfg = JSON.parse(await readFile(join(fallback, 'config.json'), 'utf8')) as { n_layer?: number; n_embd?: number };
    if (cfg.n_layer === 12 && cfg.n_embd === 768) return fallback;
  }
  const dir = join(os.tmpdir(), 'splitwise-models', 'gpt2');
  if (!existsSync(join(dir, 'model.safetensors'))) {
    console.log(`making a random gpt2-small in ${dir} …`);
    await makeModel({ config: 'gpt2', seed: 0, outDir: dir });
  }
  return dir;
}

const loadBefore = os.loadavg();
const dir = await modelDir();
console.log(`model ${dir}; building the page …`);
await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
const server = await createCloudServer({ modelDir: dir, port: 0, webDist: join(root, 'apps/web/dist'), logLevel: 'warn' });
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
page.on('pageerror', (e) => console.error('page error:', e.message));
// the comparison page (e.g. subsets=0: mixed layers on the weightless graphs, weights copied into WASM per call)
const compare = a.compare ?? (a.weightless ? 'subsets=0' : undefined);
const weightlessPage = compare ? await browser.newPage({ viewport: { width: 1280, height: 860 } }) : undefined;
weightlessPage?.on('pageerror', (e) => console.error(`page error (?${compare}):`, e.message));

const state = (): Promise<SplitwiseState> => page.evaluate(() => (globalThis as HookWindow).__splitwise!.state);
const t0 = performance.now();
// store=0: the page would otherwise also write 500 MB into Cache Storage, which is not measured here
await page.goto(`${server.url}/?store=0&plan=edge&max=${TOKENS}`);
await page.waitForFunction(() => (globalThis as HookWindow).__splitwise?.state.ready || (globalThis as HookWindow).__splitwise?.state.error, null, { timeout: 300_000 });
const ready = await state();
if (ready.error) throw new Error(`page failed: ${ready.error}`);
const loadSeconds = (performance.now() - t0) / 1000;
console.log(`page ready in ${loadSeconds.toFixed(1)} s: ${ready.backend}, ${ready.threads} threads, model ${(ready.modelBytes! / 2 ** 20).toFixed(0)} MiB`);
if (weightlessPage) {
  await weightlessPage.goto(`${server.url}/?store=0&plan=edge&max=${TOKENS}&${compare}`);
  await weightlessPage.waitForFunction(() => (globalThis as HookWindow).__splitwise?.state.ready || (globalThis as HookWindow).__splitwise?.state.error, null, { timeout: 300_000 });
  const e = await weightlessPage.evaluate(() => (globalThis as HookWindow).__splitwise!.state.error);
  if (e) throw new Error(`?${compare} page failed: ${e}`);
}

// ------------------------------------------------------------------ runs
const promptIds = Array.from({ length: PROMPT_TOKENS }, (_, i) => (i * 7919 + 11) % 50000);
const run = (plan: string, precision: WirePrecision, maxNewTokens: number, on = page): Promise<RunResult> =>
  on.evaluate(
    (req) => (globalThis as HookWindow).__splitwise!.run({ promptIds: req.promptIds, plan: req.plan, precision: req.precision, sampling: { maxNewTokens: req.maxNewTokens, temperature: 0 } }),
    { promptIds, plan, precision, maxNewTokens },
  );

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const p95 = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))]!;

const ALL_CASES: Array<{ plan: string; label: string; precisions: WirePrecision[]; weightless?: boolean }> = [
  { plan: 'edge', label: 'edge only', precisions: ['fp32'] },
  { plan: 'cloud', label: 'cloud only', precisions: ['fp32', 'fp16', 'int8'] },
  { plan: 'layers:6', label: 'first 6 layers on the edge', precisions: ['fp32', 'fp16', 'int8'] },
  { plan: 'half', label: 'half of every layer (heads + chunks)', precisions: ['fp32', 'fp16', 'int8'] },
];
const only = a.plans?.split(',').map((s) => s.trim());
const wires = a.precisions?.split(',').map((s) => s.trim());
const CASES = ALL_CASES.filter((c) => !only || c.plan === 'edge' || only.includes(c.plan))
  .map((c) => ({ ...c, precisions: c.precisions.filter((p) => c.plan === 'edge' || !wires || wires.includes(p)) }))
  .filter((c) => c.precisions.length > 0);
if (weightlessPage) {
  const half = CASES.find((c) => c.plan === 'half');
  CASES.push({ plan: 'edge', label: `edge only (?${compare})`, precisions: ['fp32'], weightless: true });
  CASES.push({ plan: 'half', label: `half (?${compare})`, precisions: half?.precisions ?? ['fp32'], weightless: true });
}

interface Row {
  plan: string;
  /** Run in the comparison page (--compare QUERY; --weightless: ?subsets=0). */
  weightless: boolean;
  label: string;
  precision: WirePrecision;
  decodeMedianMs: number;
  decodeP95Ms: number;
  prefillMs: number;
  tokens: number;
  roundTripsPerToken: number;
  bytesUpPerToken: number;
  bytesDownPerToken: number;
  bytesPerToken: number;
  prefillBytes: number;
  sameTokensAsEdgeOnly: boolean;
}

// Rounds interleave the cases, so slow drift of the 2-core machine affects them alike.
const runsOf = new Map<string, RunResult[]>();
const key = (plan: string, precision: WirePrecision, weightless = false): string => `${plan}/${precision}${weightless ? '/weightless' : ''}`;
let shotTaken = false;
for (let round = 0; round < ROUNDS; round++) {
  for (const c of CASES) {
    for (const precision of c.precisions) {
      const on = c.weightless ? weightlessPage! : page, k = key(c.plan, precision, c.weightless);
      if (round === 0) {
        const warm = await run(c.plan, precision, 4, on); // compiles this plan's graphs, warms the JIT
        if (warm.error) throw new Error(`${k}: ${warm.error}`);
        // the first token after the page's load builds the graphs this plan needs (constant subsets, layers)
        console.log(`warm-up: ${c.plan.padEnd(9)} ${precision}${c.weightless ? ` ?${compare}` : ''}  first token (prefill + graph builds) ${warm.tokenMs[0]!.toFixed(0)} ms`);
      }
      if (!shotTaken && c.plan === 'half' && !c.weightless) {
        // a gpt2-small-sized picture of the page mid-answer (the README's comes from the e2e tests)
        const pending = run(c.plan, precision, TOKENS);
        await page.waitForFunction(() => ((globalThis as HookWindow).__splitwise!.state.last?.tokens.length ?? 0) >= 8);
        await mkdir(dirname(resolve(a.shot)), { recursive: true });
        await page.screenshot({ path: resolve(a.shot) });
        await pending;
        shotTaken = true;
      }
      const r = await run(c.plan, precision, TOKENS, on);
      if (r.error) throw new Error(`${k}: ${r.error}`);
      runsOf.set(k, [...(runsOf.get(k) ?? []), r]);
      const ms = median(r.tokenMs.slice(1));
      console.log(`round ${round + 1}: ${c.plan.padEnd(9)} ${precision}${c.weightless ? ` ?${compare}` : ''}  decode median ${ms.toFixed(1)} ms`);
    }
  }
}

const edgeTokens = runsOf.get(key('edge', 'fp32'))![0]!.tokens;
const rows: Row[] = CASES.flatMap((c) =>
  c.precisions.map((precision): Row => {
    const rs = runsOf.get(key(c.plan, precision, c.weightless))!, r = rs[0]!;
    // decode figures leave out each run's first token (the prompt's prefill) and the reset before it
    const decode = rs.flatMap((x) => x.tokenMs.slice(1)), n = r.tokens.length, d = n - 1, pre = r.prefill!;
    return {
      plan: c.plan,
      weightless: c.weightless === true,
      label: c.label,
      precision,
      decodeMedianMs: median(decode),
      decodeP95Ms: p95(decode),
      prefillMs: median(rs.map((x) => x.tokenMs[0]!)),
      tokens: n,
      roundTripsPerToken: (r.calls - pre.calls) / d,
      bytesUpPerToken: (r.bytesUp - pre.bytesUp) / d,
      bytesDownPerToken: (r.bytesDown - pre.bytesDown) / d,
      bytesPerToken: (r.bytesUp + r.bytesDown - pre.bytesUp - pre.bytesDown) / d,
      prefillBytes: pre.bytesUp + pre.bytesDown,
      sameTokensAsEdgeOnly: rs.every((x) => JSON.stringify(x.tokens) === JSON.stringify(edgeTokens)),
    };
  }),
);
const net = await page.evaluate(() => (globalThis as HookWindow).__splitwise!.state.network);
const version = browser.version();
await browser.close();
await server.close();

// ------------------------------------------------------------------ report
const result = {
  when: new Date().toISOString(),
  // other work on this machine skews the figures: the 1-minute load average before and after
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, chromium: version, loadavg1: [loadBefore[0], os.loadavg()[0]] },
  model: { dir, config: 'gpt2 (12 layers, 12 heads, 768 wide), random weights', bytes: ready.modelBytes },
  page: { backend: ready.backend, threads: ready.threads, loadSeconds },
  link: { rttMs: net?.rttMs, bandwidthBps: net?.bandwidthBps },
  promptTokens: PROMPT_TOKENS,
  decodeTokens: TOKENS,
  rounds: ROUNDS,
  rows,
};
await mkdir(dirname(resolve(a.out)), { recursive: true });
await writeFile(resolve(a.out), JSON.stringify(result, null, 2) + '\n');

const fmt = (n: number, d = 1): string => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
console.log(`\nbrowser edge (${ready.backend}, ${ready.threads} threads) <-> node cloud on loopback; ${PROMPT_TOKENS}-token prompt, ${TOKENS} tokens x ${ROUNDS} rounds; RTT ${fmt(net?.rttMs ?? NaN, 2)} ms\n`);
console.log('| plan | wire | decode ms / token (median) | × edge only | p95 | prefill ms | round trips / token | bytes / token up | down | tokens vs edge-only |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
// each page's rows against its own edge-only run
const edgeMs = (r: Row): number => rows.find((e) => e.plan === 'edge' && e.weightless === r.weightless)!.decodeMedianMs;
for (const r of rows) {
  console.log(
    `| ${r.label} | ${r.plan === 'edge' ? '–' : r.precision} | ${fmt(r.decodeMedianMs)} | ${fmt(r.decodeMedianMs / edgeMs(r), 2)} | ${fmt(r.decodeP95Ms)} | ${fmt(r.prefillMs, 0)} | ${fmt(r.roundTripsPerToken)} | ${fmt(r.bytesUpPerToken, 0)} | ${fmt(r.bytesDownPerToken, 0)} | ${r.sameTokensAsEdgeOnly ? 'same tokens' : 'differs'} |`,
  );
}
console.log(`\nload average (1 min) before/after: ${loadBefore[0]!.toFixed(2)} / ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} CPUs`);
console.log(`wrote ${resolve(a.out)} and ${resolve(a.shot)}`);
