// The shared-cloud scenario family (issue 10): gpt2-xl on Raspberry Pi 5 edges, the node-epyc cloud
// shared by `edges` of them, switching costs on. Used by the version-4 trainer and its evaluation,
// so both read the regime from one place.
import { PRESETS } from '@splitwise/core';
import { apiCloudOnlyCounts, requestCost, type CostModel } from './cost-model.ts';
import { DEFAULT_SWITCHING } from './dynamics.ts';
import { CHANNEL_SPECS, MarkovChannel } from './env/channel.ts';
import type { SharedCloudConfig } from './env/shared-cloud.ts';
import { DEFAULT_WORKLOAD } from './env/simulator.ts';
import type { DeviceProfile } from './profile.ts';
import { memoryRange, OBJECTIVE } from './scenario.ts';
import { modelFootprint } from './policy-runner.ts';

export interface SharedRegime {
  /** Every edge's channel; 'mixed': even edges on Wi-Fi, odd ones on LTE. */
  kind: 'wifi' | 'lte' | 'mixed';
  /** The cloud's utilisation if every edge sent every request as API cloud-only, unloaded: N * rate * S_api. */
  rho: number;
  /** Slowdown per other request the cloud holds: 1 one call at a time, 0.4 a batching server (measured 0.2-0.65). */
  beta: number;
}

export const SHARED_EDGES = 8;

/** API cloud-only's unloaded service time of a median request on the median Wi-Fi state, seconds: what sets the rates. */
export function apiServiceS(model: CostModel): number {
  const w = DEFAULT_WORKLOAD;
  return requestCost(model, model.compile(apiCloudOnlyCounts(model.graph), 'fp32'), { prompt: w.prompt.median, gen: w.gen.median }, CHANNEL_SPECS.wifi.states[0]!).latencyMs / 1000;
}

export function sharedCloudConfig(model: CostModel, edge: DeviceProfile, r: SharedRegime, episodeLength = 24, edges = SHARED_EDGES): SharedCloudConfig {
  if (model.graph.config.nLayer !== PRESETS['gpt2-xl'].nLayer) throw new Error('the shared-cloud scenario is stated for gpt2-xl');
  const memory = memoryRange(model, edge, modelFootprint(model.graph));
  return {
    model,
    edgeProfile: edge,
    objective: OBJECTIVE,
    workload: DEFAULT_WORKLOAD,
    channel: (rng, i) => new MarkovChannel(CHANNEL_SPECS[r.kind === 'mixed' ? (i % 2 === 0 ? 'wifi' : 'lte') : r.kind], rng),
    memoryMinBytes: memory.min,
    memoryMaxBytes: memory.max,
    batteryCapacityJ: 100_000,
    batteryMin: 0.2,
    edges,
    ratePerEdgePerS: r.rho / (edges * apiServiceS(model)),
    beta: r.beta,
    switching: DEFAULT_SWITCHING,
    episodeLength,
    measurementSigma: 0.1,
    tickMs: 250,
  };
}
