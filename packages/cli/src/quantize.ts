// `splitwise quantize`: a model folder with int8 or q4 weights, made once from an fp32 (or F16/BF16)
// folder, that every command taking --model reads (and runs at that precision).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { QuantizationError, buildModelGraph, parseWeightPrecision, quantizeCheckpoint, weightBytes } from '@splitwise/core';
import { loadModelFromDir, writeQuantizedCheckpoint } from '@splitwise/checkpoint/node';

export interface QuantizeOptions {
  model: string;
  weights: string;
  out: string;
  ffnChunks?: number;
  symmetric?: boolean;
}

export async function quantizeModelDir(o: QuantizeOptions): Promise<Record<string, unknown>> {
  const precision = parseWeightPrecision(o.weights, '--weights');
  if (precision === 'fp32') throw new QuantizationError('--weights must be int8 or q4 (fp32 is the folder you have)');
  const t0 = performance.now();
  const ckpt = await loadModelFromDir(o.model);
  const graph = buildModelGraph(ckpt.config, { ffnChunks: o.ffnChunks });
  const q = quantizeCheckpoint(ckpt, precision, { ffnChunks: graph.ffnChunks, symmetric: o.symmetric });
  const bytes = await writeQuantizedCheckpoint(o.out, q, { copyFrom: o.model });
  const source = (await stat(join(o.model, 'model.safetensors')).catch(() => undefined))?.size;
  return {
    dir: o.out,
    precision,
    ffnChunks: graph.ffnChunks,
    symmetric: o.symmetric ?? false,
    bytes,
    ...(source !== undefined ? { sourceBytes: source } : {}),
    weightBytes: { fp32: weightBytes(ckpt.config, 'fp32'), [precision]: weightBytes(ckpt.config, precision) },
    seconds: +((performance.now() - t0) / 1000).toFixed(2),
  };
}
