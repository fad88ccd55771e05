// npm run measure:quant — what quantized weights cost in accuracy. Not a test: it prints figures.
//
// For each weight precision (int8 per output channel, q4 per 32-block) and what quantized products
// compute in (fp32 activations, the exact default; int8 activations, the fast option), against the
// fp32 model, teacher-forced token by token through the monolithic graph quantized that way:
//   - the real story model (models/stories260K) on a held-out text written for this purpose
//     (scripts/fixtures/held-out-stories.txt): mean KL(fp32 || quantized) of the next-token
//     distributions, top-1 agreement, perplexity of the text; and greedy continuations of the
//     stories' openings, token for token against fp32's;
//   - the gpt2-small shape (random weights, so only KL and agreement mean anything) on the same text;
//   - with int8 activations a split equals the monolithic graph only to about a rounding step
//     (onnx-graphs' linear.ts says why): the split's largest logit difference from the monolithic
//     graph and its greedy agreement with it, on the story model, next to the exact fp32-activation
//     path.
//
//   npx tsx scripts/measure-quant.ts [--greedy 48] [--gpt2-tokens 64] [--out out/measure-quant.json]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PRESETS, argmax, buildModelGraph, halfPlan, randomPlan, type Checkpoint, type MonolithicRunner, type PartitionPlan, type QuantActivations, type WeightPrecision } from '@splitwise/core';
import { makeRandomModel } from '@splitwise/checkpoint';
import { gpt2Tokenizer, loadModelFromDir, loadTokenizerFromDir } from '@splitwise/checkpoint/node';
import { createLocalSplit, createMonolithic } from '@splitwise/runtime-node';
import { klFromLogits, logSoftmax } from '../packages/cli/src/stats.ts';

const { values: args } = parseArgs({
  options: {
    greedy: { type: 'string', default: '48' },
    'gpt2-tokens': { type: 'string', default: '64' },
    out: { type: 'string', default: 'out/measure-quant.json' },
  },
});
const GREEDY = Number(args.greedy), GPT2_TOKENS = Number(args['gpt2-tokens']);

interface Variant {
  name: string;
  weights: WeightPrecision;
  activations: QuantActivations;
}
const VARIANTS: Variant[] = [
  { name: 'int8', weights: 'int8', activations: 'fp32' },
  { name: 'q4', weights: 'q4', activations: 'fp32' },
  { name: 'int8 + int8 activations', weights: 'int8', activations: 'int8' },
  { name: 'q4 + int8 activations', weights: 'q4', activations: 'int8' },
];


/** Logits at every position of each text (teacher-forced one token at a time, as decoding runs). */
async function teacherForced(mono: MonolithicRunner, texts: number[][]): Promise<Float32Array[][]> {
  const out: Float32Array[][] = [];
  for (const ids of texts) {
    mono.reset();
    const per: Float32Array[] = [];
    for (const id of ids) per.push((await mono.forward([id])).slice());
    out.push(per);
  }
  return out;
}

async function greedy(forward: (ids: number[]) => Promise<Float32Array>, reset: () => Promise<void> | void, prompt: number[], n: number): Promise<number[]> {
  await reset();
  const out: number[] = [];
  let logits = await forward(prompt);
  while (out.length < n) {
    out.push(argmax(logits));
    if (out.length < n) logits = await forward([out.at(-1)!]);
  }
  return out;
}

interface Row {
  model: string;
  variant: string;
  positions: number;
  meanKl: number;
  maxKl: number;
  top1Agreement: number;
  perplexity?: number;
  perplexityFp32?: number;
  greedyAgreement?: number;
  greedyCommonPrefix?: number;
}

