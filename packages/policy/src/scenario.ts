// The experiment: which model, which devices, which channels, which budgets. Platform-neutral (the
// profiles and traces are passed in). Every number here is explained in docs/POLICY.md.
import { PRESETS, buildModelGraph, type ModelConfig } from '@splitwise/core';
import { CostModel, edgeMemoryBytes, requestCost, type AccuracyTable } from './cost-model.ts';
import { MarkovChannel, CHANNEL_SPECS, OUTAGES, TraceChannel, scaledSpec, type Channel, type ChannelKind } from './env/channel.ts';
import { DEFAULT_WORKLOAD, type EnvConfig } from './env/simulator.ts';
import type { ObjectiveConfig } from './objective.ts';
import type { DeviceProfile } from './profile.ts';
import { cloudOnlyCounts } from './optimum.ts';
import type { Rng } from './rng.ts';

export const OBJECTIVE: ObjectiveConfig = {
  V: 2,
  wEnergy: 0.25,
  wAccuracy: 0.25,
  energyBudgetJ: 3,
  accuracyBudget: 1e-5,
};

export interface ScenarioInputs {
  edge: DeviceProfile;
  cloud: DeviceProfile;
  accuracy: AccuracyTable;
  config?: ModelConfig;
}

const GB = 1e9;

export function costModelFor(i: ScenarioInputs): CostModel {
  return new CostModel(buildModelGraph(i.config ?? PRESETS['gpt2-xl']), i.edge, i.cloud, i.accuracy);
}

/** A cloud-only request of median shape on the median Wi-Fi state: what sets the arrival rates. */
export function nominalServiceS(model: CostModel): number {
  const w = DEFAULT_WORKLOAD;
  const wifi = CHANNEL_SPECS.wifi.states[0]!;
  return requestCost(model, model.compile(cloudOnlyCounts(model.graph), 'fp32'), { prompt: w.prompt.median, gen: w.gen.median }, wifi).latencyMs / 1000;
}

/**
 * Free edge memory is drawn per episode in [min, max]. For gpt2-xl on an 8 GB device that is
 * [2, 7.5] GB against a 7 GB footprint: edge-only rarely fits, and the mask matters. Other model
 * shapes get the same range relative to their own footprint (`footprint`: the whole model's edge
 * bytes at full context), so memory binds as often for them, but never less than cloud-only needs.
 */
export function memoryRange(model: CostModel, edge: DeviceProfile, footprint: number): { min: number; max: number } {
  const c = model.graph.config, xl = PRESETS['gpt2-xl'];
  const deviceCap = (edge.memoryBytes ?? 8 * GB) * 0.94;
  if (c.nLayer === xl.nLayer && c.nEmbd === xl.nEmbd && c.nHead === xl.nHead) return { min: 2 * GB, max: Math.min(7.5 * GB, deviceCap) };
  // never below what cloud-only needs at full context (embeddings, LM head, checkpoint): an edge
  // with less cannot run the model at all, and for small models that floor is a large share
  const least = edgeMemoryBytes(model.graph, cloudOnlyCounts(model.graph), c.nPositions);
  return { min: Math.min(Math.max(0.29 * footprint, least), deviceCap), max: Math.min(1.07 * footprint, deviceCap) };
}

export function envConfig(
  model: CostModel,
  edge: DeviceProfile,
  channel: (rng: Rng) => Channel,
  episodeLength: number,
  memory: { min: number; max: number } = { min: 2 * GB, max: Math.min(7.5 * GB, (edge.memoryBytes ?? 8 * GB) * 0.94) },
): EnvConfig {
  return {
    model,
    edgeProfile: edge,
    objective: OBJECTIVE,
    workload: DEFAULT_WORKLOAD,
    channel,
    memoryMinBytes: memory.min,
    memoryMaxBytes: memory.max,
    batteryCapacityJ: 100_000,
    batteryMin: 0.2,
    episodeLength,
    nominalServiceS: nominalServiceS(model),
    measurementSigma: 0.1,
  };
}

/** Training channels: Wi-Fi, LTE-like or 5G-like Markov chains, a third of them with outage bursts. */
export function trainingChannel(rng: Rng): Channel {
  const kind = rng.pick(['wifi', 'lte', '5g'] as const);
  return new MarkovChannel(CHANNEL_SPECS[kind], rng, rng.next() < 1 / 3 ? OUTAGES : undefined);
}

export interface EvalScenario {
  name: string;
  channel: (rng: Rng) => Channel;
  /** Why the policy has not seen it. */
  unseen: string;
}

/** Evaluation channels: fresh seeds of the training kinds, shifted variants, and trace replays. */
export function evalScenarios(traces: Array<{ name: string; samples: Array<{ t: number; mbps: number }> }>): EvalScenario[] {
  const markov = (kind: ChannelKind, outages: boolean) => (rng: Rng) => new MarkovChannel(CHANNEL_SPECS[kind], rng, outages ? OUTAGES : undefined);
  const out: EvalScenario[] = [
    { name: 'wifi', channel: markov('wifi', false), unseen: 'seeds never used in training' },
    { name: 'lte', channel: markov('lte', false), unseen: 'seeds never used in training' },
    { name: '5g+outages', channel: markov('5g', true), unseen: 'seeds never used in training' },
    {
      name: 'lte-degraded',
      channel: (rng) => new MarkovChannel(scaledSpec(CHANNEL_SPECS.lte, 0.4, 1.6), rng, OUTAGES),
      unseen: 'LTE at 0.4x bandwidth and 1.6x RTT, with outages: outside the training distribution',
    },
  ];
  if (traces.length > 0) {
    out.push({
      name: 'fcc-traces',
      channel: (rng) => {
        const t = rng.pick(traces);
        return new TraceChannel(`fcc:${t.name}`, t.samples, rng, { upRatio: 0.5, rttMs: 20, rttSigma: 0.3, radio: 'wifi' });
      },
      unseen: 'real FCC broadband traces (0.5-2.3 Mbit/s), never used in training',
    });
  }
  return out;
}

export const TRAIN_SEED_BASE = 1;
export const VALIDATION_SEED_BASE = 500_000;
export const EVAL_SEED_BASE = 1_000_000;
