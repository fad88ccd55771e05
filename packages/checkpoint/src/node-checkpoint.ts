// Node-only: GPT-2 checkpoints in Hugging Face directory layout on disk.
// Big models do not fit the easy path: Node cannot readFile more than 2 GiB, one Buffer tops out
// at 4 GiB, and gpt2-xl is 6.2 GB in F32. So files above a threshold are read tensor by tensor
// from their header's offsets, and writing always streams one tensor at a time.
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { InvalidConfigError, PRESETS, QuantizationError, familyOf, parameterCount, parseHfConfig, toHfConfig, transpose } from '@splitwise/core';
import type { Float32Tensor, ModelConfig, Gpt2Checkpoint, PresetName } from '@splitwise/core';
import {
  InvalidHeaderError,
  MissingFileError,
  MissingTensorError,
  TruncatedFileError,
  WrongShapeError,
} from './errors.ts';
import { planTensors, toEngineLayout } from './gpt2-loader.ts';
import type { LoadedGpt2Checkpoint } from './gpt2-loader.ts';
import { randomStoredTensor } from './make-model.ts';
import {
  encodeTensorData,
  layoutSafetensors,
  numel,
  parseSafetensors,
  parseSafetensorsHeader,
  readFloat32,
  readHeaderLength,
} from './safetensors.ts';
import type { SafetensorsHeader, SafetensorsTensor, SafetensorsTensorInfo, TensorSpec, WriteDtype } from './safetensors.ts';
import { writeGpt2TokenizerFiles } from './tokenizer-files.ts';
import { isQuantizedSafetensors, loadQuantizedCheckpoint, quantizedCheckpointTensors } from './quantized.ts';

/** fs.readFile's limit; larger files are read tensor by tensor. */
export const READ_WHOLE_FILE_LIMIT = 2 ** 31 - 1;
const IO_CHUNK = 1 << 30; // one read()/write() call moves at most 2 GiB; stay well below

// ---------------------------------------------------------------- low-level file I/O

async function readFully(fh: FileHandle, target: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await fh.read(target, done, Math.min(target.length - done, IO_CHUNK), position + done);
    if (bytesRead === 0) {
      throw new TruncatedFileError(`${path}: file ends at byte ${position + done}, expected data up to ${position + target.length}`);
    }
    done += bytesRead;
  }
}

async function writeFully(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, IO_CHUNK));
    done += bytesWritten;
  }
}

/** Read and validate only the header of a safetensors file (a few KB, whatever the file size). */
export async function readSafetensorsHeader(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const { size } = await fh.stat();
  const prefix = new Uint8Array(Math.min(8, size));
  await readFully(fh, prefix, 0, path);
  const n = readHeaderLength(prefix, size, path);
  const header = new Uint8Array(n);
  await readFully(fh, header, 8, path);
  return parseSafetensorsHeader(header, size, path);
}

/** One tensor straight from disk as float32: F32 is read into its final array, no extra copy. */
async function readTensorFromFile(fh: FileHandle, header: SafetensorsHeader, t: SafetensorsTensorInfo): Promise<Float32Array> {
  const [b, e] = t.dataOffsets;
  if (t.dtype === 'F32') {
    const out = new Float32Array(numel(t.shape));
    await readFully(fh, new Uint8Array(out.buffer), header.dataStart + b, header.fileName);
    return out;
  }
  const bytes = new Uint8Array(e - b);
  await readFully(fh, bytes, header.dataStart + b, header.fileName);
  return readFloat32({ ...t, bytes, fileName: header.fileName });
}

/**
 * Stream a safetensors file to `path`: header first, then each tensor as `getData` produces it, so
 * only one tensor needs to exist in memory. Written to "<path>.partial" and renamed at the end.
 */
