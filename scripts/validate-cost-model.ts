// npm run validate:cost-model — the cost model against end-to-end timings of the real engine
// (gpt2-small shape, random weights, both sides on this machine, both priced with the profile
// measured here). For many plans: the prefill of a 32-token prompt and the median decode step.
//   compute    in-process, links that only copy (no network): compute-only check
//   emulated   EmulatedLink: tensors through the wire codec, real sleeps of RTT/2 + bytes/bandwidth
//   socket     the real SocketLink to a real createCloudServer on loopback (when both packages exist)
// Prints per-plan errors and the mean absolute percentage error per setting; writes JSON.
//
//   npx tsx scripts/validate-cost-model.ts [--decode 8] [--out docs/cost-model-validation.json]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EdgeExecutor, PRESETS, cloudOnlyPlan, edgeOnlyPlan, halfPlan, layerSplitPlan, randomPlan, type CloudLink, type PartitionPlan, type WirePrecision } from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { createEngineRig } from '../packages/policy/src/node/engine.ts';
import { EmulatedLink } from '../packages/policy/src/emulated-link.ts';
import { CostModel, passTime, type NetworkState } from '../packages/policy/src/cost-model.ts';
import { loadProfile } from '../packages/policy/src/node/files.ts';

const { values: args } = parseArgs({
  options: {
    decode: { type: 'string', default: '8' },
    prompt: { type: 'string', default: '32' },
    out: { type: 'string', default: 'docs/cost-model-validation.json' },
    'no-socket': { type: 'boolean', default: false },
  },
});
const DECODE = Number(args.decode), PROMPT = Number(args.prompt);
const config = PRESETS.gpt2;
const ckpt = makeRandomGpt2(config, 0);
const rig = await createEngineRig(ckpt);
const graph = rig.graph;
const profile = loadProfile('node-epyc-2vcpu');
const model = new CostModel(graph, profile, profile);
const L = config.nLayer;

const mixedTail = (g: typeof graph): PartitionPlan => ({
  ...layerSplitPlan(g, 6),
  layers: layerSplitPlan(g, 6).layers.map((l, i) => (i === 5 ? { cloudHeads: [6, 7, 8, 9, 10, 11], cloudFfnChunks: [] } : l)),
});
const oneMixed = (g: typeof graph): PartitionPlan => ({ ...edgeOnlyPlan(g), layers: edgeOnlyPlan(g).layers.map((l, i) => (i === 4 ? { cloudHeads: [0, 1, 2, 3, 4, 5], cloudFfnChunks: [] } : l)) });
const plans: Array<[string, PartitionPlan]> = [
  ['edge-only', edgeOnlyPlan(graph)],
  ['cloud-only', cloudOnlyPlan(graph)],
  ['half', halfPlan(graph)],
  ['layers:3', layerSplitPlan(graph, 3)],
  ['layers:6', layerSplitPlan(graph, 6)],
  ['layers:9', layerSplitPlan(graph, 9)],
  ['layers:6 + mixed boundary', mixedTail(graph)],
  ['one mixed attention', oneMixed(graph)],
  ...Array.from({ length: 8 }, (_, i) => [`random:${i}`, randomPlan(graph, i)] as [string, PartitionPlan]),
];
const prompt = Array.from({ length: PROMPT }, (_, i) => (i * 7919 + 11) % config.vocabSize);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Row {
  setting: string;
  plan: string;
  syncsPerToken: number;
  prefillMs: number;
  prefillPredMs: number;
  decodeMs: number;
  decodePredMs: number;
}
const rows: Row[] = [];

async function measure(edge: EdgeExecutor): Promise<{ prefill: number; decode: number }> {
  await edge.reset();
  let t = performance.now();
  await edge.forward(prompt);
  const prefill = performance.now() - t;
  const d: number[] = [];
  for (let k = 0; k < DECODE; k++) {
    t = performance.now();
    await edge.forward([(k * 104729 + 13) % config.vocabSize]);
    d.push(performance.now() - t);
  }
  return { prefill, decode: median(d) };
}

function predict(plan: PartitionPlan, precision: WirePrecision, net: NetworkState): { prefill: number; decode: number } {
  const c = model.compile(plan, precision);
  const pre = passTime(c.prefill(PROMPT), c.rowBytes, 0, net).ms;
  const dec = median(Array.from({ length: DECODE }, (_, k) => passTime(c.decode, c.rowBytes, PROMPT + k, net).ms));
  return { prefill: pre, decode: dec };
}

