// npm run validate:cost-model — the cost model against end-to-end timings of the real engine
// (gpt2-small shape, random weights, both sides on this machine, both priced with the profile
// measured here). For many plans: the prefill of a 32-token prompt and the median decode step.
//   compute    in-process, links that only copy (no network): compute-only check
//   emulated   EmulatedLink: tensors through the wire codec, real sleeps of RTT/2 + bytes/bandwidth
//   socket     the real SocketLink to a real createCloudServer on loopback (when both packages exist)
// Each setting is priced twice: by the cost model as the simulator uses it (no link overhead, the
// overlap of a mixed block credited), and with the measured per-call overhead and sharedCores (the
// LinkCostOptions of profiles/link-overhead-node.json: in-process for compute and emulated,
// socket-loopback for the socket), fitted by scripts/fit-link-overhead.ts on plans disjoint from
// these. Prints per-plan errors and the mean absolute percentage error per setting; writes JSON.
//
//   npx tsx scripts/validate-cost-model.ts [--decode 8] [--prompt 32] [--reps 3] [--out docs/cost-model-validation.json]
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CloudHandler, CloudLink, PartitionPlan, WirePrecision } from '@splitwise/core';
import { EmulatedLink } from '../packages/policy/src/emulated-link.ts';
import { CostModel, type LinkCostOptions, type NetworkState } from '../packages/policy/src/cost-model.ts';
import { loadLinkCost, loadLinkOverheadProfile, loadProfile } from '../packages/policy/src/node/files.ts';
import type { OverheadLink } from '../packages/policy/src/profile.ts';
import { config, createBench, loadAverage, predictPlan, startLoopbackCloud, validationPlans, type Timing } from './cost-model-bench.ts';

