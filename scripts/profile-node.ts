// npm run profile:node — measure what each kind of graph call costs on this machine with
// onnxruntime-node, through the engine's own path (SplitSessions + SideRunner over the real
// weightless split graphs and constant-weight layer graphs), and fit time = a + b*GFLOP + c*MB per
// kind and regime. Writes packages/policy/profiles/node-epyc-2vcpu.json (+ .samples.json with every
// measurement) and the derived device profiles (Raspberry Pi 5, Jetson Orin NX 15W, Galaxy S23).
//
//   npx tsx scripts/profile-node.ts [--quick] [--threads 2]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import {
  PRESETS,
  SideRunner,
  SplitSessions,
  SplitWeights,
  buildModelGraph,
  combine,
  edgeOnlyPlan,
  f32,
  type GPT2Config,
  type PartitionPlan,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { GraphBuilder } from '@splitwise/onnx-graphs';
import { OrtNodeRuntime, graphSource } from '@splitwise/runtime-node';
import { fitSamples, kernelFeatures, shapeFor, type DeviceProfile, type KernelKind, type Regime, type Sample } from '../packages/policy/src/profile.ts';
import { derivedProfiles } from '../packages/policy/src/devices.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: 'packages/policy/profiles' },
    /** Fit again from the saved samples without measuring. */
    refit: { type: 'boolean', default: false },
  },
});
const threads = Number(args.threads), quick = args.quick;
const runtime = new OrtNodeRuntime({ intraOpNumThreads: threads });

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function time(reps: number, warm: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

// Every point is measured in ROUNDS passes over the whole sweep and the least median kept: the
// machine is shared, and interference only ever adds time.
const ROUNDS = quick ? 1 : 3;
const byKey = new Map<string, Sample>();
const push = (kind: KernelKind, regime: Regime, shape: ReturnType<typeof shapeFor>, ms: number): void => {
  const key = JSON.stringify([kind, regime, shape]);
  const prev = byKey.get(key);
  if (!prev || ms < prev.ms) byKey.set(key, { kind, regime, shape, ms });
  const f = kernelFeatures(kind, shape);
  console.log(
    `${kind.padEnd(10)} ${regime.padEnd(7)} E=${shape.E} n=${String(shape.n).padStart(3)} P=${String(shape.P).padStart(3)} h=${String(shape.heads).padStart(2)} w=${String(shape.width).padStart(4)}  ${ms.toFixed(3).padStart(8)} ms  (${f.gflop.toFixed(4)} GFLOP, ${f.mb.toFixed(2)} MB)`,
  );
};

const rand = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);

/** Plan with the first c heads and first c FFN chunks of every layer on the cloud. */
function countPlan(c: GPT2Config, heads: number, chunks: number, K: number): PartitionPlan {
  const layer = { cloudHeads: Array.from({ length: heads }, (_, i) => i), cloudFfnChunks: Array.from({ length: chunks }, (_, i) => i) };
  return { nHead: c.nHead, ffnChunks: K, layers: Array.from({ length: c.nLayer }, () => layer) };
}

