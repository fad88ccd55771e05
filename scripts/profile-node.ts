// npm run profile:node — measure what each kind of graph call costs on this machine with
// onnxruntime-node, through the engine's own path (SplitSessions + SideRunner over the real
// weightless split graphs and constant-weight layer graphs), and fit time = a + b*GFLOP + c*MB per
// kind and regime. Writes packages/policy/profiles/node-epyc-2vcpu.json (+ .samples.json with every
// measurement) and the derived device profiles (Raspberry Pi 5, Jetson Orin NX 15W, Galaxy S23).
//
//   npx tsx scripts/profile-node.ts [--quick] [--threads 2] [--presets gpt2,gpt2-xl,smollm-135m]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { PresetName } from '@splitwise/core';
import { OrtNodeRuntime } from '@splitwise/runtime-node';
import type { DeviceProfile, Sample } from '../packages/policy/src/profile.ts';
import { effectiveRates, fitProfileKernels, formatFits, profileSweep } from '../packages/policy/src/profiler.ts';
import { derivedProfiles } from '../packages/policy/src/devices.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    /** Model shapes to sweep, comma-separated presets of any family (e.g. gpt2,gpt2-xl,smollm-135m). */
    presets: { type: 'string', default: 'gpt2,gpt2-xl' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: 'packages/policy/profiles' },
    /** Fit again from the saved samples without measuring. */
    refit: { type: 'boolean', default: false },
  },
});
const threads = Number(args.threads), quick = args.quick;
const runtime = new OrtNodeRuntime({ intraOpNumThreads: threads });

// Every point is measured in ROUNDS passes over the whole sweep and the least median kept: the
// machine is shared, and interference only ever adds time. The sweep itself is platform-neutral
// (packages/policy/src/profiler.ts): profile:browser runs the same one in Chromium.
const ROUNDS = quick ? 1 : 3;

const t0 = performance.now();
const load0 = os.loadavg()[0]!;
const previous = args.refit ? (JSON.parse(await readFile(`${args.out}/node-epyc-2vcpu.json`, 'utf8')) as DeviceProfile) : undefined;
const samples: Sample[] = args.refit
  ? (JSON.parse(await readFile(`${args.out}/node-epyc-2vcpu.samples.json`, 'utf8')) as Sample[])
  : await profileSweep(runtime, { quick, rounds: ROUNDS, presets: args.presets.split(',') as PresetName[], onSample: (_, line) => console.log(line) });
const wall = (performance.now() - t0) / 1000;

const kernels = fitProfileKernels(samples);
// effective rates from the largest measured layer calls (gpt2-xl dims)
const effective = effectiveRates(samples);
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
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
for (const line of formatFits(kernels)) console.log(line);
console.log(`effective decode ${measured.measurement!.effectiveDecodeGBps.toFixed(1)} GB/s, prefill ${measured.measurement!.effectivePrefillGflops.toFixed(0)} GFLOP/s; ${wall.toFixed(0)} s`);
