// npm run bench:e2e — the browser edge against the Node cloud, end to end: headless Chromium runs
// the page (onnxruntime-web, WASM threads), the server runs the cloud side, socket.io on loopback
// between them. gpt2-small dimensions (random weights). Per plan and wire precision: per-token
// decode latency (median, p95), prefill, round trips and bytes per token, and whether the tokens
// equal the edge-only run's (exactness; fp16/int8 may legitimately differ). Both sides share this
// machine's cores, so this measures the protocol and runtime overheads, not a two-machine speed-up.
// The peer runs beside them in the same Chromium: transformers.js (@huggingface/transformers) on the
// same model at fp32, exported to its layout (onnx/model.onnx) and served locally with its own
// onnxruntime-web (scripts/transformersjs-page): load time, prefill, per-token decode and page
// memory against our edge-only page, as ratios from this one run (--skip-transformersjs: without).
//   tsx scripts/bench-e2e.ts [--model DIR | --preset NAME] [--tokens 32] [--prompt-tokens 32] [--rounds 2] [--plans half] [--precisions fp32]
//                            [--weightless | --compare QUERY] [--skip-transformersjs] [--out out/bench-e2e.json]
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
import type { PresetName, WirePrecision } from '@splitwise/core';
import type { HookWindow, RunResult, SplitwiseState } from '../apps/web/src/hook-types.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../apps/web/e2e/chromium.ts';
import { pageMemory, startTransformersJsPeer, type PageMemory } from './transformersjs-page/peer.ts';
import type { PeerGenerateResult, PeerWindow } from './transformersjs-page/hook-types.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    /** A random-weight model of this make-model preset (e.g. smollm-135m), made once in the temp folder with GPT-2's tokenizer files. */
    preset: { type: 'string' },
    tokens: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
    'prompt-tokens': { type: 'string', default: '32' },
    /** Only these plans (comma-separated, of edge, cloud, layers:6, half); edge is always run (the token reference). */
    plans: { type: 'string' },
    /** Only these wire precisions (comma-separated, of fp32, fp16, int8). */
    precisions: { type: 'string' },
    weightless: { type: 'boolean', default: false },
    compare: { type: 'string' },
    'skip-transformersjs': { type: 'boolean', default: false },
    out: { type: 'string', default: join(root, 'out/bench-e2e.json') },
    shot: { type: 'string', default: join(root, 'out/bench-e2e.png') },
  },
});
const TOKENS = Number(a.tokens), PROMPT_TOKENS = Number(a['prompt-tokens']), ROUNDS = Number(a.rounds);

// ------------------------------------------------------------------ model, page, server
async function modelDir(): Promise<string> {
  if (a.model) return resolve(a.model);
  if (a.preset) {
    const dir = join(os.tmpdir(), 'splitwise-models', a.preset);
    if (!existsSync(join(dir, 'model.safetensors')) || !existsSync(join(dir, 'tokenizer.json'))) {
      console.log(`making a random ${a.preset} in ${dir} …`);
      // the page needs a tokenizer; GPT-2's decodes any id below 50257 (the prompt is token ids)
      await makeModel({ config: a.preset as PresetName, seed: 0, outDir: dir, tokenizer: true });
    }
    return dir;
  }
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
// ForceEagerMeasureMemory: performance.measureUserAgentSpecificMemory() answers now, not at the next GC
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, '--enable-blink-features=ForceEagerMeasureMemory'] });
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
const edgeMemoryLoaded = await pageMemory(page);

