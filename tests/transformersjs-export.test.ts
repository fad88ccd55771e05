// The folder `splitwise export-transformersjs` writes is the same model for transformers.js:
//   - its onnx/model.onnx (onnx-graphs' buildTransformersJsDecoder) gives the monolithic graph's
//     logits and KV cache within 1e-4 on onnxruntime-node, prefill then decode, for the story
//     model, a GPT-2, a grouped-query LLaMA with an untied head and a Qwen2 with q/k/v biases, and
//     also for a batch of two whose shorter row is left-padded (transformers.js's batch layout);
//   - transformers.js itself (@huggingface/transformers in Node, on onnxruntime-node), loading the
//     folder from disk with no hub access, writes llama2.c's story greedily, token for token what
//     our engine writes, through its text-generation pipeline; and a GPT-2's greedy tokens equal
//     our engine's too.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { MONOLITHIC_IO, PRESETS, buildModelGraph, edgeOnlyPlan, generate, type Checkpoint } from '@splitwise/core';
import { loadModelFromDir, makeModel, makeRandomModel } from '@splitwise/checkpoint/node';
import { buildMonolithicGraph, buildTransformersJsDecoder, TRANSFORMERS_JS_IO as IO } from '@splitwise/onnx-graphs';
import { createLocalSplit } from '@splitwise/runtime-node';
import { exportTransformersJs } from '@splitwise/cli/export-transformersjs';
import { maxAbs, maxAbsDiff, tokenIds } from './helpers.ts';
import { REPO } from './server-process.ts';

const TOL = 1e-4;
const OPENING = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.';
const STORY = join(REPO, 'models/stories260K');
const upstream = JSON.parse(readFileSync(new URL('../packages/checkpoint/src/__fixtures__/llama2c-stories260K-greedy.json', import.meta.url), 'utf8')) as {
  text: string;
  promptIds: number[];
  generatedIds: number[];
};

type Session = ort.InferenceSession;
const session = (bytes: Uint8Array): Promise<Session> =>
  ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const i64 = (xs: number[], dims: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), dims);
const f32 = (t: ort.Tensor | undefined): Float32Array => {
  if (t?.type !== 'float32') throw new Error('expected a float32 output');
  return t.data as Float32Array;
};

/** Logits of every fed position per step, from the monolithic graph (one sequence, caches [KV, P, hd]). */
async function monolithicLogits(s: Session, ckpt: Checkpoint, steps: number[][]): Promise<{ logits: Float32Array[]; kv: Float32Array[] }> {
  const c = ckpt.config, kv: Float32Array[] = Array.from({ length: 2 * c.nLayer }, () => new Float32Array(0));
  const logits: Float32Array[] = [];
  let P = 0;
  for (const ids of steps) {
    const feeds: Record<string, ort.Tensor> = { [MONOLITHIC_IO.inputIds]: i64(ids, [ids.length]) };
    for (let l = 0; l < c.nLayer; l++) {
      feeds[MONOLITHIC_IO.pastKey(l)] = new ort.Tensor('float32', kv[2 * l]!, [c.nKvHead, P, c.headDim]);
      feeds[MONOLITHIC_IO.pastValue(l)] = new ort.Tensor('float32', kv[2 * l + 1]!, [c.nKvHead, P, c.headDim]);
    }
    const r = await s.run(feeds);
    logits.push(f32(r[MONOLITHIC_IO.logits]));
    for (let l = 0; l < c.nLayer; l++) {
      kv[2 * l] = f32(r[MONOLITHIC_IO.presentKey(l)]);
      kv[2 * l + 1] = f32(r[MONOLITHIC_IO.presentValue(l)]);
    }
    P += ids.length;
  }
  return { logits, kv };
}

/**
 * The exported graph fed the way transformers.js feeds it: rows left-padded to the longest prompt
 * (attention_mask 0 there), position_ids = cumsum(attention_mask) - 1 (1 under padding), then one
 * token per row per step. Returns, per row, the logits of its own (unpadded) positions per step.
 */
