// npx tsx scripts/fit-link-overhead.ts — the per-call software overhead of a sync point, measured
// on the real engine, for the cost model's LinkOverhead term (profiles/link-overhead-node.json).
//
// For 20 plans that are NOT validation plans (scripts/cost-model-bench.ts: sync counts 1 to 12 with
// and without mixed blocks, random plans of seeds 100-109), the real engine is timed (32-token
// prefill right after a reset, median decode step) over
//   in-process        EmulatedLink without sleeps (rows through the fp32 codec), both sides here
//   socket-loopback   the real SocketLink to a real createCloudServer in this process, on loopback
// and the cost model (profile node-epyc-2vcpu, sharedCores: both sides use these 2 cores) predicts
// each pass. The residual measured - predicted is fitted, per link, by weighted least squares
// (weights 1/measured^2, i.e. relative error) as
//   residual = bias[prefill|decode] + msPerCall * calls + msPerByte * bytes moved + gatherMsPerByte * gathered bytes
// with non-negative terms (every subset tried, the best non-negative one kept). The bias is the
// compute profile's own error at the time, fitted so that it does not leak into the per-call
// terms, and not used by the cost model. Gathered bytes (prefill only): the weights of the cloud's
// share of each mixed block, which the cloud re-gathers at the first pass after every reset.
//
//   npx tsx scripts/fit-link-overhead.ts [--decode 8] [--prompt 32] [--reps 3] [--out packages/policy/profiles/link-overhead-node.json]
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { decodeRows, encodeRows } from '@splitwise/protocol';
import { EmulatedLink } from '../packages/policy/src/emulated-link.ts';
import { CostModel, type LinkOverhead } from '../packages/policy/src/cost-model.ts';
import { loadProfile } from '../packages/policy/src/node/files.ts';
import { weightedLsq, type LinkOverheadEntry, type LinkOverheadProfile, type MapePair, type OverheadLink } from '../packages/policy/src/profile.ts';
import { config, createBench, fitPlans, loadAverage, predictPlan, startLoopbackCloud, type Timing } from './cost-model-bench.ts';

