// GPT-2 checkpoints as Hugging Face transformers saves them, from safetensors bytes (browser-safe).
// GPT2LMHeadModel prefixes every key with "transformer." and, with tied embeddings, leaves
// "lm_head.weight" out; GPT2Model has no prefix. Checkpoints from older transformers also carry
// the non-persistent causal-mask buffers h.N.attn.bias / h.N.attn.masked_bias, which we skip.
import { expectedTensors, parseHfConfig } from '@splitwise/core';
import type { Float32Tensor, GPT2Config, Gpt2Checkpoint } from '@splitwise/core';
import { DuplicateTensorError, MissingTensorError, UnsupportedDtypeError, WrongShapeError } from './errors.ts';
import { FLOAT_DTYPES, parseSafetensors, readFloat32 } from './safetensors.ts';
import type { ReadFloat32Options, SafetensorsDtype, SafetensorsFile } from './safetensors.ts';

/** A checkpoint plus what the loader skipped and why (unknown tensors). */
export interface LoadedGpt2Checkpoint extends Gpt2Checkpoint {
  warnings: string[];
}

const PREFIX = 'transformer.';
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Our canonical name for a key in a GPT2LMHeadModel or GPT2Model state dict. */
export const canonicalTensorName = (key: string): string => (key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key);

/** The key GPT2LMHeadModel uses for a canonical name (what we write). */
export const hfTensorName = (name: string): string => (name === 'lm_head.weight' ? name : PREFIX + name);

/** What the planner needs to know about a stored tensor; `T` carries the caller's handle to it. */
export interface StoredTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

export interface TensorPick<T extends StoredTensor> {
  /** Canonical name, e.g. "h.0.attn.c_attn.weight". */
  name: string;
  shape: number[];
  fileName: string;
  source: T;
}

/**
 * Match the tensors in a set of files (one file, or the shards of one checkpoint) against what the
 * config needs, without reading any data: so a 6 GB load fails in milliseconds on a bad header.
 * Throws DuplicateTensorError, MissingTensorError, WrongShapeError or UnsupportedDtypeError.
 */
export function planGpt2Tensors<T extends StoredTensor>(
  config: GPT2Config,
  files: ReadonlyArray<{ fileName: string; tensors: Iterable<T> }>,
): { picks: Array<TensorPick<T>>; warnings: string[] } {
  const expected = expectedTensors(config);
  const found = new Map<string, { key: string; fileName: string; source: T }>();
  const seenKeys = new Map<string, string>();
  const warnings: string[] = [];
  for (const file of files) {
    for (const t of file.tensors) {
      const dup = seenKeys.get(t.name);
      if (dup !== undefined) {
        throw new DuplicateTensorError(t.name, `tensor "${t.name}" is in both ${dup} and ${file.fileName}`);
      }
      seenKeys.set(t.name, file.fileName);
      const name = canonicalTensorName(t.name);
      if (MASK_BUFFER.test(name)) continue; // causal-mask buffers, rebuilt by every runtime
      if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue; // tied: the head is wte
      if (!expected.has(name)) {
        warnings.push(`${file.fileName}: ignoring tensor "${t.name}", which GPT-2 with this config does not use`);
        continue;
      }
      const other = found.get(name);
      if (other) {
        throw new DuplicateTensorError(
          name,
          `tensor "${name}" appears twice: as "${other.key}" in ${other.fileName} and as "${t.name}" in ${file.fileName}`,
        );
      }
      found.set(name, { key: t.name, fileName: file.fileName, source: t });
    }
  }

  const where = files.map((f) => f.fileName).join(', ') || '(no files)';
  const picks: Array<TensorPick<T>> = [];
  for (const [name, shape] of expected) {
    const f = found.get(name);
    if (!f) {
      const hint =
        name === 'lm_head.weight' ? ' (config.json sets tie_word_embeddings=false, so an untied LM head is required)' : '';
      throw new MissingTensorError(name, `${where}: tensor "${name}" (or "${hfTensorName(name)}") is missing${hint}`);
    }
    const actual = f.source.shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new WrongShapeError(
        name,
        shape,
        actual,
        `${f.fileName}: tensor "${f.key}" has shape [${actual.join(', ')}] but config.json implies [${shape.join(', ')}]`,
      );
    }
    if (!(FLOAT_DTYPES as readonly string[]).includes(f.source.dtype)) {
      throw new UnsupportedDtypeError(
        f.source.dtype,
        `${f.fileName}: tensor "${f.key}" has dtype ${f.source.dtype}; weights must be one of ${FLOAT_DTYPES.join(', ')}`,
      );
    }
    picks.push({ name, shape, fileName: f.fileName, source: f.source });
  }
  return { picks, warnings };
}

export interface LoadGpt2Options extends ReadFloat32Options {
  /** Names for the files in error messages (default "model.safetensors", or "shard i of n"). */
  fileNames?: readonly string[];
}

/**
 * Load a GPT-2 checkpoint from config.json (parsed JSON) and one safetensors file or all shards of
 * a sharded one (model-0000i-of-0000n.safetensors; the order does not matter, duplicates are an
 * error). Unknown tensors are skipped and listed in `warnings`. Aligned F32 tensors are zero-copy
 * views into the given bytes unless `copy` is set; other dtypes are converted into fresh arrays.
 */
export function loadGpt2Checkpoint(
  configJson: unknown,
  safetensors: Uint8Array | SafetensorsFile | ReadonlyArray<Uint8Array | SafetensorsFile>,
  opts: LoadGpt2Options = {},
): LoadedGpt2Checkpoint {
  const config = parseHfConfig(configJson);
  const inputs = (Array.isArray(safetensors) ? safetensors : [safetensors]) as ReadonlyArray<Uint8Array | SafetensorsFile>;
  const files = inputs.map((x, i): SafetensorsFile => {
    if (!(x instanceof Uint8Array)) return x;
    const name = opts.fileNames?.[i] ?? (inputs.length === 1 ? 'model.safetensors' : `shard ${i + 1} of ${inputs.length}`);
    return parseSafetensors(x, name);
  });
  const { picks, warnings } = planGpt2Tensors(
    config,
    files.map((f) => ({ fileName: f.fileName, tensors: f.tensors.values() })),
  );
  const tensors = new Map<string, Float32Tensor>();
  for (const p of picks) tensors.set(p.name, { shape: p.shape, data: readFloat32(p.source, opts) });
  return { config, tensors, warnings };
}