async function exportedLogits(s: Session, ckpt: Checkpoint, rows: number[][][]): Promise<{ logits: Float32Array[][]; kv: Float32Array[][] }> {
  const c = ckpt.config, B = rows.length, V = c.vocabSize, KVrow = c.nKvHead;
  const pad = rows.map((r) => Math.max(...rows.map((x) => x[0]!.length)) - r[0]!.length);
  let mask: number[][] = rows.map((r, b) => [...Array<number>(pad[b]!).fill(0), ...Array<number>(r[0]!.length).fill(1)]);
  let past: ort.Tensor[] = Array.from({ length: 2 * c.nLayer }, () => new ort.Tensor('float32', new Float32Array(0), [B, KVrow, 0, c.headDim]));
  const logits: Float32Array[][] = rows.map(() => []);
  for (let step = 0; step < rows[0]!.length; step++) {
    const ids = rows.map((r, b) => (step === 0 ? [...Array<number>(pad[b]!).fill(0), ...r[0]!] : r[step]!));
    const T = ids[0]!.length;
    if (step > 0) mask = mask.map((m) => [...m, 1]);
    const positions = mask.map((m) => {
      let n = 0;
      const cum = m.map((v) => (n += v) - 1);
      return cum.map((p, i) => (m[i] === 0 ? 1 : p)).slice(-T);
    });
    const feeds: Record<string, ort.Tensor> = {
      [IO.inputIds]: i64(ids.flat(), [B, T]),
      [IO.attentionMask]: i64(mask.flat(), [B, mask[0]!.length]),
      [IO.positionIds]: i64(positions.flat(), [B, T]),
    };
    for (let l = 0; l < c.nLayer; l++) {
      feeds[IO.pastKey(l)] = past[2 * l]!;
      feeds[IO.pastValue(l)] = past[2 * l + 1]!;
    }
    const r = await s.run(feeds);
    const all = f32(r[IO.logits]);
    expect(r[IO.logits]!.dims).toEqual([B, T, V]);
    rows.forEach((_, b) => logits[b]!.push(all.slice((b * T + (step === 0 ? pad[b]! : 0)) * V, (b + 1) * T * V)));
    past = Array.from({ length: c.nLayer }, (_, l) => [r[IO.presentKey(l)]!, r[IO.presentValue(l)]!]).flat();
  }
  // each row's cache without its padding, as [KV, S, hd]
  const S = mask[0]!.length;
  const kv = rows.map((_, b) =>
    past.map((t) => {
      const d = f32(t), per = KVrow * S * c.headDim, out: number[] = [];
      for (let h = 0; h < KVrow; h++) {
        const base = b * per + h * S * c.headDim;
        out.push(...d.subarray(base + pad[b]! * c.headDim, base + S * c.headDim));
      }
      return Float32Array.from(out);
    }),
  );
  return { logits, kv };
}

const CASES: Array<[string, () => Promise<Checkpoint>]> = [
  ['the story model (stories260K)', () => loadModelFromDir(STORY)],
  ['a GPT-2 (tiny preset)', async () => makeRandomModel(PRESETS.tiny, 5)],
  ['a LLaMA with grouped-query attention and an untied head (llama-tiny)', async () => makeRandomModel(PRESETS['llama-tiny'], 6)],
  ['a Qwen2 with q/k/v biases (qwen2-tiny)', async () => makeRandomModel(PRESETS['qwen2-tiny'], 7)],
];