export async function writeSafetensorsFile(
  path: string,
  specs: readonly TensorSpec[],
  getData: (name: string) => Float32Array | Uint8Array | Promise<Float32Array | Uint8Array>,
  metadata?: Record<string, string>,
): Promise<number> {
  const layout = layoutSafetensors(specs, metadata);
  const tmp = `${path}.partial`;
  const fh = await open(tmp, 'w');
  try {
    // One write in flight while the next tensor is produced: generation (main thread) overlaps
    // disk I/O (libuv pool). At most two tensors are alive at once.
    const start = (bytes: Uint8Array): Promise<void> => {
      const p = writeFully(fh, bytes);
      p.catch(() => {}); // awaited below; don't let a failure count as unhandled meanwhile
      return p;
    };
    let pending = start(layout.header);
    try {
      for (const e of layout.entries) {
        const data = await getData(e.name);
        if (data.length !== numel(e.shape)) {
          throw new WrongShapeError(e.name, e.shape, [data.length], `tensor "${e.name}" has ${data.length} values, shape [${e.shape.join(', ')}] needs ${numel(e.shape)}`);
        }
        const bytes = encodeTensorData(e.dtype, data);
        await pending;
        pending = start(bytes);
      }
    } finally {
      await pending; // never close the handle under a running write
    }
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true }); // no half-written file left behind
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  return layout.fileSize;
}

// ---------------------------------------------------------------- loading

export interface LoadFromDirOptions {
  /** Files larger than this are read tensor by tensor (default: 2 GiB - 1, readFile's limit). */
  streamThresholdBytes?: number;
  /** Copy aligned F32 tensors out of the file buffer instead of viewing it (whole-file path only). */
  copy?: boolean;
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(path, `${what} not found: ${path}`);
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidConfigError(`${path} is not valid JSON (${(e as Error).message})`);
  }
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/** The safetensors files of a directory: model.safetensors, or the shards named by the index. */
async function safetensorsFiles(dir: string): Promise<{ paths: string[]; weightMap?: Record<string, string> }> {
  const single = join(dir, 'model.safetensors');
  if (await exists(single)) return { paths: [single] };
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!(await exists(indexPath))) {
    const bin = (await exists(join(dir, 'pytorch_model.bin'))) ? ' (pytorch_model.bin found: convert it to safetensors first)' : '';
    throw new MissingFileError(single, `no weights in ${dir}: neither ${single} nor ${indexPath} exists${bin}`);
  }
  const index = (await readJson(indexPath, 'shard index')) as { weight_map?: unknown };
  const wm = index?.weight_map;
  if (typeof wm !== 'object' || wm === null || !Object.values(wm).every((v) => typeof v === 'string')) {
    throw new InvalidHeaderError(`${indexPath}: "weight_map" must map tensor names to shard file names`);
  }
  const weightMap = wm as Record<string, string>;
  const shards = [...new Set(Object.values(weightMap))];
  for (const s of shards) {
    // Shards live next to the index; refuse paths that would escape the model directory.
    if (isAbsolute(s) || normalize(s).startsWith('..')) throw new InvalidHeaderError(`${indexPath}: shard path "${s}" leaves ${dir}`);
  }
  return { paths: shards.map((s) => join(dir, s)), weightMap };
}

type Source = SafetensorsTensorInfo & { read: () => Promise<Float32Array> };

/**
 * Load a Hugging Face model directory of any supported family: config.json plus model.safetensors or the shards listed in
 * model.safetensors.index.json. Each file under `streamThresholdBytes` is read whole (F32 tensors
 * are then views into that one buffer); larger files are read tensor by tensor, each straight into
 * its own array, so gpt2-xl F32 loads with no second copy of the weights.
 */