// the peer: transformers.js in another page of this browser, the same weights at fp32, as many WASM threads
const peer = a['skip-transformersjs'] ? undefined : await startTransformersJsPeer(dir, join(os.tmpdir(), 'splitwise-transformersjs'));
const peerPage = peer ? await browser.newPage() : undefined;
let peerLoad: { seconds: number; inPageMs: number; version: string; ortVersion: string; threads: number; crossOriginIsolated: boolean; pipeline: boolean } | undefined;
let peerMemoryLoaded: PageMemory | undefined;
const peerOffsiteRequests: string[] = [];
if (peer && peerPage) {
  peerPage.on('pageerror', (e) => console.error('transformers.js page error:', e.message));
  // everything must come from the local server: no CDN for the WASM files, no hub for the model
  peerPage.on('request', (r) => {
    if (!/^(blob|data):/.test(r.url()) && !r.url().startsWith(peer.url)) peerOffsiteRequests.push(r.url());
  });
  const t1 = performance.now();
  await peerPage.goto(peer.url);
  await peerPage.waitForFunction(() => (globalThis as PeerWindow).__transformersjs !== undefined);
  const r = await peerPage.evaluate(
    (req) => (globalThis as PeerWindow).__transformersjs!.load(req),
    { model: peer.model, threads: ready.threads ?? 1, wasmPaths: peer.wasmPaths, tokenizer: peer.exported.tokenizer },
  );
  peerLoad = { seconds: (performance.now() - t1) / 1000, inPageMs: r.ms, version: r.version, ortVersion: r.ortVersion, threads: r.threads, crossOriginIsolated: r.crossOriginIsolated, pipeline: r.pipeline };
  peerMemoryLoaded = await pageMemory(peerPage);
  console.log(`transformers.js ${r.version} (onnxruntime-web ${r.ortVersion}, ${r.device} ${r.dtype}, ${r.threads} threads) ready in ${peerLoad.seconds.toFixed(1)} s; graph ${(peer.exported.modelBytes / 2 ** 20).toFixed(0)} MiB`);
}
if (weightlessPage) {
  await weightlessPage.goto(`${server.url}/?store=0&plan=edge&max=${TOKENS}&${compare}`);
  await weightlessPage.waitForFunction(() => (globalThis as HookWindow).__splitwise?.state.ready || (globalThis as HookWindow).__splitwise?.state.error, null, { timeout: 300_000 });
  const e = await weightlessPage.evaluate(() => (globalThis as HookWindow).__splitwise!.state.error);
  if (e) throw new Error(`?${compare} page failed: ${e}`);
}

