// Checkpoints as Hugging Face transformers saves them, from safetensors bytes (browser-safe), for
// every model family (core's arch/ says which tensors a family needs, their keys and layouts).
// GPT2LMHeadModel prefixes every key with "transformer." and LlamaForCausalLM with "model."; with
// tied embeddings "lm_head.weight" is left out. Buffers older transformers saved (GPT-2's causal
// masks, LLaMA's rotary inv_freq) are skipped. nn.Linear weights ([out, in]) are transposed to the
// engine's [in, out] as they are read.
import { familyOf, parseHfConfig, transpose } from '@splitwise/core';
import type { Float32Tensor, ModelConfig, Gpt2Checkpoint } from '@splitwise/core';
import { DuplicateTensorError, MissingTensorError, UnsupportedDtypeError, WrongShapeError } from './errors.ts';
import { FLOAT_DTYPES, parseSafetensors, readFloat32 } from './safetensors.ts';
import type { ReadFloat32Options, SafetensorsDtype, SafetensorsFile } from './safetensors.ts';

/** A checkpoint plus what the loader skipped and why (unknown tensors). */
export interface LoadedGpt2Checkpoint extends Gpt2Checkpoint {
  warnings: string[];
}

const PREFIX = 'transformer.';

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
  /** Shape in the engine ([in, out] projections). */
  shape: number[];
  /** Shape in the file; reversed from `shape` when the tensor is transposed on load. */
  storedShape: number[];
  transposed: boolean;
  fileName: string;
  source: T;
}

/**
 * Match the tensors in a set of files (one file, or the shards of one checkpoint) against what the
 * config needs, without reading any data: so a 6 GB load fails in milliseconds on a bad header.
 * Throws DuplicateTensorError, MissingTensorError, WrongShapeError or UnsupportedDtypeError.
 */
export function planTensors<T extends StoredTensor>(
  config: ModelConfig,
  files: ReadonlyArray<{ fileName: string; tensors: Iterable<T> }>,
): { picks: Array<TensorPick<T>>; warnings: string[] } {
  const family = familyOf(config);
  const roles = new Map(family.tensors(config).map((r) => [r.name, r]));
  const expected = new Map([...roles].map(([n, r]) => [n, r.storedShape]));
  const hfTensorName = family.hfKey;
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
      const name = family.canonicalName(t.name);
      if (name === null) continue; // buffers every runtime rebuilds
      if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue; // tied: the head is wte
      if (!expected.has(name)) {
        warnings.push(`${file.fileName}: ignoring tensor "${t.name}", which ${config.family} with this config does not use`);
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
    const transposed = roles.get(name)!.transposed;
    picks.push({ name, shape: transposed ? [...shape].reverse() : shape, storedShape: shape, transposed, fileName: f.fileName, source: f.source });
  }
  return { picks, warnings };
}

/** @deprecated the GPT-2-era name of planTensors. */
export const planGpt2Tensors = planTensors;

/** A pick's data in the engine's layout (transposed from the file's when the family says so). */
export function toEngineLayout(pick: { storedShape: number[]; transposed: boolean }, data: Float32Array): Float32Array {
  return pick.transposed ? transpose(data, pick.storedShape[0]!, pick.storedShape[1]!) : data;
}

export interface LoadGpt2Options extends ReadFloat32Options {
  /** Names for the files in error messages (default "model.safetensors", or "shard i of n"). */
  fileNames?: readonly string[];
}

/**
 * Load a checkpoint of any family from config.json (parsed JSON) and one safetensors file or all shards of
 * a sharded one (model-0000i-of-0000n.safetensors; the order does not matter, duplicates are an
 * error). Unknown tensors are skipped and listed in `warnings`. Aligned F32 tensors are zero-copy
 * views into the given bytes unless `copy` is set; other dtypes are converted into fresh arrays.
 */
export function loadCheckpoint(
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
  const { picks, warnings } = planTensors(
    config,
    files.map((f) => ({ fileName: f.fileName, tensors: f.tensors.values() })),
  );
  const tensors = new Map<string, Float32Tensor>();
  for (const p of picks) tensors.set(p.name, { shape: p.shape, data: toEngineLayout(p, readFloat32(p.source, opts)) });
  return { config, tensors, warnings };
}

/** @deprecated the GPT-2-era name of loadCheckpoint (which reads every family). */
export const loadGpt2Checkpoint = loadCheckpoint;
