// npm run bench:bound — decode against the physical limit. Decode reads every weight once per
// token, so it is bound by memory bandwidth: the bound is (weight bytes read per token) ÷ (this
// machine's memory read bandwidth). The bandwidth is measured in the same run by a plain C read
// loop over an array far larger than the caches (compiled here with the system's cc; 1 and 2
// threads), and each plan's decode time is reported as a percentage of that bound.
// fp32 weights only: quantized weights (issue 12, item 1) are not built yet.
//
//   npx tsx scripts/bench-bound.ts [--config gpt2] [--tokens 32] [--rounds 4] [--threads 2] [--out out/bench-bound.json]
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { PRESETS, buildModelGraph, cloudOnlyPlan, edgeOnlyPlan, type PartitionPlan, type PresetName } from '@splitwise/core';
import { makeRandomModel } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic } from '@splitwise/runtime-node';
import { median } from '../packages/cli/src/stats.ts';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'gpt2' },
    tokens: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '4' },
    threads: { type: 'string', default: '2' },
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

// --- decode per token, whole-side plans and the monolithic graph
const ckpt = makeRandomModel(config, 0), graph = buildModelGraph(config);
const layerBytes = graph.layers.reduce((a, l) => a + l.heads.reduce((b, h) => b + h.cost.weightBytes, 0) + l.ffnChunks.reduce((b, c) => b + c.cost.weightBytes, 0), 0);
const headBytes = config.vocabSize * config.nEmbd * 4; // the LM head: one row against [V, E]
const bytesPerToken = layerBytes + headBytes;
const mono = await createMonolithic(ckpt, { intraOpNumThreads: threads });
const plans: Array<[string, PartitionPlan]> = [['edge-only', edgeOnlyPlan(graph)], ['cloud-only', cloudOnlyPlan(graph)]];
const splits = await Promise.all(plans.map(([, p]) => createLocalSplit(ckpt, p, { intraOpNumThreads: threads })));
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % config.vocabSize);
const ms: Record<string, number[]> = { monolithic: [], 'edge-only': [], 'cloud-only': [] };
const bw: number[] = [];
for (let r = 0; r <= ROUNDS; r++) {
  const bwNow = bandwidth(threads);
  const take = async (name: string, forward: (ids: number[]) => Promise<unknown>, reset: () => Promise<void> | void): Promise<void> => {
    await reset();
    await forward(prompt);
    for (let t = 0; t < TOKENS; t++) {
      const t0 = performance.now();
      await forward([t % config.vocabSize]);
      if (r > 0) ms[name]!.push(performance.now() - t0); // round 0 warms up
    }
  };
  await take('monolithic', (ids) => mono.forward(ids), () => mono.reset());
  for (const [i, [name, p]] of plans.entries()) await take(name, (ids) => splits[i]!.edge.forward(ids), () => splits[i]!.edge.reset(p));
  if (r > 0) bw.push(bwNow);
  process.stderr.write(`round ${r}/${ROUNDS}\r`);
}
const GBps = Math.max(...bw), GBps1 = bandwidth(1);
const boundMs = (bytesPerToken / (GBps * 1e9)) * 1e3;
const rows = Object.entries(ms).map(([subject, xs]) => {
  const m = median(xs);
  return { subject, decodeMsMedian: +m.toFixed(2), boundMs: +boundMs.toFixed(2), percentOfBound: +((100 * boundMs) / m).toFixed(1), effectiveGBps: +(bytesPerToken / (m / 1e3) / 1e9).toFixed(1) };
});
const result = {
  benchmark: 'bound',
  date: new Date().toISOString(),
  model: { preset, family: config.family, weightBytesPerToken: bytesPerToken, precision: 'fp32' },
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', loadavg: os.loadavg(), readGBps: { threads: +GBps.toFixed(1), one: +GBps1.toFixed(1) } },
  method: `${ROUNDS} rounds after a warm-up, ${TOKENS} decode steps each after a 16-token prompt, onnxruntime-node ${threads} intra-op threads; bandwidth: best of 5 passes of a ${threads}-thread C read loop over 1 GiB, measured before each round, best kept`,
  rows,
};
await writeFile(args.out, JSON.stringify(result, null, 1));
console.log(`\ndecode vs the memory-bandwidth bound — ${preset} fp32 (${(bytesPerToken / 2 ** 20).toFixed(0)} MiB of weights read per token); read bandwidth ${GBps.toFixed(1)} GB/s (${threads} threads), ${GBps1.toFixed(1)} GB/s (1 thread)\n`);
console.log('plan        | decode ms | bound ms | % of bound | effective GB/s');
for (const r of rows) console.log(`${r.subject.padEnd(11)} | ${String(r.decodeMsMedian).padStart(9)} | ${String(r.boundMs).padStart(8)} | ${String(r.percentOfBound).padStart(10)} | ${String(r.effectiveGBps).padStart(14)}`);
console.log(`\nJSON: ${args.out}`);