export async function loadModelFromDir(dir: string, opts: LoadFromDirOptions = {}): Promise<LoadedGpt2Checkpoint> {
  const threshold = Math.min(opts.streamThresholdBytes ?? READ_WHOLE_FILE_LIMIT, READ_WHOLE_FILE_LIMIT);
  const configJson = await readJson(join(dir, 'config.json'), 'config.json');
  const config = parseHfConfig(configJson);
  const { paths, weightMap } = await safetensorsFiles(dir);
  // `splitwise quantize`'s folders: one file, quantized matrices and the fp32 rest (quantized.ts)
  if (paths.length === 1) {
    const fh = await open(paths[0]!, 'r');
    let header: SafetensorsHeader;
    try {
      header = await readSafetensorsHeader(fh, paths[0]!);
    } finally {
      await fh.close();
    }
    if (isQuantizedSafetensors(header)) {
      const { size } = await stat(paths[0]!);
      if (size > READ_WHOLE_FILE_LIMIT) throw new QuantizationError(`${paths[0]}: quantized checkpoints are read whole, up to 2 GiB; this one is ${size} bytes`);
      return loadQuantizedCheckpoint(configJson, parseSafetensors(await readFile(paths[0]!), paths[0]!));
    }
  }

  const handles: FileHandle[] = [];
  try {
    const files: Array<{ fileName: string; tensors: Source[] }> = [];
    for (const path of paths) {
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw new MissingFileError(path, `shard not found: ${path}`);
      }
      if (size <= threshold) {
        const file = parseSafetensors(await readFile(path), path);
        const tensors = [...file.tensors.values()].map((t: SafetensorsTensor) => ({
          ...t,
          read: async () => readFloat32(t, { copy: opts.copy }),
        }));
        files.push({ fileName: path, tensors });
      } else {
        const fh = await open(path, 'r');
        handles.push(fh);
        const header = await readSafetensorsHeader(fh, path);
        const tensors = [...header.tensors.values()].map((t) => ({ ...t, read: () => readTensorFromFile(fh, header, t) }));
        files.push({ fileName: path, tensors });
      }
    }
    const { picks, warnings } = planTensors(config, files);
    if (weightMap) {
      for (const f of files) {
        for (const t of f.tensors) {
          const listed = weightMap[t.name];
          if (listed !== undefined && join(dir, listed) !== f.fileName) {
            warnings.push(`${f.fileName}: tensor "${t.name}" is listed in the index under ${listed}`);
          }
        }
      }
    }
    const tensors = new Map<string, Float32Tensor>();
    for (const p of picks) tensors.set(p.name, { shape: p.shape, data: toEngineLayout(p, await p.source.read()) });
    return { config, tensors, warnings };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}

/** @deprecated the GPT-2-era name of loadModelFromDir (which reads every family). */
export const loadGpt2FromDir = loadModelFromDir;

// ---------------------------------------------------------------- writing

export interface WriteOptions {
  /** Storage dtype of model.safetensors (default F32). */
  dtype?: WriteDtype;
  /** Also write the GPT-2 tokenizer files (default: when the vocabulary covers GPT-2's 50257 ids). */
  tokenizer?: boolean;
}

/** generation_config.json as transformers writes it for a model without its own. */
const generationConfig = (c: ModelConfig): Record<string, unknown> => ({
  _from_model_config: true,
  bos_token_id: c.bosTokenId,
  eos_token_id: c.eosTokenId,
});

const writeJson = (path: string, v: unknown): Promise<void> => writeFile(path, JSON.stringify(v, null, 2) + '\n');

/**
 * Write a complete Hugging Face model directory (GPT2LMHeadModel, LlamaForCausalLM, ...) whose
 * tensors come from `getStored` (called once per tensor, in file order, with the canonical name and
 * the shape as stored: nn.Linear's [out, in] for LLaMA). Returns the safetensors size.
 */
async function writeModelDir(
  dir: string,
  config: ModelConfig,
  getStored: (name: string, storedShape: number[]) => Float32Array,
  opts: WriteOptions,
): Promise<number> {
  const dtype = opts.dtype ?? 'F32';
  await mkdir(dir, { recursive: true });
  const family = familyOf(config), roles = family.tensors(config);
  const byHfName = new Map(roles.map((r) => [family.hfKey(r.name), r]));
  const specs = roles.map((r) => ({ name: family.hfKey(r.name), dtype, shape: r.storedShape }));
  const size = await writeSafetensorsFile(
    join(dir, 'model.safetensors'),
    specs,
    (hfName) => {
      const r = byHfName.get(hfName)!;
      return getStored(r.name, r.storedShape);
    },
    { format: 'pt' }, // transformers refuses safetensors files without format metadata
  );
  await writeJson(join(dir, 'config.json'), { ...toHfConfig(config), torch_dtype: dtype === 'F16' ? 'float16' : 'float32' });
  await writeJson(join(dir, 'generation_config.json'), generationConfig(config));
  if (opts.tokenizer ?? (config.family === 'gpt2' && config.vocabSize >= 50257)) await writeGpt2TokenizerFiles(dir);
  return size;
}