const { values: args } = parseArgs({
  options: {
    decode: { type: 'string', default: '8' },
    prompt: { type: 'string', default: '32' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string', default: 'packages/policy/profiles/link-overhead-node.json' },
  },
});
const DECODE = Number(args.decode), PROMPT = Number(args.prompt), REPS = Number(args.reps);
const opts = { prompt: PROMPT, decode: DECODE, reps: REPS };
const load0 = loadAverage(), t0 = performance.now();
console.log(`load average at start: ${load0.join(' ')}`);

const bench = await createBench();
const graph = bench.graph, E = config.nEmbd;
const profile = loadProfile('node-epyc-2vcpu');
const model = new CostModel(graph, profile, profile);
const plans = fitPlans(graph);

// ---------- direct bounds ----------
// the in-process link's codec: encodeRows + decodeRows at fp32 (one row up and down, and a 32-row prefill's)
function codecMs(rows: number): number {
  const x = new Float32Array(rows * E).map((_, i) => Math.sin(i));
  const N = rows > 1 ? 300 : 3000;
  for (let i = 0; i < 100; i++) decodeRows(encodeRows(x, E, 'fp32'), { cols: E });
  const t = performance.now();
  for (let i = 0; i < N; i++) decodeRows(encodeRows(x, E, 'fp32'), { cols: E });
  return (performance.now() - t) / N;
}
const codec1 = codecMs(1), codec32 = codecMs(PROMPT);
const codecMsPerByte = (codec32 - codec1) / ((PROMPT - 1) * E * 4);

// ---------- measurements ----------
interface Obs {
  plan: string;
  link: OverheadLink;
  regime: 'prefill' | 'decode';
  calls: number;
  bytes: number;
  gatherBytes: number;
  measuredMs: number;
  /** Predicted with sharedCores and no overhead; and with neither (the model as it was). */
  predShared: number;
  predBefore: number;
}
const obs: Obs[] = [];
const rttOf: Record<OverheadLink, number> = { 'in-process': 0, 'socket-loopback': 0 };

function record(link: OverheadLink, name: string, t: Timing): void {
  const plan = plans.find((p) => p[0] === name)![1], c = model.compile(plan, 'fp32');
  const net = { rttMs: rttOf[link], upMbps: Infinity, downMbps: Infinity };
  const shared = predictPlan(model, plan, 'fp32', net, opts, { sharedCores: true }), before = predictPlan(model, plan, 'fp32', net, opts);
  for (const regime of ['prefill', 'decode'] as const) {
    const pm = regime === 'prefill' ? c.prefill(PROMPT) : c.decode;
    obs.push({
      plan: name,
      link,
      regime,
      calls: pm.calls.length,
      bytes: pm.calls.reduce((a, x) => a + (x.rowsUp + x.rowsDown) * pm.n * c.rowBytes, 0),
      gatherBytes: regime === 'prefill' ? pm.calls.reduce((a, x) => a + x.gatherBytes, 0) : 0,
      measuredMs: t[regime],
      predShared: shared[regime],
      predBefore: before[regime],
    });
  }
  console.log(
    `${link.padEnd(16)} ${name.padEnd(30)} calls ${String(c.syncsPerPass).padStart(2)}  prefill ${t.prefill.toFixed(1).padStart(7)} (pred ${shared.prefill.toFixed(1).padStart(6)})  decode ${t.decode.toFixed(2).padStart(6)} (pred ${shared.decode.toFixed(2).padStart(6)})`,
  );
}

for (const [name, plan] of plans) record('in-process', name, await bench.inProcess(plan, (c) => new EmulatedLink(c, E, { sleep: false }), opts));

const cloud = await startLoopbackCloud(bench);
rttOf['socket-loopback'] = cloud.rttMs;
console.log(`socket probe RTT median ${cloud.rttMs.toFixed(3)} ms`);
try {
  for (const [name, plan] of plans) record('socket-loopback', name, await cloud.time(plan, opts));
} finally {
  await cloud.close();
}
await bench.release();

// ---------- fit ----------
const lsq = (X: number[][], y: number[], w: number[], use: number[]): number[] | undefined => weightedLsq(X, y, w, use, 1e-30);

const mapeOf = (xs: Obs[], pred: (o: Obs) => number): MapePair => {
  const m = (r: 'prefill' | 'decode'): number => {
    const s = xs.filter((o) => o.regime === r);
    return s.reduce((a, o) => a + Math.abs(pred(o) - o.measuredMs) / o.measuredMs, 0) / s.length;
  };
  return { prefill: m('prefill'), decode: m('decode') };
};

function fit(link: OverheadLink): LinkOverheadEntry {
  const xs = obs.filter((o) => o.link === link);
  // columns: bias prefill, bias decode, calls, bytes (MB), gathered bytes (MB)
  const X = xs.map((o) => [o.regime === 'prefill' ? 1 : 0, o.regime === 'decode' ? 1 : 0, o.calls, o.bytes / 1e6, o.gatherBytes / 1e6]);
  const y = xs.map((o) => o.measuredMs - o.predShared), w = xs.map((o) => 1 / o.measuredMs ** 2);
  let best: { coef: number[]; sse: number } | undefined;
  for (let m = 0; m < 8; m++) {
    const use = [0, 1, ...[2, 3, 4].filter((_, i) => m & (1 << i))];
    const coef = lsq(X, y, w, use);
    if (!coef || coef.slice(2).some((v) => v < 0 || !Number.isFinite(v))) continue;
    const sse = X.reduce((a, x, r) => a + w[r]! * (y[r]! - x.reduce((s, v, j) => s + v * coef[j]!, 0)) ** 2, 0);
    if (!best || sse < best.sse) best = { coef, sse };
  }
  const c = best!.coef;
  const overhead: LinkOverhead = { msPerCall: c[2]!, msPerByte: c[3]! / 1e6, gatherMsPerByte: c[4]! / 1e6 };
  // the full model (passTime with the terms), not the linearisation, on the fit plans
  const net = { rttMs: rttOf[link], upMbps: Infinity, downMbps: Infinity };
  const full = (o: Obs): number => predictPlan(model, plans.find((p) => p[0] === o.plan)![1], 'fp32', net, opts, { overhead, sharedCores: true })[o.regime];
  return {
    ...overhead,
    sharedCores: true,
    what:
      link === 'in-process'
        ? 'both sides in one Node process, EmulatedLink without sleeps (rows through encodeRows/decodeRows at fp32), 2 intra-op threads per side on 2 cores'
        : `the real SocketLink to a real createCloudServer in the same process, on loopback (probe RTT median ${cloud.rttMs.toFixed(3)} ms, priced as the RTT; the terms are on top of it)`,
    fit: {
      plans: plans.map((p) => p[0]),
      rows: xs.length,
      passBiasMs: { prefill: c[0]!, decode: c[1]! },
      mapeBefore: mapeOf(xs, (o) => o.predBefore),
      mapeSharedCores: mapeOf(xs, (o) => o.predShared),
      mapeAfter: mapeOf(xs, full),
      direct:
        link === 'in-process'
          ? { codecMsPerCallOneRowEachWay: 2 * codec1, codecMsPerByte }
          : { probeRttMs: cloud.rttMs },
    },
  };
}

const links = { 'in-process': fit('in-process'), 'socket-loopback': fit('socket-loopback') };
const load1 = loadAverage(), wall = (performance.now() - t0) / 1000;
for (const [k, e] of Object.entries(links)) {
  const p = (m: MapePair): string => `prefill ${(100 * m.prefill).toFixed(1)} % decode ${(100 * m.decode).toFixed(1)} %`;
  console.log(
    `\n${k}: ${e.msPerCall.toFixed(3)} ms/call + ${(e.msPerByte * 1e6).toFixed(2)} ms/MB moved; gather ${(e.gatherMsPerByte * 1e6).toFixed(2)} ms/MB; bias prefill ${e.fit.passBiasMs.prefill.toFixed(2)} ms decode ${e.fit.passBiasMs.decode.toFixed(2)} ms`,
  );
  console.log(`  fit-plan MAPE: before ${p(e.fit.mapeBefore)} | sharedCores ${p(e.fit.mapeSharedCores)} | + overhead ${p(e.fit.mapeAfter)}`);
}
console.log(`load average at end: ${load1.join(' ')}; wall ${wall.toFixed(0)} s`);

const out: LinkOverheadProfile = {
  version: 1,
  name: 'link-overhead-node',
  description:
    'Per-call software overhead of a sync point on the real engine (gpt2 shape, random weights), both sides on one 2-core machine: for the cost model\'s LinkOverhead term (LinkCostOptions), used by scripts/validate-cost-model.ts. Not used by the simulator or the trained policy.',
  measurement: {
    date: new Date().toISOString().slice(0, 10),
    command: `npx tsx scripts/fit-link-overhead.ts --decode ${DECODE} --prompt ${PROMPT} --reps ${REPS}`,
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}; wall ${wall.toFixed(0)} s`,
    runtime: `onnxruntime-node, CPU EP, 2 intra-op threads per side, no spinning; node ${process.version}`,
    loadAverageStart: load0,
    loadAverageEnd: load1,
  },
  links,
  notes: [
    'msPerCall and msPerByte are charged on every cloud call, on the critical path (passTime adds them to the cloud side of the call).',
    'gatherMsPerByte is charged at the first pass of a sequence only: the cloud executor resets its runner through the edge-only plan on every reset, which clears its gathered weight subsets, so the first pass of every request re-gathers the weights of the cloud share of each mixed block.',
    'passBiasMs is the compute profile\'s per-pass error at the time of the fit; it is fitted so that it does not leak into the per-call terms and is not part of the cost model.',
    `The ${plans.length} fit plans are disjoint from the 16 validation plans (scripts/cost-model-bench.ts), so the validation error with these terms is out of sample.`,
  ],
};
await writeFile(args.out, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${args.out}`);
