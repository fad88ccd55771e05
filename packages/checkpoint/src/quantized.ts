// Quantized checkpoints on disk (browser-safe): what `npx splitwise quantize` writes and the
// loaders read back. One model.safetensors holds
//   - every tensor that stays fp32 (norms, biases, embedding tables) under its Hugging Face key, F32,
//     in the layout transformers stores it;
//   - every quantized matrix (core's quant/matrix.ts) as three tensors under its key plus a suffix:
//     ".qweight" U8 [N, blocks, blob], ".scales" F32 [N, blocks], and for q4 with zero points
//     ".qzeros" U8 [N, blocks] (one per block, unpacked); the LM head as "lm_head.qweight" etc.;
//   - in __metadata__, "splitwise.quantization": JSON {version, precision, blockSize, ffnChunks,
//     symmetric, activations, matrices: {canonical name: {K, N, segments}}}.
// It is this project's format, not a Hugging Face one: transformers does not read it.
import { QUANT_BLOCK, QUANTIZED_LM_HEAD, QuantizationError, familyOf, parseHfConfig, projectionSegments, quantBlocksOf, blobBytes, transpose } from '@splitwise/core';
import type { Checkpoint, Float32Tensor, ModelConfig, QuantizedMatrix, QuantizedWeights } from '@splitwise/core';
import { InvalidHeaderError, MissingTensorError, WrongShapeError } from './errors.ts';
import { numel, parseSafetensors, readFloat32, type SafetensorsFile, type SafetensorsTensor, type TensorToWrite } from './safetensors.ts';

/** The __metadata__ key that marks a quantized checkpoint. */
export const QUANTIZATION_METADATA_KEY = 'splitwise.quantization';
const FORMAT_VERSION = 1;
const SUFFIX = { data: '.qweight', scales: '.scales', zeroPoints: '.qzeros' } as const;

interface QuantizationMetadata {
  version: number;
  precision: QuantizedWeights['precision'];
  blockSize: number;
  ffnChunks: number;
  symmetric: boolean;
  activations: QuantizedWeights['activations'];
  matrices: Record<string, { K: number; N: number; segments: number[] }>;
}

/** Is this safetensors file a quantized checkpoint (its metadata says so)? */
export const isQuantizedSafetensors = (f: Pick<SafetensorsFile, 'metadata'>): boolean => f.metadata?.[QUANTIZATION_METADATA_KEY] !== undefined;

const keyOf = (c: ModelConfig, name: string): string => (name === QUANTIZED_LM_HEAD ? name : familyOf(c).hfKey(name));

/** The tensors and metadata of a quantized checkpoint's model.safetensors. */
export function quantizedCheckpointTensors(ckpt: Checkpoint): { tensors: TensorToWrite[]; metadata: Record<string, string> } {
  const q = ckpt.quantized;
  if (!q) throw new QuantizationError('this checkpoint is not quantized: write it with writeCheckpoint');
  const c = ckpt.config, f = familyOf(c);
  const tensors: TensorToWrite[] = [];
  for (const r of f.tensors(c)) {
    if (q.matrices.has(r.name) || (r.name === 'lm_head.weight' && q.matrices.has(QUANTIZED_LM_HEAD))) continue;
    const t = ckpt.tensors.get(r.name);
    if (!t) throw new MissingTensorError(r.name, `cannot write checkpoint: tensor "${r.name}" is missing`);
    tensors.push({ name: f.hfKey(r.name), dtype: 'F32', shape: r.storedShape, data: r.transposed ? transpose(t.data, r.storedShape[1]!, r.storedShape[0]!) : t.data });
  }
  const matrices: QuantizationMetadata['matrices'] = {};
  for (const [name, m] of q.matrices) {
    const key = keyOf(c, name), nb = quantBlocksOf(m);
    matrices[name] = { K: m.K, N: m.N, segments: m.segments };
    tensors.push({ name: key + SUFFIX.data, dtype: 'U8', shape: [m.N, nb, blobBytes(m.precision)], data: m.data });
    tensors.push({ name: key + SUFFIX.scales, dtype: 'F32', shape: [m.N, nb], data: m.scales });
    if (m.zeroPoints) tensors.push({ name: key + SUFFIX.zeroPoints, dtype: 'U8', shape: [m.N, nb], data: m.zeroPoints });
  }
  const meta: QuantizationMetadata = { version: FORMAT_VERSION, precision: q.precision, blockSize: QUANT_BLOCK, ffnChunks: q.ffnChunks, symmetric: q.symmetric, activations: q.activations, matrices };
  return { tensors, metadata: { format: 'pt', [QUANTIZATION_METADATA_KEY]: JSON.stringify(meta) } };
}

function parseMetadata(f: SafetensorsFile): QuantizationMetadata {
  const raw = f.metadata?.[QUANTIZATION_METADATA_KEY];
  let m: QuantizationMetadata;
  try {
    m = JSON.parse(raw ?? '') as QuantizationMetadata;
  } catch {
    throw new InvalidHeaderError(`${f.fileName}: "${QUANTIZATION_METADATA_KEY}" metadata is not JSON`);
  }
  if (m?.version !== FORMAT_VERSION) throw new InvalidHeaderError(`${f.fileName}: quantized checkpoint format version ${String(m?.version)}; this reader reads version ${FORMAT_VERSION}`);
  if (m.blockSize !== QUANT_BLOCK) throw new InvalidHeaderError(`${f.fileName}: block size ${m.blockSize}; only ${QUANT_BLOCK} is used`);
  if (m.precision !== 'int8' && m.precision !== 'q4') throw new InvalidHeaderError(`${f.fileName}: unknown precision ${JSON.stringify(m.precision)}`);
  if (typeof m.matrices !== 'object' || m.matrices === null) throw new InvalidHeaderError(`${f.fileName}: no quantized matrices listed`);
  return m;
}