async function runSetting(setting: string, precision: WirePrecision, net: NetworkState, link: (cloud: Parameters<Parameters<typeof rig.pair>[1]>[0]) => CloudLink): Promise<void> {
  for (const [name, plan] of plans) {
    const { edge } = await rig.pair(plan, link);
    await measure(edge); // warm-up (builds constant layer graphs, gathers weights)
    const m = await measure(edge);
    const p = predict(plan, precision, net);
    rows.push({ setting, plan: name, syncsPerToken: model.compile(plan, precision).syncsPerPass, prefillMs: m.prefill, prefillPredMs: p.prefill, decodeMs: m.decode, decodePredMs: p.decode });
    const r = rows.at(-1)!;
    console.log(
      `${setting.padEnd(28)} ${name.padEnd(26)} syncs ${String(r.syncsPerToken).padStart(2)}  prefill ${r.prefillMs.toFixed(1).padStart(7)} (pred ${r.prefillPredMs.toFixed(1).padStart(7)})  decode ${r.decodeMs.toFixed(2).padStart(7)} (pred ${r.decodePredMs.toFixed(2).padStart(7)})`,
    );
  }
}

const E = config.nEmbd;
await runSetting('compute (in-process)', 'fp32', { rttMs: 0, upMbps: Infinity, downMbps: Infinity }, (c) => new EmulatedLink(c, E, { sleep: false }));
await runSetting('emulated 20 ms, 50/20 Mbit/s', 'fp16', { rttMs: 20, upMbps: 20, downMbps: 50 }, (c) => new EmulatedLink(c, E, { precision: 'fp16', rttMs: 20, upMbps: 20, downMbps: 50 }));
await runSetting('emulated 50 ms, 10/5 Mbit/s', 'int8', { rttMs: 50, upMbps: 5, downMbps: 10 }, (c) => new EmulatedLink(c, E, { precision: 'int8', rttMs: 50, upMbps: 5, downMbps: 10 }));

// the real socket.io link to the real server, on loopback
let socketNote = 'not run';
if (!args['no-socket']) {
  try {
    const { createCloudServer } = await import('@splitwise/server');
    const { SocketLink } = await import('@splitwise/link-socketio');
    const { makeModel } = await import('@splitwise/checkpoint/node');
    const root = await mkdtemp(join(tmpdir(), 'splitwise-validate-'));
    await makeModel({ config: 'gpt2', seed: 0, outDir: join(root, 'model') });
    const server = await createCloudServer({ modelDir: join(root, 'model'), port: 0, logLevel: 'silent', threads: 2 });
    try {
      const probe = await SocketLink.connect(graph, { url: server.url, probeEveryMs: 0 });
      const rtts: number[] = [];
      for (let i = 0; i < 50; i++) rtts.push(await probe.probe());
      await probe.close();
      const rtt = median(rtts);
      socketNote = `loopback, probe RTT median ${rtt.toFixed(2)} ms; priced with that RTT and unlimited bandwidth`;
      for (const [name, plan] of plans) {
        const link = await SocketLink.connect(graph, { url: server.url, precision: 'fp32', probeEveryMs: 0 });
        const { edge } = await rig.pair(plan, () => link);
        await measure(edge);
        const m = await measure(edge);
        const p = predict(plan, 'fp32', { rttMs: rtt, upMbps: Infinity, downMbps: Infinity });
        rows.push({ setting: 'socket.io loopback', plan: name, syncsPerToken: model.compile(plan, 'fp32').syncsPerPass, prefillMs: m.prefill, prefillPredMs: p.prefill, decodeMs: m.decode, decodePredMs: p.decode });
        const r = rows.at(-1)!;
        console.log(`${'socket.io loopback'.padEnd(28)} ${name.padEnd(26)} syncs ${String(r.syncsPerToken).padStart(2)}  prefill ${r.prefillMs.toFixed(1).padStart(7)} (pred ${r.prefillPredMs.toFixed(1).padStart(7)})  decode ${r.decodeMs.toFixed(2).padStart(7)} (pred ${r.decodePredMs.toFixed(2).padStart(7)})`);
        await link.close();
      }
    } finally {
      await server.close();
      await rm(root, { recursive: true, force: true });
    }
  } catch (e) {
    socketNote = `skipped: ${(e as Error).message}`;
    console.log(`socket setting ${socketNote}`);
  }
}
await rig.release();

const settings = [...new Set(rows.map((r) => r.setting))];
const mape = (xs: Row[], k: 'prefill' | 'decode'): number => xs.reduce((a, r) => a + Math.abs(r[`${k}PredMs`] - r[`${k}Ms`]) / r[`${k}Ms`], 0) / xs.length;
const summary = settings.map((s) => {
  const xs = rows.filter((r) => r.setting === s);
  return { setting: s, plans: xs.length, prefillMape: mape(xs, 'prefill'), decodeMape: mape(xs, 'decode') };
});
console.log('\nMAPE (mean absolute percentage error):');
for (const s of summary) console.log(`${s.setting.padEnd(28)} prefill ${(100 * s.prefillMape).toFixed(1)} %   decode ${(100 * s.decodeMape).toFixed(1)} %   (${s.plans} plans)`);
await writeFile(
  args.out,
  JSON.stringify({ command: `npx tsx scripts/validate-cost-model.ts --decode ${DECODE} --prompt ${PROMPT}`, date: new Date().toISOString().slice(0, 10), model: 'gpt2 shape, random weights', profile: profile.name, socket: socketNote, summary, rows }, null, 1) + '\n',
);
console.log(`wrote ${args.out}`);