/**
 * Write `ckpt` as a Hugging Face directory: config.json, model.safetensors (the family's keys, e.g.
 * "transformer." or "model." prefixed, no lm_head when tied), generation_config.json, and for
 * GPT-2 the tokenizer files. Streams tensor by tensor.
 */
export async function writeCheckpoint(dir: string, ckpt: Gpt2Checkpoint, opts: WriteOptions = {}): Promise<void> {
  const roles = new Map(familyOf(ckpt.config).tensors(ckpt.config).map((r) => [r.name, r]));
  for (const [name, r] of roles) {
    const shape = r.transposed ? [...r.storedShape].reverse() : r.storedShape;
    const t = ckpt.tensors.get(name);
    if (!t) throw new MissingTensorError(name, `cannot write checkpoint: tensor "${name}" is missing`);
    if (t.data.length !== numel(shape) || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new WrongShapeError(name, shape, t.shape, `cannot write checkpoint: tensor "${name}" has shape [${t.shape.join(', ')}] (${t.data.length} values), config implies [${shape.join(', ')}]`);
    }
  }
  await writeModelDir(dir, ckpt.config, (name, stored) => {
    const data = ckpt.tensors.get(name)!.data;
    return roles.get(name)!.transposed ? transpose(data, stored[1]!, stored[0]!) : data;
  }, opts);
}

/** @deprecated the GPT-2-era name of writeCheckpoint. */
export const writeGpt2Checkpoint = writeCheckpoint;

export interface MakeModelOptions extends WriteOptions {
  config: ModelConfig | PresetName;
  seed: number;
  outDir: string;
}

/**
 * Generate a random model of any family (see makeRandomModel: same tensors, bit for bit) straight
 * to a Hugging Face directory, one tensor at a time, so even llama2-7b at F16 needs only its
 * largest tensor in memory.
 */
export async function makeModel(opts: MakeModelOptions): Promise<{ dir: string; parameters: number; bytes: number; seconds: number }> {
  const t0 = performance.now();
  const config = typeof opts.config === 'string' ? PRESETS[opts.config] : opts.config;
  if (!config) throw new InvalidConfigError(`unknown preset "${String(opts.config)}" (have ${Object.keys(PRESETS).join(', ')})`);
  const bytes = await writeModelDir(opts.outDir, config, (name, stored) => randomStoredTensor(config, opts.seed, name, stored), opts);
  return { dir: opts.outDir, parameters: parameterCount(config), bytes, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Write a quantized checkpoint (core's quantizeCheckpoint) as a model folder: model.safetensors
 * in the format of quantized.ts, and every other file of `copyFrom` (config.json, tokenizer files,
 * generation_config.json, README) copied as it is; without `copyFrom`, config.json and
 * generation_config.json are written from the config. Returns the safetensors size.
 */
export async function writeQuantizedCheckpoint(dir: string, ckpt: Gpt2Checkpoint, o: { copyFrom?: string } = {}): Promise<number> {
  const { tensors, metadata } = quantizedCheckpointTensors(ckpt);
  await mkdir(dir, { recursive: true });
  if (o.copyFrom) {
    for (const e of await readdir(o.copyFrom, { withFileTypes: true })) {
      if (!e.isFile() || /^model.*\.safetensors(\.index\.json)?$/.test(e.name) || e.name.endsWith('.partial')) continue;
      await copyFile(join(o.copyFrom, e.name), join(dir, e.name));
    }
  } else {
    await writeJson(join(dir, 'config.json'), { ...toHfConfig(ckpt.config), torch_dtype: 'float32' });
    await writeJson(join(dir, 'generation_config.json'), generationConfig(ckpt.config));
  }
  const byName = new Map(tensors.map((t) => [t.name, t.data]));
  return writeSafetensorsFile(join(dir, 'model.safetensors'), tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })), (name) => byName.get(name)!, metadata);
}