describe('the transformers.js decoder graph = the monolithic graph', () => {
  for (const [name, load] of CASES) {
    it(`${name}: prefill + decode, alone and left-padded in a batch of two`, async () => {
      const ckpt = await load(), V = ckpt.config.vocabSize;
      const [mono, exported] = await Promise.all([session(buildMonolithicGraph(ckpt)), session(buildTransformersJsDecoder(ckpt))]);
      expect(exported.inputNames).toEqual([IO.inputIds, IO.attentionMask, IO.positionIds, ...Array.from({ length: ckpt.config.nLayer }, (_, l) => [IO.pastKey(l), IO.pastValue(l)]).flat()]);
      const long = [tokenIds(7, 1, V), ...tokenIds(4, 2, V).map((t) => [t])];
      const short = [tokenIds(4, 3, V), ...tokenIds(4, 4, V).map((t) => [t])];
      const alone = await exportedLogits(exported, ckpt, [long]);
      const batch = await exportedLogits(exported, ckpt, [long, short]);
      for (const [b, row] of [long, short].entries()) {
        const want = await monolithicLogits(mono, ckpt, row);
        expect(maxAbs(want.logits[0]!)).toBeGreaterThan(1e-3); // not trivially equal
        const got = b === 0 ? [alone.logits[0]!, batch.logits[0]!] : [batch.logits[1]!];
        for (const g of got) want.logits.forEach((w, step) => expect(maxAbsDiff(g[step]!, w), `row ${b}, step ${step}`).toBeLessThan(TOL));
        want.kv.forEach((w, i) => expect(maxAbsDiff(batch.kv[b]![i]!, w), `row ${b}, cache ${i}`).toBeLessThan(TOL));
      }
      await Promise.all([mono.release(), exported.release()]);
    });
  }
});

describe('transformers.js runs the exported folder', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'splitwise-transformersjs-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** Our engine's greedy tokens (in process, edge-only). */
  async function ours(dir: string, prompt: number[], n: number): Promise<number[]> {
    const ckpt = await loadModelFromDir(dir);
    const split = await createLocalSplit(ckpt, edgeOnlyPlan(buildModelGraph(ckpt.config)));
    const out: number[] = [];
    for await (const t of generate(split.edge, prompt, { maxNewTokens: n, temperature: 0, eosTokenId: ckpt.config.eosTokenId })) out.push(t.id);
    return out;
  }

  it("`splitwise export-transformersjs` + pipeline('text-generation'): the story, token for token as our engine and llama2.c", async () => {
    const out = join(tmp, 'stories260K');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', 'export-transformersjs', '--model', STORY, '--out', out], { cwd: REPO });
    expect(JSON.parse(stdout)).toMatchObject({ modelFile: 'onnx/model.onnx', tokenizer: true });
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8'))['transformers.js_config']).toEqual({ dtype: 'fp32' });

    const { env, pipeline } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = tmp;
    const generator = await pipeline('text-generation', 'stories260K', { device: 'cpu' }); // dtype from config.json
    const n = upstream.generatedIds.length;
    const [answer] = (await generator('Once upon a time', { max_new_tokens: n, do_sample: false })) as Array<{ generated_text: string }>;
    expect(upstream.text.startsWith(answer!.generated_text.trim())).toBe(true);
    expect(answer!.generated_text).toContain(OPENING);

    const { input_ids, attention_mask } = generator.tokenizer('Once upon a time');
    expect(Array.from(input_ids.data as BigInt64Array, Number)).toEqual(upstream.promptIds);
    const generated = (await generator.model.generate({ input_ids, attention_mask, max_new_tokens: n, do_sample: false })) as { data: BigInt64Array };
    const theirs = Array.from(generated.data, Number).slice(upstream.promptIds.length);
    expect(theirs).toEqual(upstream.generatedIds);
    expect(theirs).toEqual(await ours(STORY, upstream.promptIds, n));
    await generator.dispose();
  });

  it('a GPT-2 (tiny preset, random weights): the same greedy tokens as our engine', async () => {
    const dir = join(tmp, 'gpt2-src'), out = join(tmp, 'gpt2tiny');
    await makeModel({ config: 'tiny', seed: 3, outDir: dir });
    await exportTransformersJs(dir, out);
    const { env, AutoModelForCausalLM, Tensor } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = tmp;
    const model = await AutoModelForCausalLM.from_pretrained('gpt2tiny', { device: 'cpu', dtype: 'fp32' });
    const prompt = tokenIds(11, 9, PRESETS.tiny.vocabSize), n = 24;
    const input_ids = new Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
    const attention_mask = new Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
    const generated = (await model.generate({ input_ids, attention_mask, max_new_tokens: n, do_sample: false })) as { data: BigInt64Array };
    const theirs = Array.from(generated.data, Number).slice(prompt.length);
    expect(theirs).toHaveLength(n);
    expect(theirs).toEqual(await ours(dir, prompt, n));
    await model.dispose();
  });
});
