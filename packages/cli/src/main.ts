#!/usr/bin/env node
// `splitwise`: make models, inspect the split engine, generate text.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { PRESETS, QUANT_ACTIVATIONS, SplitwiseError, generate, parseHfConfig, parseWeightPrecision, planToJson, syncPointsPerForward, type ModelConfig, type QuantActivations } from '@splitwise/core';
import { makeModel } from '@splitwise/checkpoint/node';
import { importLlama2c } from '@splitwise/checkpoint/node';
import { readFile } from 'node:fs/promises';
import { loadEngine } from './engine.ts';
import { runClient } from './client.ts';
import { runNetem } from './netem.ts';
import { quantizeModelDir } from './quantize.ts';
import { exportTransformersJs } from './export-transformersjs.ts';

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};
const precision = (flag: string) => (v: string) => {
  try {
    return parseWeightPrecision(v, flag);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};
const activations = (v: string): QuantActivations => {
  if (!(QUANT_ACTIVATIONS as readonly string[]).includes(v)) throw new InvalidArgumentError(`--activations must be one of ${QUANT_ACTIVATIONS.join(', ')}`);
  return v as QuantActivations;
};
const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
};

async function configFrom(spec: string): Promise<ModelConfig> {
  if (spec in PRESETS) return PRESETS[spec as keyof typeof PRESETS];
  if (existsSync(spec)) return parseHfConfig(JSON.parse(await readFile(spec, 'utf8')));
  throw new InvalidArgumentError(`--config must be a preset (${Object.keys(PRESETS).join(', ')}) or a config.json path`);
}

/** The model the repository ships (llama2.c's stories260K in the Hugging Face layout): the default everywhere. */
export const SHIPPED_MODEL_DIR = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));

const program = new Command('splitwise').description('Collaborative edge-cloud LLM inference (GPT-2 and LLaMA families), split per attention unit and FFN chunk.');

program
  .command('make-model')
  .description('write a deterministic random-weight GPT-2 in the Hugging Face layout (config.json, model.safetensors, tokenizer)')
  .requiredOption('--config <name|file>', `preset (${Object.keys(PRESETS).join(', ')}) or a config.json`)
  .option('--seed <n>', 'random seed', int('--seed'), 0)
  .requiredOption('--out <dir>', 'output folder')
  .option('--dtype <F32|F16>', 'storage dtype', 'F32')
  .action(async (o: { config: string; seed: number; out: string; dtype: string }) => {
    if (o.dtype !== 'F32' && o.dtype !== 'F16') throw new InvalidArgumentError('--dtype must be F32 or F16');
    const r = await makeModel({ config: await configFrom(o.config), seed: o.seed, outDir: o.out, dtype: o.dtype });
    console.log(JSON.stringify(r));
  });

program
  .command('import-llama2c')
  .description('convert a llama2.c checkpoint + tokenizer (e.g. stories260K.bin + tok512.bin) to a Hugging Face LLaMA folder')
  .requiredOption('--checkpoint <file>', 'llama2.c legacy (version 0) checkpoint .bin')
  .requiredOption('--tokenizer <file>', 'llama2.c tokenizer .bin (e.g. tok512.bin)')
  .requiredOption('--out <dir>', 'output folder')
  .action(async (o: { checkpoint: string; tokenizer: string; out: string }) => {
    console.log(JSON.stringify(await importLlama2c({ checkpoint: o.checkpoint, tokenizer: o.tokenizer, outDir: o.out })));
  });

program
  .command('export-transformersjs')
  .description('write the folder transformers.js loads (config, tokenizer, onnx/model.onnx: the whole decoder with its KV cache, fp32)')
  .option('--model <dir>', 'model folder (Hugging Face layout); default: the shipped story model', SHIPPED_MODEL_DIR)
  .requiredOption('--out <dir>', 'output folder (pipeline("text-generation", <out>) with env.localModelPath at its parent)')
  .action(async (o: { model: string; out: string }) => {
    console.log(JSON.stringify(await exportTransformersJs(o.model, o.out)));
  });

program
  .command('quantize')
  .description('write a model folder whose weights are int8 (per output channel) or q4 (per 32-block, MatMulNBits layout); every --model command reads it')
  .option('--model <dir>', 'fp32, F16 or BF16 model folder (Hugging Face layout); default: the shipped story model', SHIPPED_MODEL_DIR)
  .requiredOption('--weights <p>', 'int8 | q4')
  .requiredOption('--out <dir>', 'output folder')
  .option('--ffn-chunks <k>', 'FFN chunks per layer the engine will run (default n_head): down projections are quantized in blocks that never cross a chunk', int('--ffn-chunks'))
  .option('--symmetric', 'q4 without zero points')
  .action(async (o: { model: string; weights: string; out: string; ffnChunks?: number; symmetric?: boolean }) => {
    console.log(JSON.stringify(await quantizeModelDir(o)));
  });