async function profileDims(preset: 'gpt2' | 'gpt2-xl'): Promise<void> {
  // Several layers, used in turn: each call streams its weights from memory, as in a real forward
  // pass (one layer's weights measured over and over would sit in the CPU's last-level cache).
  const NL = preset === 'gpt2' ? 8 : 4;
  const config: GPT2Config = { ...PRESETS[preset], nLayer: NL };
  const H = config.nHead, E = config.nEmbd;
  const ckpt = makeRandomGpt2(config, 1);
  const graph = buildModelGraph(config);
  const K = graph.ffnChunks;
  const sessions = await SplitSessions.create(runtime, graphSource(ckpt));
  const counts = quick ? [1, Math.ceil(H / 2), H] : preset === 'gpt2' ? Array.from({ length: H }, (_, i) => i + 1) : [1, 3, 6, 9, 12, 16, 20, 25];
  const pasts = quick ? [127] : [31, 127, 511];
  const prefills = quick ? [64] : [16, 64, 256];
  const decodeReps = quick ? 8 : 24, prefillReps = quick ? 4 : 8;
  let turn = 0;
  const nextLayer = (): number => turn++ % NL;

  // attention of c heads and FFN of c chunks (the cloud side owns them), in every layer
  for (const c of counts) {
    const plan = countPlan(config, c, Math.min(c, K), K);
    const runner = new SideRunner('cloud', new SplitWeights(ckpt, graph), sessions, plan);
    const width = graph.layers[0]!.ffnChunks.slice(0, Math.min(c, K)).reduce((a, r) => a + r.width, 0);
    for (const P of pasts) {
      runner.reset(plan);
      for (let l = 0; l < NL; l++) await runner.attn(l, rand(P * E), P, 0);
      const saved = runner.saveKv(), x = rand(E);
      const ms = await time(decodeReps, NL, async () => {
        runner.restoreKv(saved);
        await runner.attn(nextLayer(), x, 1, P);
      });
      push('attn', 'decode', shapeFor(config, { n: 1, P, heads: c }), ms);
    }
    for (const n of prefills) {
      const x = rand(n * E);
      const ms = await time(prefillReps, NL, async () => {
        runner.reset(plan);
        await runner.attn(nextLayer(), x, n, 0);
      });
      push('attn', 'prefill', shapeFor(config, { n, P: 0, heads: c }), ms);
    }
    const x1 = rand(E);
    push('ffn', 'decode', shapeFor(config, { n: 1, width }), await time(decodeReps, NL, () => runner.ffn(nextLayer(), x1, 1)));
    for (const n of prefills) {
      const x = rand(n * E);
      push('ffn', 'prefill', shapeFor(config, { n, width }), await time(prefillReps, NL, () => runner.ffn(nextLayer(), x, n)));
    }
  }

  // a whole layer in one call (constant-weight graphs), and the LM head
  const edgePlan = edgeOnlyPlan(graph);
  const edge = new SideRunner('edge', new SplitWeights(ckpt, graph), sessions, edgePlan);
  for (const P of pasts) {
    edge.reset(edgePlan);
    for (let l = 0; l < NL; l++) await edge.layer(l, rand(P * E), P, 0);
    const saved = edge.saveKv(), x = rand(E);
    const ms = await time(decodeReps, NL, async () => {
      edge.restoreKv(saved);
      await edge.layer(nextLayer(), x, 1, P);
    });
    push('layer', 'decode', shapeFor(config, { n: 1, P }), ms);
  }
  for (const n of prefills) {
    const x = rand(n * E);
    const ms = await time(prefillReps, NL, async () => {
      edge.reset(edgePlan);
      await edge.layer(nextLayer(), x, n, 0);
    });
    push('layer', 'prefill', shapeFor(config, { n, P: 0 }), ms);
  }
  // the LM head streams the whole [V, E] matrix (larger than any cache): measured as it is
  const xl = rand(E);
  push('lmHead', 'decode', shapeFor(config), await time(decodeReps, 3, () => edge.logits(xl)));

  // adding partial sums into the residual (JavaScript), per row count
  const bias = rand(E);
  for (const n of [1, ...prefills]) {
    const x = rand(n * E), p = rand(n * E);
    push('combine', n > 1 ? 'prefill' : 'decode', shapeFor(config, { n }), await time(50, 10, () => combine(x, bias, [p, p])));
  }
  await sessions.release();
}

/** A graph that does nothing (Identity on [n, E]): the fixed cost of one session run. */
async function profileSessionRun(): Promise<void> {
  for (const E of [768, 1600]) {
    const g = new GraphBuilder('noop');
    const x = g.input('x', 'float32', ['T', E]);
    g.output(g.op('Identity', [x]), 'y', 'float32', ['T', E]);
    const s = await runtime.createSession(g.toBytes(), 'noop');
    for (const n of [1, 64]) {
      const xin = rand(n * E);
      const ms = await time(200, 50, () => s.run({ x: f32(xin, [n, E]) }));
      push('sessionRun', n > 1 ? 'prefill' : 'decode', shapeFor({ ...PRESETS.gpt2, nEmbd: E }, { n }), ms);
    }
    await s.release();
  }
}

const t0 = performance.now();
const load0 = os.loadavg()[0]!;
const previous = args.refit ? (JSON.parse(await readFile(`${args.out}/node-epyc-2vcpu.json`, 'utf8')) as DeviceProfile) : undefined;
if (args.refit) {
  for (const s of JSON.parse(await readFile(`${args.out}/node-epyc-2vcpu.samples.json`, 'utf8')) as Sample[]) byKey.set(JSON.stringify([s.kind, s.regime, s.shape]), s);
} else {
  for (let r = 0; r < ROUNDS; r++) {
    await profileSessionRun();
    await profileDims('gpt2');
    await profileDims('gpt2-xl');
  }
}
const samples = [...byKey.values()];
const wall = (performance.now() - t0) / 1000;

