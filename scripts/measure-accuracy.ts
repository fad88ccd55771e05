// npm run measure:accuracy — the logit error each wire precision causes, measured on the real
// engine: activations crossing the link go through @splitwise/protocol's encodeRows/decodeRows at
// fp32, fp16 or int8 (EmulatedLink). Teacher-forced over a fixed text, token by token, for several
// plans; compared with the exact fp32 logits. Fits KL per quantised tensor on the logits' path
// (the cost model's accuracy term) and writes packages/policy/profiles/accuracy-gpt2-random.json.
//
//   npx tsx scripts/measure-accuracy.ts [--tokens 48]
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PRESETS, cloudOnlyPlan, edgeOnlyPlan, halfPlan, layerSplitPlan, randomPlan, WIRE_PRECISIONS, type PartitionPlan } from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { gpt2Tokenizer } from '@splitwise/checkpoint/node';
import { createEngineRig } from '../packages/policy/src/node/engine.ts';
import { EmulatedLink } from '../packages/policy/src/emulated-link.ts';
import { passModel, KernelCosts, planCounts } from '../packages/policy/src/cost-model.ts';
import { parseProfile } from '../packages/policy/src/profile.ts';
import { readFileSync } from 'node:fs';

const { values: args } = parseArgs({ options: { tokens: { type: 'string', default: '48' }, out: { type: 'string', default: 'packages/policy/profiles/accuracy-gpt2-random.json' } } });
const TEXT =
  'The edge and the cloud run one transformer together. Each attention head and each slice of the feed-forward network can run on either side, ' +
  'and the residual stream crosses the network wherever the cut falls. How many bits it carries on the way is the question this measurement answers.';

const config = PRESETS.gpt2;
const ckpt = makeRandomGpt2(config, 0);
const ids = gpt2Tokenizer().encode(TEXT).slice(0, Number(args.tokens));
const rig = await createEngineRig(ckpt);
const graph = rig.graph;
const profile = parseProfile(JSON.parse(readFileSync('packages/policy/profiles/node-epyc-2vcpu.json', 'utf8')));
const k = new KernelCosts(graph, profile);

async function logitsOf(plan: PartitionPlan, precision: (typeof WIRE_PRECISIONS)[number]): Promise<Float32Array[]> {
  const { edge } = await rig.pair(plan, (cloud) => new EmulatedLink(cloud, config.nEmbd, { precision, sleep: false }));
  const out: Float32Array[] = [];
  for (const id of ids) out.push((await edge.forward([id])).slice());
  return out;
}

const logSoftmax = (z: Float32Array): Float64Array => {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v);
  let s = 0;
  for (const v of z) s += Math.exp(v - m);
  const ls = Math.log(s) + m;
  return Float64Array.from(z, (v) => v - ls);
};

const reference = await logitsOf(edgeOnlyPlan(graph), 'fp32');
const refLs = reference.map(logSoftmax);
let logitStd = 0;
for (const z of reference) {
  const mean = z.reduce((a, v) => a + v, 0) / z.length;
  logitStd += Math.sqrt(z.reduce((a, v) => a + (v - mean) ** 2, 0) / z.length) / reference.length;
}