function take(f: SafetensorsFile, key: string, dtype: string, shape: number[]): SafetensorsTensor {
  const t = f.tensors.get(key);
  if (!t) throw new MissingTensorError(key, `${f.fileName}: quantized tensor "${key}" is missing`);
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new WrongShapeError(key, shape, t.shape, `${f.fileName}: "${key}" is ${t.dtype} [${t.shape.join(', ')}], expected ${dtype} [${shape.join(', ')}]`);
  }
  return t;
}

const copyBytes = (t: SafetensorsTensor): Uint8Array => t.bytes.slice();
const floats = (t: SafetensorsTensor): Float32Array => readFloat32(t, { copy: true });

/**
 * A quantized checkpoint from config.json (parsed) and its model.safetensors: the fp32 tensors in
 * the engine's layout and `quantized`, every matrix checked against the family's projections and
 * the FFN chunking it was cut for.
 */
export function loadQuantizedCheckpoint(configJson: unknown, safetensors: Uint8Array | SafetensorsFile): Checkpoint & { warnings: string[] } {
  const config = parseHfConfig(configJson), f = familyOf(config);
  const file = safetensors instanceof Uint8Array ? parseSafetensors(safetensors) : safetensors;
  const meta = parseMetadata(file);
  const expected = new Map<string, { K: number; N: number; segments: number[] }>();
  for (let l = 0; l < config.nLayer; l++) {
    for (const r of f.projections(config, l)) expected.set(r.name, { K: r.K, N: r.N, segments: projectionSegments(config, r, meta.ffnChunks) });
  }
  expected.set(QUANTIZED_LM_HEAD, { K: config.nEmbd, N: config.vocabSize, segments: [config.nEmbd] });
  const matrices = new Map<string, QuantizedMatrix>();
  for (const [name, want] of expected) {
    const got = meta.matrices[name];
    if (!got) throw new MissingTensorError(name, `${file.fileName}: the quantized matrix "${name}" is not listed`);
    if (got.K !== want.K || got.N !== want.N || JSON.stringify(got.segments) !== JSON.stringify(want.segments)) {
      throw new WrongShapeError(name, [want.K, want.N], [got.K, got.N], `${file.fileName}: "${name}" is quantized as [${got.K}, ${got.N}] in segments [${got.segments.join(', ')}]; this config with ${meta.ffnChunks} FFN chunks needs [${want.K}, ${want.N}] in [${want.segments.join(', ')}]`);
    }
    const key = keyOf(config, name), m = { precision: meta.precision, ...want, data: new Uint8Array(0), scales: new Float32Array(0) } as QuantizedMatrix;
    const nb = quantBlocksOf(m);
    m.data = copyBytes(take(file, key + SUFFIX.data, 'U8', [want.N, nb, blobBytes(meta.precision)]));
    m.scales = floats(take(file, key + SUFFIX.scales, 'F32', [want.N, nb]));
    if (meta.precision === 'q4' && !meta.symmetric) m.zeroPoints = copyBytes(take(file, key + SUFFIX.zeroPoints, 'U8', [want.N, nb]));
    matrices.set(name, m);
  }
  const extra = Object.keys(meta.matrices).filter((n) => !expected.has(n));
  if (extra.length > 0) throw new InvalidHeaderError(`${file.fileName}: quantized matrices this config does not have: ${extra.slice(0, 4).join(', ')}`);
  const tensors = new Map<string, Float32Tensor>(), warnings: string[] = [];
  const used = new Set<string>();
  for (const r of f.tensors(config)) {
    if (matrices.has(r.name) || r.name === 'lm_head.weight') continue;
    const key = f.hfKey(r.name), t = file.tensors.get(key);
    if (!t) throw new MissingTensorError(r.name, `${file.fileName}: tensor "${key}" is missing`);
    if (numel(t.shape) !== numel(r.storedShape) || t.shape.some((d, i) => d !== r.storedShape[i])) {
      throw new WrongShapeError(r.name, r.storedShape, t.shape, `${file.fileName}: "${key}" has shape [${t.shape.join(', ')}], expected [${r.storedShape.join(', ')}]`);
    }
    used.add(key);
    const data = floats(t);
    tensors.set(r.name, { shape: r.transposed ? [...r.storedShape].reverse() : r.storedShape, data: r.transposed ? transpose(data, r.storedShape[0]!, r.storedShape[1]!) : data });
  }
  for (const key of file.tensors.keys()) {
    if (!used.has(key) && !Object.values(SUFFIX).some((s) => key.endsWith(s))) warnings.push(`${file.fileName}: skipped unknown tensor "${key}"`);
  }
  return { config, tensors, quantized: { precision: meta.precision, ffnChunks: meta.ffnChunks, symmetric: meta.symmetric, activations: meta.activations ?? 'fp32', matrices }, warnings };
}