/** KL, top-1 agreement and (with `targets`) perplexity of `got` against `ref`, over every position. */
function compare(ref: Float32Array[][], got: Float32Array[][], texts: number[][], withPerplexity: boolean): Omit<Row, 'model' | 'variant'> {
  let kl = 0, maxKl = 0, agree = 0, n = 0, nll = 0, nllRef = 0, targets = 0;
  ref.forEach((rs, i) =>
    rs.forEach((r, t) => {
      const g = got[i]![t]!, k = klFromLogits(r, g);
      kl += k;
      maxKl = Math.max(maxKl, k);
      agree += argmax(r) === argmax(g) ? 1 : 0;
      n++;
      const next = texts[i]![t + 1];
      if (next !== undefined) {
        nll -= logSoftmax(g)[next]!;
        nllRef -= logSoftmax(r)[next]!;
        targets++;
      }
    }),
  );
  return {
    positions: n,
    meanKl: kl / n,
    maxKl,
    top1Agreement: agree / n,
    ...(withPerplexity ? { perplexity: Math.exp(nll / targets), perplexityFp32: Math.exp(nllRef / targets) } : {}),
  };
}

const rows: Row[] = [];
const splitRows: Array<{ variant: string; plan: string; maxAbsLogitDiff: number; greedyAgreement: number }> = [];