const kinds = ['attn', 'ffn', 'layer', 'lmHead', 'combine', 'sessionRun'] as const;
const kernels = Object.fromEntries(
  kinds.map((k) => {
    const of = (r: Regime) => samples.filter((s) => s.kind === k && s.regime === r);
    // the LM head always runs on one row: both regimes share its decode fit
    const dec = fitSamples(of('decode'));
    return [k, { decode: dec, prefill: k === 'lmHead' ? dec : fitSamples(of('prefill')) }];
  }),
) as DeviceProfile['kernels'];

// effective rates from the largest measured layer calls (gpt2-xl dims)
const xlLayer = (r: Regime) => samples.filter((s) => s.kind === 'layer' && s.regime === r && s.shape.E === 1600);
const dec = xlLayer('decode').find((s) => s.shape.P === 127) ?? xlLayer('decode')[0]!;
const pre = xlLayer('prefill').at(-1)!;
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const effective = {
  effectiveDecodeGBps: (kernelFeatures('layer', dec.shape).mb + kernelFeatures('layer', dec.shape).kvMb) / dec.ms,
  effectivePrefillGflops: (kernelFeatures('layer', pre.shape).gflop * 1000) / pre.ms,
};
const measured: DeviceProfile = {
  version: 1,
  name: 'node-epyc-2vcpu',
  description: `This development machine: ${os.cpus().length} vCPU ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`,
  kind: 'measured',
  runtime: `onnxruntime-node 1.30.0, CPU EP, ${threads} intra-op threads, no spinning, constant-weight layer graphs`,
  memoryBytes: os.totalmem(),
  kernels,
  measurement: previous?.measurement ? { ...previous.measurement, effectiveDecodeGBps: 0, effectivePrefillGflops: 0 } : {
    date: new Date().toISOString().slice(0, 10),
    command: `npx tsx scripts/profile-node.ts${quick ? ' --quick' : ''} --threads ${threads}`,
    machine: `${os.cpus().length} x ${cpu}; ${ROUNDS} rounds, least median per point kept; load average ${load0.toFixed(1)} at start, ${os.loadavg()[0]!.toFixed(1)} at end; wall ${wall.toFixed(0)} s`,
    effectiveDecodeGBps: 0,
    effectivePrefillGflops: 0,
  },
  power: null,
  radio: null,
  notes: [
    'No energy counters on this machine (no RAPL, see shared research toolchain notes): power is null.',
    'attn/ffn samples come from the weightless graphs (weights as inputs); layer samples from constant-weight layer graphs; lmHead from the constant Gemm graph.',
    'Fits minimise relative squared error with non-negative coefficients; mape is on the fit samples.',
  ],
};

Object.assign(measured.measurement!, effective);
await mkdir(args.out, { recursive: true });
await writeFile(`${args.out}/node-epyc-2vcpu.json`, JSON.stringify(measured, null, 2) + '\n');
await writeFile(`${args.out}/node-epyc-2vcpu.samples.json`, JSON.stringify(samples.map((s) => ({ ...s, ms: Number(s.ms.toFixed(4)) }))) + '\n');
for (const p of derivedProfiles(measured)) await writeFile(`${args.out}/${p.name}.json`, JSON.stringify(p, null, 2) + '\n');
console.log('\nfits:');
for (const k of kinds) for (const r of ['decode', 'prefill'] as const) {
  const f = kernels[k][r];
  console.log(`${k.padEnd(10)} ${r.padEnd(7)} a=${f.a.toFixed(4)} ms  b=${f.b.toFixed(3)} ms/GFLOP  c=${f.c.toFixed(4)} ms/MB  d=${f.d.toFixed(4)} ms/KV-MB  n=${f.samples}  MAPE ${(100 * f.mape).toFixed(1)}%`);
}
console.log(`effective decode ${measured.measurement!.effectiveDecodeGBps.toFixed(1)} GB/s, prefill ${measured.measurement!.effectivePrefillGflops.toFixed(0)} GFLOP/s; ${wall.toFixed(0)} s`);
