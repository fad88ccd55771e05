// npm run bench:bound — decode against the physical limit. Decode reads every weight once per
// token, so it is bound by memory bandwidth: the bound is (weight bytes read per token) ÷ (this
// machine's memory read bandwidth). The bandwidth is measured in the same run by a plain C read
// loop over an array far larger than the caches (compiled here with the system's cc; 1 and 2
// threads), and each plan's decode time is reported as a percentage of that bound, at each weight
// precision (fp32, int8, q4; quantized products computed in fp32 and, opt-in, with int8
// activations), all interleaved in every round so that the ratios come from one run.
//
//   npx tsx scripts/bench-bound.ts [--config gpt2] [--tokens 16] [--rounds 4] [--threads 2]
//     [--weights fp32,int8,q4] [--activations fp32,int8] [--out out/bench-bound.json]
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { PRESETS, QUANT_ACTIVATIONS, buildModelGraph, cloudOnlyPlan, decodeWeightBytes, edgeOnlyPlan, parseWeightPrecision, quantizeCheckpoint, type PartitionPlan, type PresetName, type QuantActivations, type WeightPrecision } from '@splitwise/core';
import { makeRandomModel } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic } from '@splitwise/runtime-node';
import { median } from '../packages/cli/src/stats.ts';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'gpt2' },
    tokens: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '4' },
    threads: { type: 'string', default: '2' },
    weights: { type: 'string', default: 'fp32,int8,q4' },
    activations: { type: 'string', default: 'fp32,int8' },
    out: { type: 'string', default: 'out/bench-bound.json' },
  },
});
const preset = args.config as PresetName, config = PRESETS[preset];
if (!config) throw new Error(`unknown preset ${args.config}`);
const TOKENS = Number(args.tokens), ROUNDS = Number(args.rounds), threads = Number(args.threads);

// --- the machine's read bandwidth: sum a 1 GiB array with T threads, best of 5 passes
const C = `#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define N (1UL << 27) /* 2^27 doubles = 1 GiB */
static double *a; static int T; static double part[16];
static void *run(void *p) { long t = (long)p; size_t lo = N / T * t, hi = N / T * (t + 1); double s = 0;
  for (size_t i = lo; i < hi; i += 4) s += a[i] + a[i + 1] + a[i + 2] + a[i + 3]; part[t] = s; return 0; }
int main(int argc, char **argv) { T = atoi(argv[1]); a = malloc(N * sizeof(double));
  for (size_t i = 0; i < N; i++) a[i] = (double)(i & 255);
  double best = 0; for (int r = 0; r < 5; r++) { struct timespec t0, t1; pthread_t th[16];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long t = 0; t < T; t++) pthread_create(&th[t], 0, run, (void *)t);
    for (int t = 0; t < T; t++) pthread_join(th[t], 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, gbps = N * 8.0 / s / 1e9;
    if (gbps > best) best = gbps; }
  double sum = 0; for (int t = 0; t < T; t++) sum += part[t];
  printf("%f %f\\n", best, sum); return 0; }`;
await mkdir('out', { recursive: true });
await writeFile('out/read-bandwidth.c', C);
execFileSync('cc', ['-O2', '-o', 'out/read-bandwidth', 'out/read-bandwidth.c', '-lpthread']);
const bandwidth = (t: number): number => Number(execFileSync(join('out', 'read-bandwidth'), [String(t)]).toString().split(' ')[0]);