const engineOptions = (c: Command): Command =>
  c
    .option('--model <dir>', 'model folder (Hugging Face layout); default: the shipped story model', SHIPPED_MODEL_DIR)
    .option('--plan <spec>', 'edge | cloud | api | half | layers:K | random:SEED | FILE.json (api: token ids to the cloud, which runs everything)', 'edge')
    .option('--ffn-chunks <k>', 'FFN chunks per layer (default n_head)', int('--ffn-chunks'))
    .option('--threads <n>', 'onnxruntime intra-op threads per side', int('--threads'))
    .option('--weights <p>', "weight precision of both sides: fp32 | int8 | q4, quantized at load (default: the folder's own)", precision('--weights'))
    .option('--cloud-weights <p>', "the cloud's weight precision, when it differs from --weights", precision('--cloud-weights'))
    .option('--activations <a>', 'what int8/q4 products compute in: fp32 (the split equals the whole model) | int8 (faster on onnxruntime-node)', activations);

engineOptions(program.command('logits').description('run the split engine once; print the last position\'s logits as JSON'))
  .requiredOption('--ids <list>', 'comma-separated token ids', (v) => v.split(',').map(int('--ids')))
  .action(async (o: { model: string; plan: string; ids: number[]; ffnChunks?: number; threads?: number }) => {
    const e = await loadEngine(o.model, o.plan, o);
    const before = { ...e.link.stats };
    const logits = await e.edge.forward(o.ids);
    const s = e.link.stats;
    console.log(
      JSON.stringify({
        logits: Array.from(logits),
        plan: planToJson(e.edge.plan, e.graph),
        crossings: s.calls - before.calls,
        bytes: { up: s.bytesUp - before.bytesUp, down: s.bytesDown - before.bytesDown, total: s.bytesUp - before.bytesUp + s.bytesDown - before.bytesDown },
      }),
    );
  });

engineOptions(program.command('generate').description('generate text with the split engine'))
  .requiredOption('--prompt <text>', 'prompt')
  .option('--max-new-tokens <n>', 'tokens to generate', int('--max-new-tokens'), 32)
  .option('--temperature <t>', '0 = greedy', num, 0)
  .option('--top-k <k>', '0 = off', int('--top-k'), 0)
  .option('--top-p <p>', '1 = off', num, 1)
  .option('--seed <n>', 'sampling seed', int('--seed'), 0)
  .action(async (o: { model: string; plan: string; prompt: string; maxNewTokens: number; temperature: number; topK: number; topP: number; seed: number; ffnChunks?: number; threads?: number }) => {
    const e = await loadEngine(o.model, o.plan, o);
    if (!e.tokenizer) throw new SplitwiseError('no_tokenizer', `${o.model} has no tokenizer.json`);
    const prompt = e.tokenizer.encodePrompt(o.prompt), text = e.tokenizer.stream(prompt);
    process.stdout.write(o.prompt);
    const ids: number[] = [], ms: number[] = [];
    for await (const t of generate(e.edge, prompt, { ...o, eosTokenId: e.graph.config.eosTokenId })) {
      ids.push(t.id);
      ms.push(t.ms);
      process.stdout.write(text.push(t.id));
    }
    const decode = ms.slice(1).sort((a, b) => a - b);
    process.stdout.write('\n');
    console.error(
      JSON.stringify({
        promptTokens: prompt.length,
        newTokens: ids.length,
        prefillMs: Number(ms[0]?.toFixed(1)),
        decodeMsMedian: decode.length ? Number(decode[decode.length >> 1]!.toFixed(2)) : null,
        syncPointsPerToken: syncPointsPerForward(e.edge.plan),
        link: e.link.stats,
        checkpointBytes: e.edge.checkpointBytes(),
      }),
    );
  });

