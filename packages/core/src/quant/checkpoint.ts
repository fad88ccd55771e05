// A checkpoint at a weight precision: every projection matrix (the family's projections()) and the
// LM head quantized to int8 or q4 (quant/matrix.ts), with K segments at the rows of attention units
// (output projections) and FFN chunks (down projections), so that whatever a side owns of a layer
// is a whole quantized tensor. Norms, biases and embedding tables stay fp32. The split graphs,
// per-layer graphs and the monolithic graph all read these same tensors: a quantized split equals
// the monolithic graph quantized the same way.
import { familyOf, type ModelConfig } from '../arch/index.ts';
import { QUANT_ACTIVATIONS, WEIGHT_PRECISIONS, type ProjectionRole, type QuantActivations, type WeightPrecision } from '../arch/precision.ts';
import { QuantizationError } from '../errors.ts';
import { chunkRanges } from '../graph/model-graph.ts';
import { QUANTIZED_LM_HEAD, lmHead, type Checkpoint, type QuantizedWeights } from '../model/checkpoint.ts';
import { quantizeMatrix, type QuantizedMatrix } from './matrix.ts';

export interface QuantizeCheckpointOptions {
  /** FFN chunks per layer of the ModelGraph the quantized checkpoint will serve. @defaultValue n_head (ModelGraph's default) */
  ffnChunks?: number;
  /** q4 without zero points (symmetric around 8). @defaultValue false */
  symmetric?: boolean;
  /**
   * What quantized products compute in: 'fp32' (exact splits) or 'int8' activations (faster on
   * onnxruntime-node; split and whole model then agree to about a quantization step). @defaultValue 'fp32'
   */
  activations?: QuantActivations;
}

/** Parse a weight precision given by a user (CLI flag, URL, hello), or say what is allowed. */
export function parseWeightPrecision(v: unknown, what = 'weight precision'): WeightPrecision {
  if (typeof v === 'string' && (WEIGHT_PRECISIONS as readonly string[]).includes(v)) return v as WeightPrecision;
  throw new QuantizationError(`${what} must be one of ${WEIGHT_PRECISIONS.join(', ')}; got ${JSON.stringify(v)}`);
}

/** The K segments of a projection: one, or the rows of each attention unit, or of each FFN chunk. */
export function projectionSegments(c: ModelConfig, role: ProjectionRole, ffnChunks: number): number[] {
  const f = familyOf(c);
  if (role.rows === 'whole') return [role.K];
  if (role.rows === 'attn-units') return Array.from({ length: f.attnUnits(c) }, () => role.K / f.attnUnits(c));
  return chunkRanges(role.K, ffnChunks).map((r) => r.width);
}

/** The precision a checkpoint's weights are held in. */
export const precisionOf = (ckpt: Checkpoint): WeightPrecision => ckpt.quantized?.precision ?? 'fp32';

/**
 * `ckpt` at weight precision p: the same config, the fp32 tensors that stay fp32 (the quantized
 * matrices are not kept in fp32), and `quantized`. fp32 gives an fp32 `ckpt` itself; a checkpoint
 * already quantized to p is returned as it is (with `activations` if given), to another precision
 * refused. Deterministic: two sides quantizing the same checkpoint hold the same bytes.
 */
export function quantizeCheckpoint<C extends ModelConfig>(ckpt: Checkpoint<C>, p: WeightPrecision, o: QuantizeCheckpointOptions = {}): Checkpoint<C> {
  const precision = parseWeightPrecision(p), activations = o.activations ?? ckpt.quantized?.activations ?? 'fp32';
  if (!(QUANT_ACTIVATIONS as readonly string[]).includes(activations)) throw new QuantizationError(`activations must be one of ${QUANT_ACTIVATIONS.join(', ')}; got ${JSON.stringify(activations)}`);
  if (ckpt.quantized) {
    // a quantized checkpoint (loaded from `splitwise quantize`'s folder) is what it is
    if (ckpt.quantized.precision !== precision) {
      throw new QuantizationError(`this checkpoint holds ${ckpt.quantized.precision} weights; ${precision} needs the fp32 checkpoint it was quantized from`);
    }
    return activations === ckpt.quantized.activations ? ckpt : { ...ckpt, quantized: { ...ckpt.quantized, activations } };
  }
  if (precision === 'fp32') return ckpt;
  const c = ckpt.config, f = familyOf(c), ffnChunks = o.ffnChunks ?? c.nHead;
  if (!Number.isInteger(ffnChunks) || ffnChunks < 1 || ffnChunks > c.nInner) throw new QuantizationError(`ffnChunks must be an integer in [1, ${c.nInner}], got ${ffnChunks}`);
  const symmetric = o.symmetric ?? false;
  const matrices = new Map<string, QuantizedMatrix>();
  const tensors = new Map(ckpt.tensors);
  for (let l = 0; l < c.nLayer; l++) {
    for (const role of f.projections(c, l)) {
      const t = ckpt.tensors.get(role.name);
      if (!t) throw new QuantizationError(`checkpoint has no tensor "${role.name}" to quantize`);
      matrices.set(role.name, quantizeMatrix(t.data, role.K, role.N, precision, projectionSegments(c, role, ffnChunks), { symmetric }));
      tensors.delete(role.name);
    }
  }
  // the LM head [vocab, E] is read as Gemm(transB): [N, K] already
  matrices.set(QUANTIZED_LM_HEAD, quantizeMatrix(lmHead(ckpt), c.nEmbd, c.vocabSize, precision, [c.nEmbd], { layout: 'out-in', symmetric }));
  if (!c.tieWordEmbeddings) tensors.delete('lm_head.weight');
  const quantized: QuantizedWeights = { precision, ffnChunks, symmetric, activations, matrices };
  return { config: c, tensors, quantized };
}
