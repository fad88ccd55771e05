// Loading a model folder into a ready in-process split engine, for the CLI and benchmarks.
import { readFile } from 'node:fs/promises';
import { InvalidPlanError, planFromSpec, validatePlan, type ModelGraph, type PartitionPlan } from '@splitwise/core';
import { loadGpt2FromDir, loadTokenizerFromDir, type Gpt2Tokenizer } from '@splitwise/checkpoint/node';
import { createLocalSplit, type LocalSplit } from '@splitwise/runtime-node';

/** --plan: edge | cloud | half | layers:K | random:SEED | path/to/plan.json */
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

export async function loadEngine(modelDir: string, planSpec: string, o: { threads?: number; ffnChunks?: number } = {}): Promise<LoadedEngine> {
  const ckpt = await loadGpt2FromDir(modelDir);
  const split = await createLocalSplit(ckpt, (g) => resolvePlan(planSpec, g), { intraOpNumThreads: o.threads, ffnChunks: o.ffnChunks });
  return { ...split, tokenizer: await loadTokenizerFromDir(modelDir).catch(() => undefined) };
}