// ------------------------------------------------------------------ runs
const promptIds = Array.from({ length: PROMPT_TOKENS }, (_, i) => (i * 7919 + 11) % Math.min(50000, ready.model?.vocabSize ?? 50000));
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
const peerRun = async (maxNewTokens: number): Promise<PeerGenerateResult> => {
  const r = await peerPage!.evaluate((req) => (globalThis as PeerWindow).__transformersjs!.generate(req), { promptIds, maxNewTokens });
  if (r.error) throw new Error(`transformers.js: ${r.error}`);
  return r;
};
const peerRuns: PeerGenerateResult[] = [];

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
    if (peerPage && c.plan === 'edge' && !c.weightless) {
      // transformers.js right after our edge-only run, on the same prompt ids
      if (round === 0) console.log(`warm-up: transformers.js  first token (prefill) ${(await peerRun(4)).tokenMs[0]!.toFixed(0)} ms`);
      const r = await peerRun(TOKENS);
      peerRuns.push(r);
      console.log(`round ${round + 1}: transformers.js  decode median ${median(r.tokenMs.slice(1)).toFixed(1)} ms`);
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
const edgeMemoryRun = await pageMemory(page);
const peerMemoryRun = peerPage ? await pageMemory(peerPage) : undefined;
const version = browser.version();
await browser.close();
await server.close();
await peer?.close();

// ours (the edge-only page) against transformers.js: decode and prefill as the rows above measure
// them (per-token times from each side's own loop: ours from generate(), theirs from the streamer),
// plus the wall clock per decoded token over whole runs, which also counts what each page does
// between tokens (our page updates its UI)
const wallMsPerToken = (r: { ms: number; tokenMs: number[] }): number => (r.ms - r.tokenMs[0]!) / (r.tokenMs.length - 1);
const edgeRuns = runsOf.get(key('edge', 'fp32'))!, edgeRow = rows.find((r) => r.plan === 'edge' && !r.weightless)!;
const side = (runs: Array<{ ms: number; tokenMs: number[]; tokens: number[] }>, loadSeconds: number, memoryLoaded?: PageMemory, memoryAfterRuns?: PageMemory) => {
  const decode = runs.flatMap((x) => x.tokenMs.slice(1));
  return {
    loadSeconds,
    prefillMs: median(runs.map((x) => x.tokenMs[0]!)),
    decodeMedianMs: median(decode),
    decodeP95Ms: p95(decode),
    /** Mean of the per-token times: the wall clock per token less this is spent between tokens, outside the loop's own timing. */
    decodeMeanMs: decode.reduce((x, y) => x + y, 0) / decode.length,
    decodeWallMsPerToken: median(runs.map(wallMsPerToken)),
    tokens: runs[0]!.tokens.length,
    memory: { loaded: memoryLoaded, afterRuns: memoryAfterRuns },
    /** Every measured run's per-token times ([0]: the prefill), rounded to 0.01 ms. */
    tokenMsPerRun: runs.map((x) => x.tokenMs.map((ms) => Math.round(ms * 100) / 100)),
  };
};
const GOAL = 1.0; // issue 12: edge-only at most 1.0x transformers.js per token
const peerResult = (() => {
  if (!peer || !peerLoad || peerRuns.length === 0) return undefined;
  const ours = side(edgeRuns, loadSeconds, edgeMemoryLoaded, edgeMemoryRun), theirs = side(peerRuns, peerLoad.seconds, peerMemoryLoaded, peerMemoryRun);
  const ratio = (x?: number, y?: number): number | null => (x !== undefined && y !== undefined && y > 0 ? x / y : null);
  const ratios = {
    decodeMedian: ratio(ours.decodeMedianMs, theirs.decodeMedianMs),
    decodeP95: ratio(ours.decodeP95Ms, theirs.decodeP95Ms),
    decodeMean: ratio(ours.decodeMeanMs, theirs.decodeMeanMs),
    decodeWall: ratio(ours.decodeWallMsPerToken, theirs.decodeWallMsPerToken),
    prefill: ratio(ours.prefillMs, theirs.prefillMs),
    load: ratio(ours.loadSeconds, theirs.loadSeconds),
    memoryLoaded: ratio(ours.memory.loaded?.bytes, theirs.memory.loaded?.bytes),
    memoryAfterRuns: ratio(ours.memory.afterRuns?.bytes, theirs.memory.afterRuns?.bytes),
  };
  return {
    transformersjs: {
      version: peerLoad.version,
      onnxruntimeWeb: peerLoad.ortVersion,
      wasm: peer.wasmPaths.wasm,
      threads: peerLoad.threads,
      crossOriginIsolated: peerLoad.crossOriginIsolated,
      loadedAs: peerLoad.pipeline ? "pipeline('text-generation')" : 'AutoModelForCausalLM (no tokenizer)',
      graphBytes: peer.exported.modelBytes,
      offsiteRequests: peerOffsiteRequests,
      inPageLoadMs: peerLoad.inPageMs,
      ...theirs,
      sameTokensAsEdgeOnly: peerRuns.every((x) => JSON.stringify(x.tokens) === JSON.stringify(edgeTokens)),
    },
    edgeOnly: { threads: ready.threads, ...ours, sameTokensAsEdgeOnly: edgeRow.sameTokensAsEdgeOnly },
    /** ours / transformers.js: below 1 means ours is faster (or smaller). */
    ratios,
    goal: { decodeRatioAtMost: GOAL, met: ratios.decodeMedian !== null && ratios.decodeMedian <= GOAL, decodeRatio: ratios.decodeMedian },
  };
})();

// ------------------------------------------------------------------ report
const result = {
  when: new Date().toISOString(),
  // other work on this machine skews the figures: the 1-minute load average before and after
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, chromium: version, loadavg1: [loadBefore[0], os.loadavg()[0]] },
  model: { dir, config: ready.model ? `${ready.model.family} (${ready.model.nLayer} layers, ${ready.model.nHead} heads / ${ready.model.nKvHead} KV, ${ready.model.nEmbd} wide, vocabulary ${ready.model.vocabSize})` : undefined, bytes: ready.modelBytes },
  page: { backend: ready.backend, threads: ready.threads, loadSeconds },
  link: { rttMs: net?.rttMs, bandwidthBps: net?.bandwidthBps },
  promptTokens: PROMPT_TOKENS,
  decodeTokens: TOKENS,
  rounds: ROUNDS,
  rows,
  /** The same model in transformers.js in this browser, against the edge-only page. */
  peer: peerResult,
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
if (peerResult) {
  const t = peerResult.transformersjs, o = peerResult.edgeOnly, q = peerResult.ratios;
  const mib = (m?: PageMemory): string => (m?.bytes !== undefined ? fmt(m.bytes / 2 ** 20) : (m?.error ?? '–'));
  const x = (r: number | null): string => (r === null ? '–' : `${fmt(r, 2)}×`);
  console.log(`\nthe peer in the same Chromium: transformers.js ${t.version} (onnxruntime-web ${t.onnxruntimeWeb}, ${t.wasm.split('/').at(-1)}, ${t.threads} threads; ${t.loadedAs})`);
  console.log(`against our edge-only page (onnxruntime-web ${ready.backend}, ${o.threads} threads), fp32 weights both; ${PROMPT_TOKENS}-token prompt, ${TOKENS} tokens × ${ROUNDS} rounds\n`);
  console.log('| | ours: edge only | transformers.js | ours / transformers.js |');
  console.log('|---|---:|---:|---:|');
  console.log(`| decode ms / token (median) | ${fmt(o.decodeMedianMs, 2)} | ${fmt(t.decodeMedianMs, 2)} | ${x(q.decodeMedian)} |`);
  console.log(`| decode ms / token (p95) | ${fmt(o.decodeP95Ms, 2)} | ${fmt(t.decodeP95Ms, 2)} | ${x(q.decodeP95)} |`);
  console.log(`| decode ms / token (mean) | ${fmt(o.decodeMeanMs, 2)} | ${fmt(t.decodeMeanMs, 2)} | ${x(q.decodeMean)} |`);
  console.log(`| decode ms / token (wall clock over the run) | ${fmt(o.decodeWallMsPerToken, 2)} | ${fmt(t.decodeWallMsPerToken, 2)} | ${x(q.decodeWall)} |`);
  console.log(`| prefill ms (${PROMPT_TOKENS} tokens, first token) | ${fmt(o.prefillMs)} | ${fmt(t.prefillMs)} | ${x(q.prefill)} |`);
  console.log(`| load s (navigation to ready) | ${fmt(o.loadSeconds, 2)} | ${fmt(t.loadSeconds, 2)} | ${x(q.load)} |`);
  console.log(`| page memory MiB after load | ${mib(o.memory.loaded)} | ${mib(t.memory.loaded)} | ${x(q.memoryLoaded)} |`);
  console.log(`| page memory MiB after the runs | ${mib(o.memory.afterRuns)} | ${mib(t.memory.afterRuns)} | ${x(q.memoryAfterRuns)} |`);
  console.log(`| tokens | ${o.tokens} | ${t.tokens} | ${t.sameTokensAsEdgeOnly ? 'same tokens' : 'differ'} |`);
  if (t.offsiteRequests.length) console.log(`\nwarning: the transformers.js page requested ${t.offsiteRequests.length} URLs off the local server, e.g. ${t.offsiteRequests[0]}`);
  const g = peerResult.goal;
  console.log(
    g.decodeRatio === null
      ? '\ngoal (edge only ≤ 1.0× transformers.js per token): not measured'
      : `\ngoal (edge only ≤ ${fmt(GOAL, 1)}× transformers.js per token): ${g.met ? 'met' : 'missed'}: ${fmt(g.decodeRatio, 2)}× (${g.met ? `${fmt((1 - g.decodeRatio) * 100, 0)} % under` : `${fmt((g.decodeRatio - 1) * 100, 0)} % over`})`,
  );
}
console.log(`\nload average (1 min) before/after: ${loadBefore[0]!.toFixed(2)} / ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} CPUs`);
console.log(`wrote ${resolve(a.out)} and ${resolve(a.shot)}`);
