// Node-only: convert a llama2.c checkpoint + tokenizer (e.g. stories260K.bin + tok512.bin) into a
// Hugging Face LlamaForCausalLM directory.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MissingFileError } from './errors.ts';
import {
  LLAMA2C_GENERATION_CONFIG,
  llama2cTokenizerConfig,
  llama2cTokenizerJson,
  parseLlama2cCheckpoint,
  parseLlama2cTokenizer,
} from './llama2c.ts';
import { writeSafetensorsFile } from './node-checkpoint.ts';

export interface ImportLlama2cOptions {
  /** llama2.c legacy (version 0) checkpoint, e.g. stories260K.bin. */
  checkpoint: string;
  /** llama2.c tokenizer, e.g. tok512.bin. */
  tokenizer: string;
  outDir: string;
}

export interface ImportLlama2cResult {
  outDir: string;
  parameters: number;
  /** Size of model.safetensors. */
  bytes: number;
  files: string[];
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(path, `${what} not found: ${path}`);
    throw e;
  }
}

const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';

/** sha256 of stories260K.bin as upstream and DaveBben/esp32-llm ship it: the README credits that copy. */
const STORIES260K_SHA256 = 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696';

/** README.md of the output: where the weights come from and under which licence. */
function modelReadme(checkpointName: string, tokenizerName: string, parameters: number, isStories260K: boolean): string {
  const origin = isStories260K
    ? "Andrej Karpathy's `stories260K` from the llama2.c project (https://github.com/karpathy/llama2.c,\n" +
      '`doc/stories260K.md`), trained on TinyStories. This copy of `stories260K.bin` and `tok512.bin` was taken from the\n' +
      'public repository DaveBben/esp32-llm (commit 934dab4d, `data/`), which carries the upstream files unchanged.'
    : "A checkpoint in the format of Andrej Karpathy's llama2.c project (https://github.com/karpathy/llama2.c).";
  return `# ${checkpointName.replace(/\.bin$/, '')} (Hugging Face layout)

A LLaMA-architecture model (${parameters.toLocaleString('en-US')} parameters) converted from llama2.c's \`${checkpointName}\` and
\`${tokenizerName}\` by \`npx splitwise import-llama2c\`.

**Origin and licence.** ${origin}

llama2.c and its tinyllamas models are released under the MIT licence, Copyright (c) 2023 Andrej Karpathy.

**Conversion.** Weights are unchanged float32 values under transformers' LlamaForCausalLM names; the rows of
\`q_proj\` and \`k_proj\` are permuted within each head (as transformers' \`convert_llama_weights_to_hf.py\` does) so
that Hugging Face's rotate_half RoPE computes what llama2.c's interleaved RoPE computes. \`tokenizer.json\` is a
byte-fallback BPE whose merges are ranked by llama2.c's piece scores, so it encodes exactly as llama2.c's
\`encode()\` (BOS added, no EOS).
`;
}

/**
 * Convert a llama2.c checkpoint and tokenizer into `outDir`: config.json, model.safetensors (F32),
 * tokenizer.json, tokenizer_config.json, generation_config.json and README.md (origin, licence).
 */
export async function importLlama2c(opts: ImportLlama2cOptions): Promise<ImportLlama2cResult> {
  const checkpointBytes = await readInput(opts.checkpoint, 'llama2.c checkpoint');
  const ckpt = parseLlama2cCheckpoint(checkpointBytes, opts.checkpoint);
  const isStories260K = createHash('sha256').update(checkpointBytes).digest('hex') === STORIES260K_SHA256;
  // run.c reads exactly vocab_size pieces; the tokenizer must have that many
  const vocab = parseLlama2cTokenizer(await readInput(opts.tokenizer, 'llama2.c tokenizer'), ckpt.header.vocabSize, opts.tokenizer);

  await mkdir(opts.outDir, { recursive: true });
  const byName = new Map(ckpt.tensors.map((t) => [t.name, t.data]));
  const bytes = await writeSafetensorsFile(
    join(opts.outDir, 'model.safetensors'),
    ckpt.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape })),
    (name) => byName.get(name)!,
    { format: 'pt' }, // transformers refuses safetensors files without format metadata
  );
  const parameters = ckpt.tensors.reduce((s, t) => s + t.data.length, 0);
  const files: Record<string, string> = {
    'config.json': json(ckpt.hfConfig),
    'tokenizer.json': JSON.stringify(llama2cTokenizerJson(vocab)),
    'tokenizer_config.json': json(llama2cTokenizerConfig(ckpt.header.seqLen)),
    'generation_config.json': json(LLAMA2C_GENERATION_CONFIG),
    'README.md': modelReadme(basename(opts.checkpoint), basename(opts.tokenizer), parameters, isStories260K),
  };
  await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(opts.outDir, name), text)));
  return { outDir: opts.outDir, parameters, bytes, files: ['model.safetensors', ...Object.keys(files)] };
}