program
  .command('client')
  .description('the edge as a headless client: fetch the model from a splitwise server, run the edge here, the cloud there')
  .requiredOption('--server <url[,url...]>', 'server URL, e.g. http://127.0.0.1:8080; several, comma-separated, to fail over between')
  .requiredOption('--prompt <text>', 'prompt')
  .option('--model <id>', "which of the server's models (GET /api/models); default: the server's default")
  .option('--plan <spec>', 'edge | cloud | api | half | layers:K | random:SEED | FILE.json (api: token ids leave this machine; the server runs everything)', 'half')
  .option('--precision <p>', 'activations on the wire: fp32 | fp16 | int8', 'fp32')
  .option('--max-new-tokens <n>', 'tokens to generate', int('--max-new-tokens'), 32)
  .option('--threads <n>', 'onnxruntime intra-op threads on the edge', int('--threads'))
  .option('--weights <p>', "the edge's weight precision: fp32 | int8 | q4, quantized at load (the cloud's too, unless --cloud-weights)", precision('--weights'))
  .option('--cloud-weights <p>', "the cloud's weight precision (the server quantizes its copy on the first session that asks)", precision('--cloud-weights'))
  .option('--activations <a>', 'what int8/q4 products compute in on both sides: fp32 (exact) | int8 (faster on onnxruntime-node)', activations)
  .option('--token <t>', 'access token, if the server requires one', process.env.SPLITWISE_TOKEN)
  .option('--temperature <t>', '0 = greedy', num, 0)
  .option('--top-k <k>', '0 = off', int('--top-k'), 0)
  .option('--top-p <p>', '1 = off', num, 1)
  .option('--seed <n>', 'sampling seed', int('--seed'), 0)
  .option('--fallback <mode>', 'while the cloud is unreachable: edge-now | edge-after-retries | wait', 'edge-after-retries')
  .option('--retries <n>', 'retries before the fallback (or giving up, with wait) (default 5)', int('--retries'))
  .option('--retry-initial-ms <ms>', 'first retry delay (default 100)', num)
  .option('--retry-max-ms <ms>', 'cap on one retry delay (default 2000)', num)
  .option('--retry-factor <x>', 'delay growth per retry (default 2)', num)
  .option('--retry-jitter <j>', 'each delay is drawn from [d*(1-j), d] (default 0.5)', num)
  .option('--timeout-ms <ms>', 'a cloud call (and each connect attempt) fails after this long (default 30000)', int('--timeout-ms'))
  .action(runClient);

program
  .command('netem')
  .description('network emulator: a TCP proxy that adds delay, jitter, a bandwidth limit, stalls and cuts between the edge and the cloud')
  .requiredOption('--listen <port>', 'port to listen on (0 = any free one)')
  .requiredOption('--target <host:port>', 'where the cloud listens, e.g. 127.0.0.1:8080')
  .option('--host <addr>', 'interface to listen on', '127.0.0.1')
  .option('--delay <ms>', 'one-way delay, each direction', num)
  .option('--jitter <ms>', 'extra one-way delay, uniform in [0, ms] (order kept)', num)
  .option('--bandwidth <mbit>', 'throughput limit per direction, Mbit/s', num)
  .option('--schedule <file.json>', '{"phases":[{"at":ms,"delayMs"?,"jitterMs"?,"bandwidthMbps"?,"stall"?,"cut"?}],"loopMs"?}')
  .option('--trace <file>', 'bandwidth trace: lines "seconds Mbit/s" (FCC / Norway 3G style); loops')
  .option('--stats-every <s>', 'print conditions and byte counts to stderr every s seconds (0 = only at exit)', num, 5)
  .action(runNetem);

program
  .command('demo')
  .description('generate a story with the shipped model (stories260K), split between an in-process edge and cloud; --gpt2 for the random gpt2-small shape')
  .option('--plan <spec>', 'partition plan', 'half')
  .option('--prompt <text>', 'prompt', 'Once upon a time')
  .option('--gpt2', 'use models/default instead: random weights in the gpt2-small shape (made on first use), for performance work')
  .action(async (o: { plan: string; prompt: string; gpt2?: boolean }) => {
    let dir = SHIPPED_MODEL_DIR;
    if (o.gpt2) {
      dir = join(process.cwd(), 'models', 'default');
      if (!existsSync(join(dir, 'model.safetensors'))) {
        console.error(`making ${dir} (random weights, gpt2-small shape) ...`);
        await makeModel({ config: 'gpt2', seed: 0, outDir: dir });
      }
    }
    await program.parseAsync(['generate', '--model', dir, '--plan', o.plan, '--prompt', o.prompt, '--max-new-tokens', '40'], { from: 'user' });
  });

program.parseAsync().catch((e: unknown) => {
  // typed errors print their code and message, not a stack: they are the user's to act on
  if (e instanceof SplitwiseError) console.error(`splitwise: ${e.code}: ${e.message}`);
  else if (e instanceof InvalidArgumentError) console.error(`splitwise: ${e.message}`);
  else console.error(e);
  process.exitCode = 1;
});
