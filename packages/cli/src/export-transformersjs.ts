// `splitwise export-transformersjs`: a model folder (Hugging Face layout: config.json,
// model.safetensors, tokenizer) rewritten as the folder transformers.js loads with
// from_pretrained / pipeline('text-generation', ...): the same JSON files, plus onnx/model.onnx,
// the whole decoder with its KV cache at fp32 (onnx-graphs' buildTransformersJsDecoder).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadModelFromDir } from '@splitwise/checkpoint/node';
import { buildTransformersJsDecoder, TRANSFORMERS_JS_MODEL_FILE } from '@splitwise/onnx-graphs';

/** The JSON files transformers.js reads besides the graph; copied when the model folder has them. */
const SIDE_FILES = ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export interface TransformersJsExport {
  outDir: string;
  /** The graph, relative to outDir. */
  modelFile: string;
  modelBytes: number;
  /** Files written, relative to outDir. */
  files: string[];
  /** Whether a tokenizer came along (without one, use AutoModelForCausalLM with token ids, not the pipeline). */
  tokenizer: boolean;
  seconds: number;
}

export async function exportTransformersJs(modelDir: string, outDir: string): Promise<TransformersJsExport> {
  const t0 = performance.now();
  const ckpt = await loadModelFromDir(modelDir);
  const graph = buildTransformersJsDecoder(ckpt);
  await mkdir(dirname(join(outDir, TRANSFORMERS_JS_MODEL_FILE)), { recursive: true });
  await writeFile(join(outDir, TRANSFORMERS_JS_MODEL_FILE), graph);
  // config.json as it is, plus the weight precision transformers.js should pick by default
  // (without it, WASM defaults to q8, model_quantized.onnx, which this folder does not have)
  const config = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const jsConfig = { ...(config['transformers.js_config'] as Record<string, unknown> | undefined), dtype: 'fp32' };
  await writeFile(join(outDir, 'config.json'), JSON.stringify({ ...config, use_cache: true, 'transformers.js_config': jsConfig }, null, 2) + '\n');
  const files = ['config.json', TRANSFORMERS_JS_MODEL_FILE];
  for (const f of SIDE_FILES) {
    if (!existsSync(join(modelDir, f))) continue;
    await copyFile(join(modelDir, f), join(outDir, f));
    files.push(f);
  }
  return { outDir, modelFile: TRANSFORMERS_JS_MODEL_FILE, modelBytes: graph.byteLength, files, tokenizer: files.includes('tokenizer.json'), seconds: (performance.now() - t0) / 1000 };
}