const { values: args } = parseArgs({
  options: {
    decode: { type: 'string', default: '8' },
    prompt: { type: 'string', default: '32' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string', default: 'docs/cost-model-validation.json' },
    overhead: { type: 'string', default: 'link-overhead-node' },
    'no-socket': { type: 'boolean', default: false },
  },
});
const DECODE = Number(args.decode), PROMPT = Number(args.prompt), REPS = Number(args.reps);
const opts = { prompt: PROMPT, decode: DECODE, reps: REPS };
const load0 = loadAverage();
console.log(`load average at start: ${load0.join(' ')}`);
const bench = await createBench();
const graph = bench.graph;
const profile = loadProfile('node-epyc-2vcpu');
const model = new CostModel(graph, profile, profile);
const overheadProfile = loadLinkOverheadProfile(args.overhead);
const linkCost: Record<OverheadLink, LinkCostOptions> = { 'in-process': loadLinkCost('in-process', args.overhead), 'socket-loopback': loadLinkCost('socket-loopback', args.overhead) };
const plans = validationPlans(graph);

interface Row {
  setting: string;
  plan: string;
  syncsPerToken: number;
  prefillMs: number;
  /** The cost model as the simulator uses it. */
  prefillPredMs: number;
  /** With sharedCores only, and with sharedCores and the per-call overhead. */
  prefillPredSharedMs: number;
  prefillPredOverheadMs: number;
  decodeMs: number;
  decodePredMs: number;
  decodePredSharedMs: number;
  decodePredOverheadMs: number;
}
const rows: Row[] = [];

function record(setting: string, link: OverheadLink, name: string, plan: PartitionPlan, precision: WirePrecision, net: NetworkState, m: Timing): void {
  const p = predictPlan(model, plan, precision, net, opts);
  const s = predictPlan(model, plan, precision, net, opts, { sharedCores: linkCost[link].sharedCores });
  const o = predictPlan(model, plan, precision, net, opts, linkCost[link]);
  rows.push({
    setting,
    plan: name,
    syncsPerToken: model.compile(plan, precision).syncsPerPass,
    prefillMs: m.prefill,
    prefillPredMs: p.prefill,
    prefillPredSharedMs: s.prefill,
    prefillPredOverheadMs: o.prefill,
    decodeMs: m.decode,
    decodePredMs: p.decode,
    decodePredSharedMs: s.decode,
    decodePredOverheadMs: o.decode,
  });
  const r = rows.at(-1)!;
  console.log(
    `${setting.padEnd(28)} ${name.padEnd(26)} syncs ${String(r.syncsPerToken).padStart(2)}  prefill ${r.prefillMs.toFixed(1).padStart(7)} (pred ${r.prefillPredMs.toFixed(1).padStart(7)} / +oh ${r.prefillPredOverheadMs.toFixed(1).padStart(7)})  decode ${r.decodeMs.toFixed(2).padStart(7)} (pred ${r.decodePredMs.toFixed(2).padStart(7)} / +oh ${r.decodePredOverheadMs.toFixed(2).padStart(7)})`,
  );
}

async function runSetting(setting: string, precision: WirePrecision, net: NetworkState, link: (cloud: CloudHandler) => CloudLink): Promise<void> {
  for (const [name, plan] of plans) record(setting, 'in-process', name, plan, precision, net, await bench.inProcess(plan, link, opts));
}

const E = config.nEmbd;
await runSetting('compute (in-process)', 'fp32', { rttMs: 0, upMbps: Infinity, downMbps: Infinity }, (c) => new EmulatedLink(c, E, { sleep: false }));
await runSetting('emulated 20 ms, 50/20 Mbit/s', 'fp16', { rttMs: 20, upMbps: 20, downMbps: 50 }, (c) => new EmulatedLink(c, E, { precision: 'fp16', rttMs: 20, upMbps: 20, downMbps: 50 }));
await runSetting('emulated 50 ms, 10/5 Mbit/s', 'int8', { rttMs: 50, upMbps: 5, downMbps: 10 }, (c) => new EmulatedLink(c, E, { precision: 'int8', rttMs: 50, upMbps: 5, downMbps: 10 }));

// the real socket.io link to the real server, on loopback
let socketNote = 'not run';
if (!args['no-socket']) {
  try {
    const cloud = await startLoopbackCloud(bench);
    try {
      socketNote = `loopback, probe RTT median ${cloud.rttMs.toFixed(2)} ms; priced with that RTT and unlimited bandwidth`;
      const net = { rttMs: cloud.rttMs, upMbps: Infinity, downMbps: Infinity };
      for (const [name, plan] of plans) record('socket.io loopback', 'socket-loopback', name, plan, 'fp32', net, await cloud.time(plan, opts));
    } finally {
      await cloud.close();
    }
  } catch (e) {
    socketNote = `skipped: ${(e as Error).message}`;
    console.log(`socket setting ${socketNote}`);
  }
}
await bench.release();
const load1 = loadAverage();

const settings = [...new Set(rows.map((r) => r.setting))];
type Pred = 'PredMs' | 'PredSharedMs' | 'PredOverheadMs';
const mape = (xs: Row[], k: 'prefill' | 'decode', pred: Pred = 'PredMs'): number => xs.reduce((a, r) => a + Math.abs(r[`${k}${pred}`] - r[`${k}Ms`]) / r[`${k}Ms`], 0) / xs.length;
const summary = settings.map((s) => {
  const xs = rows.filter((r) => r.setting === s);
  return {
    setting: s,
    plans: xs.length,
    prefillMape: mape(xs, 'prefill'),
    decodeMape: mape(xs, 'decode'),
    prefillMapeSharedCores: mape(xs, 'prefill', 'PredSharedMs'),
    decodeMapeSharedCores: mape(xs, 'decode', 'PredSharedMs'),
    prefillMapeOverhead: mape(xs, 'prefill', 'PredOverheadMs'),
    decodeMapeOverhead: mape(xs, 'decode', 'PredOverheadMs'),
  };
});
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`.padStart(7);
console.log('\nMAPE (mean absolute percentage error): the model as the simulator uses it -> sharedCores -> + per-call overhead');
for (const s of summary) {
  console.log(
    `${s.setting.padEnd(28)} prefill ${pct(s.prefillMape)} -> ${pct(s.prefillMapeSharedCores)} -> ${pct(s.prefillMapeOverhead)}   decode ${pct(s.decodeMape)} -> ${pct(s.decodeMapeSharedCores)} -> ${pct(s.decodeMapeOverhead)}   (${s.plans} plans)`,
  );
}
console.log(`load average at start ${load0.join(' ')}, at end ${load1.join(' ')}`);
await writeFile(
  args.out,
  JSON.stringify(
    {
      command: `npx tsx scripts/validate-cost-model.ts --decode ${DECODE} --prompt ${PROMPT} --reps ${REPS}`,
      date: new Date().toISOString().slice(0, 10),
      model: 'gpt2 shape, random weights',
      profile: profile.name,
      overhead: `profiles/${args.overhead}.json (${overheadProfile.measurement.date}, ${overheadProfile.measurement.command}); compute and emulated: in-process, socket: socket-loopback`,
      socket: socketNote,
      loadAverageStart: load0,
      loadAverageEnd: load1,
      summary,
      rows,
    },
    null,
    1,
  ) + '\n',
);
console.log(`wrote ${args.out}`);
