// Loading a model folder into a ready in-process split engine, for the CLI and benchmarks.
import { readFile } from 'node:fs/promises';
import { InvalidPlanError, planFromSpec, precisionOf, validatePlan, type ModelGraph, type PartitionPlan, type QuantActivations, type WeightPrecision } from '@splitwise/core';
import { loadGpt2FromDir, loadTokenizerFromDir, type Gpt2Tokenizer } from '@splitwise/checkpoint/node';
import { createLocalSplit, type LocalSplit } from '@splitwise/runtime-node';

/** --plan: edge | cloud | api | half | layers:K | random:SEED | path/to/plan.json */
export async function resolvePlan(spec: string, graph: ModelGraph): Promise<PartitionPlan> {
  if (!spec.endsWith('.json')) return planFromSpec(spec, graph);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(spec, 'utf8'));
  } catch (e) {
    throw new InvalidPlanError(`cannot read plan file ${spec}: ${(e as Error).message}`);
  }
  return validatePlan(json, graph);
}

export interface LoadedEngine extends LocalSplit {
  tokenizer?: Gpt2Tokenizer;
}

/** --weights, --cloud-weights, --activations: each side's weight precision (quantized at load) and what quantized products compute in. */
export interface EngineWeightOptions {
  weights?: WeightPrecision;
  cloudWeights?: WeightPrecision;
  activations?: QuantActivations;
}

export async function loadEngine(modelDir: string, planSpec: string, o: { threads?: number; ffnChunks?: number } & EngineWeightOptions = {}): Promise<LoadedEngine> {
  const ckpt = await loadGpt2FromDir(modelDir);
  const edge = o.weights ?? precisionOf(ckpt), cloud = o.cloudWeights ?? edge;
  const split = await createLocalSplit(ckpt, (g) => resolvePlan(planSpec, g), { intraOpNumThreads: o.threads, ffnChunks: o.ffnChunks, weights: { edge, cloud }, activations: o.activations });
  return { ...split, tokenizer: await loadTokenizerFromDir(modelDir).catch(() => undefined) };
}