// --- decode per token, whole-side plans and the monolithic graph, per weight precision
const ckpt = makeRandomModel(config, 0), graph = buildModelGraph(config);
const precisions = args.weights.split(',').map((w) => parseWeightPrecision(w, '--weights'));
const computes = args.activations.split(',').map((a) => {
  if (!(QUANT_ACTIVATIONS as readonly string[]).includes(a)) throw new Error(`--activations: ${a} is not one of ${QUANT_ACTIVATIONS.join(', ')}`);
  return a as QuantActivations;
});
interface Variant {
  name: string;
  weights: WeightPrecision;
  activations: QuantActivations;
  bytesPerToken: number;
  quantizeMs: number;
  subjects: Array<{ plan: string; forward: (ids: number[]) => Promise<unknown>; reset: () => Promise<void> | void; ms: number[] }>;
}
const variants: Variant[] = [];
for (const weights of precisions) {
  for (const activations of weights === 'fp32' ? (['fp32'] as const) : computes) {
    const t0 = performance.now();
    const q = quantizeCheckpoint(ckpt, weights, { ffnChunks: graph.ffnChunks, activations });
    const quantizeMs = performance.now() - t0;
    const mono = await createMonolithic(q, { intraOpNumThreads: threads });
    const plans: Array<[string, PartitionPlan]> = [['edge-only', edgeOnlyPlan(graph)], ['cloud-only', cloudOnlyPlan(graph)]];
    const splits = await Promise.all(plans.map(([, p]) => createLocalSplit(q, p, { intraOpNumThreads: threads })));
    variants.push({
      name: weights === 'fp32' ? 'fp32' : `${weights}${activations === 'int8' ? ' + int8 activations' : ''}`,
      weights,
      activations,
      bytesPerToken: decodeWeightBytes(config, weights),
      quantizeMs,
      subjects: [
        { plan: 'monolithic', forward: (ids) => mono.forward(ids), reset: () => mono.reset(), ms: [] },
        ...plans.map(([name, p], i) => ({ plan: name, forward: (ids: number[]) => splits[i]!.edge.forward(ids), reset: () => splits[i]!.edge.reset(p), ms: [] as number[] })),
      ],
    });
    process.stderr.write(`built ${variants.at(-1)!.name} (quantized in ${(quantizeMs / 1000).toFixed(1)} s)\n`);
  }
}
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % config.vocabSize);
const bw: number[] = [];
for (let r = 0; r <= ROUNDS; r++) {
  const bwNow = bandwidth(threads);
  for (const v of variants) {
    for (const s of v.subjects) {
      await s.reset();
      await s.forward(prompt);
      for (let t = 0; t < TOKENS; t++) {
        const t0 = performance.now();
        await s.forward([t % config.vocabSize]);
        if (r > 0) s.ms.push(performance.now() - t0); // round 0 warms up
      }
    }
  }
  if (r > 0) bw.push(bwNow);
  process.stderr.write(`round ${r}/${ROUNDS}\r`);
}
const GBps = Math.max(...bw), GBps1 = bandwidth(1);
const fp32Ms = new Map(variants.find((v) => v.weights === 'fp32')?.subjects.map((s) => [s.plan, median(s.ms)]) ?? []);
const rows = variants.flatMap((v) => {
  const boundMs = (v.bytesPerToken / (GBps * 1e9)) * 1e3;
  return v.subjects.map((s) => {
    const m = median(s.ms), base = fp32Ms.get(s.plan);
    return {
      weights: v.name,
      subject: s.plan,
      weightMiBPerToken: +(v.bytesPerToken / 2 ** 20).toFixed(1),
      decodeMsMedian: +m.toFixed(2),
      boundMs: +boundMs.toFixed(2),
      percentOfBound: +((100 * boundMs) / m).toFixed(1),
      effectiveGBps: +(v.bytesPerToken / (m / 1e3) / 1e9).toFixed(1),
      ...(base !== undefined ? { speedupOverFp32: +(base / m).toFixed(2) } : {}),
    };
  });
});
const result = {
  benchmark: 'bound',
  date: new Date().toISOString(),
  model: { preset, family: config.family },
  variants: variants.map((v) => ({ name: v.name, weights: v.weights, activations: v.activations, weightBytesPerToken: v.bytesPerToken, quantizeSeconds: +(v.quantizeMs / 1000).toFixed(2) })),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', loadavg: os.loadavg(), readGBps: { threads: +GBps.toFixed(1), one: +GBps1.toFixed(1) } },
  method: `${ROUNDS} rounds after a warm-up, every variant and plan in each round, ${TOKENS} decode steps each after a 16-token prompt, onnxruntime-node ${threads} intra-op threads; bandwidth: best of 5 passes of a ${threads}-thread C read loop over 1 GiB, measured before each round, best kept`,
  rows,
};
await writeFile(args.out, JSON.stringify(result, null, 1));
console.log(`\ndecode vs the memory-bandwidth bound — ${preset}; read bandwidth ${GBps.toFixed(1)} GB/s (${threads} threads), ${GBps1.toFixed(1)} GB/s (1 thread)\n`);
console.log('weights                   | plan        | MiB/token | decode ms | bound ms | % of bound | effective GB/s | x fp32');
for (const r of rows) {
  console.log(
    `${r.weights.padEnd(25)} | ${r.subject.padEnd(11)} | ${String(r.weightMiBPerToken).padStart(9)} | ${String(r.decodeMsMedian).padStart(9)} | ${String(r.boundMs).padStart(8)} | ${String(r.percentOfBound).padStart(10)} | ${String(r.effectiveGBps).padStart(14)} | ${String(r.speedupOverFp32 ?? '').padStart(6)}`,
  );
}
console.log(`\nJSON: ${args.out}`);