// ---------------------------------------------------------------- the story model, held-out text
{
  const dir = 'models/stories260K';
  const ckpt = (await loadModelFromDir(dir)) as Checkpoint;
  const tok = await loadTokenizerFromDir(dir);
  const stories = (await readFile('scripts/fixtures/held-out-stories.txt', 'utf8')).split(/\n\s*\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  const texts = stories.map((s) => tok.encodePrompt(s));
  const openings = stories.map((s) => tok.encodePrompt(s.split(/\s+/).slice(0, 4).join(' ')));
  console.log(`story model: ${stories.length} held-out stories, ${texts.reduce((a, t) => a + t.length, 0)} tokens; greedy ${GREEDY} tokens from each story's first 4 words`);
  const fp32 = await createMonolithic(ckpt);
  const ref = await teacherForced(fp32, texts);
  const refGreedy: number[][] = [];
  for (const o of openings) refGreedy.push(await greedy((ids) => fp32.forward(ids), () => fp32.reset(), o, GREEDY));
  const fp32Row = compare(ref, ref, texts, true);
  rows.push({ model: 'stories260K', variant: 'fp32', ...fp32Row, greedyAgreement: 1, greedyCommonPrefix: GREEDY });
  for (const v of VARIANTS) {
    const mono = await createMonolithic(ckpt, { weights: v.weights, activations: v.activations });
    const got = await teacherForced(mono, texts);
    let same = 0, prefix = 0;
    for (const [i, o] of openings.entries()) {
      const g = await greedy((ids) => mono.forward(ids), () => mono.reset(), o, GREEDY);
      same += g.filter((t, j) => t === refGreedy[i]![j]).length;
      const d = g.findIndex((t, j) => t !== refGreedy[i]![j]);
      prefix += d < 0 ? GREEDY : d;
    }
    rows.push({ model: 'stories260K', variant: v.name, ...compare(ref, got, texts, true), greedyAgreement: same / (GREEDY * openings.length), greedyCommonPrefix: prefix / openings.length });
  }

  // the split against the monolithic graph of the same quantization, exact and int8-activation paths
  const graph = buildModelGraph(ckpt.config);
  const plans: Array<[string, PartitionPlan]> = [['half', halfPlan(graph)], ['random:1', randomPlan(graph, 1)], ['random:2', randomPlan(graph, 2)], ['random:3', randomPlan(graph, 3)]];
  for (const v of VARIANTS) {
    const mono = await createMonolithic(ckpt, { weights: v.weights, activations: v.activations });
    const split = await createLocalSplit(ckpt, plans[0]![1], { weights: v.weights, activations: v.activations });
    const monoGreedy: number[][] = [];
    for (const o of openings) monoGreedy.push(await greedy((ids) => mono.forward(ids), () => mono.reset(), o, GREEDY));
    for (const [name, plan] of plans) {
      let worst = 0, same = 0;
      for (const ids of texts) {
        await split.edge.reset(plan);
        mono.reset();
        for (const id of ids) {
          const a = await split.edge.forward([id]), b = await mono.forward([id]);
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        }
      }
      for (const [i, o] of openings.entries()) {
        const g = await greedy((ids) => split.edge.forward(ids), () => split.edge.reset(plan), o, GREEDY);
        same += g.filter((t, j) => t === monoGreedy[i]![j]).length;
      }
      splitRows.push({ variant: v.name, plan: name, maxAbsLogitDiff: worst, greedyAgreement: same / (GREEDY * openings.length) });
    }
  }
}

// ---------------------------------------------------------------- the gpt2-small shape, random weights
{
  const config = PRESETS.gpt2, ckpt = makeRandomModel(config, 0);
  const text = (await readFile('scripts/fixtures/held-out-stories.txt', 'utf8')).replace(/\s+/g, ' ');
  const ids = [config.bosTokenId, ...gpt2Tokenizer().encode(text).slice(0, GPT2_TOKENS - 1)];
  console.log(`gpt2-small shape, random weights: ${ids.length} tokens of the same text`);
  const fp32 = await createMonolithic(ckpt);
  const ref = await teacherForced(fp32, [ids]);
  const refGreedy = await greedy((x) => fp32.forward(x), () => fp32.reset(), ids.slice(0, 8), 16);
  for (const v of VARIANTS) {
    const mono = await createMonolithic(ckpt, { weights: v.weights, activations: v.activations });
    const g = await greedy((x) => mono.forward(x), () => mono.reset(), ids.slice(0, 8), 16);
    const d = g.findIndex((t, j) => t !== refGreedy[j]);
    rows.push({ model: 'gpt2-small shape (random)', variant: v.name, ...compare(ref, await teacherForced(mono, [ids]), [ids], false), greedyAgreement: g.filter((t, j) => t === refGreedy[j]).length / 16, greedyCommonPrefix: d < 0 ? 16 : d });
  }
}

const f = (x: number | undefined, d = 3): string => (x === undefined ? '' : x < 1e-3 && x > 0 ? x.toExponential(2) : x.toFixed(d));
console.log('\nmodel                     | weights                  | positions | mean KL   | max KL    | top-1 agree | perplexity (fp32) | greedy agree | common prefix');
for (const r of rows) {
  console.log(
    `${r.model.padEnd(25)} | ${r.variant.padEnd(24)} | ${String(r.positions).padStart(9)} | ${f(r.meanKl, 5).padStart(9)} | ${f(r.maxKl, 4).padStart(9)} | ${(100 * r.top1Agreement).toFixed(1).padStart(10)}% | ${r.perplexity !== undefined ? `${f(r.perplexity, 2)} (${f(r.perplexityFp32, 2)})`.padStart(17) : ''.padStart(17)} | ${r.greedyAgreement !== undefined ? `${(100 * r.greedyAgreement).toFixed(1)}%`.padStart(12) : ''} | ${f(r.greedyCommonPrefix, 1).padStart(13)}`,
  );
}
console.log('\nstory model, split vs the monolithic graph quantized the same way (teacher-forced held-out text, then greedy from the openings)');
console.log('weights                  | plan      | max |Δlogit| | greedy agreement');
for (const r of splitRows) console.log(`${r.variant.padEnd(24)} | ${r.plan.padEnd(9)} | ${r.maxAbsLogitDiff.toExponential(2).padStart(12)} | ${(100 * r.greedyAgreement).toFixed(1).padStart(15)}%`);
await mkdir('out', { recursive: true });
await writeFile(args.out, JSON.stringify({ benchmark: 'measure-quant', date: new Date().toISOString(), greedyTokens: GREEDY, gpt2Tokens: GPT2_TOKENS, rows, splitRows }, null, 1));
console.log(`\nJSON: ${args.out}`);
process.exit(0);