const plans: Array<[string, PartitionPlan]> = [
  ['cloud-only', cloudOnlyPlan(graph)],
  ['layers:6', layerSplitPlan(graph, 6)],
  ['half', halfPlan(graph)],
  ['random:1', randomPlan(graph, 1)],
  ['random:2', randomPlan(graph, 2)],
  ['random:3', randomPlan(graph, 3)],
  ['one mixed attn', { ...edgeOnlyPlan(graph), layers: edgeOnlyPlan(graph).layers.map((l, i) => (i === 5 ? { cloudHeads: [0, 1, 2, 3, 4, 5], cloudFfnChunks: [] } : l)) }],
  ['layers:3', layerSplitPlan(graph, 3)],
];
const rows: Array<{ plan: string; precision: string; residualCrossings: number; partialCrossings: number; meanKl: number; maxKl: number; maxAbsLogit: number; relLogitRms: number; top1Agree: number }> = [];
for (const [name, plan] of plans) {
  const pm = passModel(planCounts(graph, plan), k, k, 1);
  for (const precision of WIRE_PRECISIONS) {
    const got = await logitsOf(plan, precision);
    let kl = 0, maxKl = 0, maxAbs = 0, rms = 0, agree = 0;
    got.forEach((z, t) => {
      const lp = refLs[t]!, lq = logSoftmax(z), ref = reference[t]!;
      let klt = 0, se = 0, am = 0, bm = 0;
      for (let i = 0; i < z.length; i++) {
        klt += Math.exp(lp[i]!) * (lp[i]! - lq[i]!);
        se += (z[i]! - ref[i]!) ** 2;
        maxAbs = Math.max(maxAbs, Math.abs(z[i]! - ref[i]!));
        if (z[i]! > z[am]!) am = i;
        if (ref[i]! > ref[bm]!) bm = i;
      }
      kl += Math.max(0, klt) / got.length;
      maxKl = Math.max(maxKl, klt);
      rms += Math.sqrt(se / z.length) / got.length;
      agree += (am === bm ? 1 : 0) / got.length;
    });
    const row = { plan: name, precision, residualCrossings: pm.residualCrossings, partialCrossings: pm.partialCrossings, meanKl: kl, maxKl, maxAbsLogit: maxAbs, relLogitRms: rms / logitStd, top1Agree: agree };
    rows.push(row);
    console.log(
      `${name.padEnd(14)} ${precision.padEnd(5)} res=${String(pm.residualCrossings).padStart(2)} part=${String(pm.partialCrossings).padStart(2)}  KL mean ${kl.toExponential(3)} max ${maxKl.toExponential(3)}  max|dlogit| ${maxAbs.toExponential(3)}  rel rms ${(rms / logitStd).toExponential(3)}  top-1 ${(100 * agree).toFixed(1)}%`,
    );
  }
}
// KL = kr * residual crossings + kp * partial crossings: non-negative least squares, relative error
type P = (typeof WIRE_PRECISIONS)[number];
const klPerResidual = {} as Record<P, number>, klPerPartial = {} as Record<P, number>;
for (const p of WIRE_PRECISIONS) {
  const rs = rows.filter((r) => r.precision === p && r.meanKl > 0);
  if (p === 'fp32' || rs.length === 0) {
    klPerResidual[p] = 0;
    klPerPartial[p] = 0;
    continue;
  }
  const w = rs.map((r) => 1 / r.meanKl ** 2);
  const s = (f: (r: (typeof rs)[number]) => number) => rs.reduce((a, r, i) => a + w[i]! * f(r), 0);
  const a11 = s((r) => r.residualCrossings ** 2), a12 = s((r) => r.residualCrossings * r.partialCrossings), a22 = s((r) => r.partialCrossings ** 2);
  const b1 = s((r) => r.residualCrossings * r.meanKl), b2 = s((r) => r.partialCrossings * r.meanKl);
  const det = a11 * a22 - a12 * a12;
  let kr = (b1 * a22 - b2 * a12) / det, kp = (a11 * b2 - a12 * b1) / det;
  if (!(kr >= 0 && kp >= 0)) {
    // one term alone, whichever fits better
    const onlyR = b1 / a11, onlyP = b2 / a22;
    const err = (x: number, y: number) => rs.reduce((a, r) => a + Math.abs(x * r.residualCrossings + y * r.partialCrossings - r.meanKl) / r.meanKl, 0);
    [kr, kp] = err(onlyR, 0) <= err(0, onlyP) ? [onlyR, 0] : [0, onlyP];
  }
  klPerResidual[p] = kr;
  klPerPartial[p] = kp;
}
const fitMape = Object.fromEntries(
  WIRE_PRECISIONS.filter((p) => p !== 'fp32').map((p) => {
    const rs = rows.filter((r) => r.precision === p && r.meanKl > 0);
    return [p, rs.reduce((a, r) => a + Math.abs(klPerResidual[p] * r.residualCrossings + klPerPartial[p] * r.partialCrossings - r.meanKl) / r.meanKl, 0) / rs.length];
  }),
);
const out = {
  model: 'gpt2 (124M shape) with random weights (seed 0): no trained GPT-2 weights can be fetched here',
  text: TEXT,
  tokens: ids.length,
  command: `npx tsx scripts/measure-accuracy.ts --tokens ${args.tokens}`,
  date: new Date().toISOString().slice(0, 10),
  referenceLogitStd: logitStd,
  klPerResidual,
  klPerPartial,
  fitMape,
  rows,
};
await writeFile(args.out, JSON.stringify(out, null, 2) + '\n');
console.log('KL per residual crossing:', klPerResidual, 'per partial:', klPerPartial, 'fit MAPE:', fitMape);
await rig.release();
