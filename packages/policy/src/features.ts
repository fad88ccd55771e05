// What a decision sees, and the feature vector the policy network reads. Platform-neutral: the
// simulator fills a DecisionState from its model of the world; the chat page fills it from the
// socket link's NetworkEstimator, its request queue and the browser's battery and memory reports.
import type { WirePrecision } from '@splitwise/core';
import type { NetworkState, PlanCounts, RequestShape } from './cost-model.ts';

export const HISTORY = 8;

export interface DecisionState {
  /** Measured now (smoothed RTT, throughput). */
  net: NetworkState;
  /** The last HISTORY measurements, oldest first, about one second apart. */
  netHistory: NetworkState[];
  /** Requests waiting, including the one being decided. */
  Q: number;
  /** Arrival rate estimate, requests per second. */
  lambdaPerS: number;
  /** Virtual queues of the energy and accuracy budgets. */
  Ze: number;
  Za: number;
  request: RequestShape;
  /** Edge memory free for the model, bytes. */
  memoryFreeBytes: number;
  /** State of charge in [0, 1]; 1 where the platform does not report it. */
  battery: number;
  /** Which radio carries the link (energy differs a lot). */
  radio: 'wifi' | 'lte';
  /**
   * Opt-in (simulator `dynamics`, issue 10), absent for the shipped policies: the cloud's load as
   * the server reports it (rho, and the slowdown 1 / (1 - rho) of its kernels), with its last
   * HISTORY reports one second apart, oldest first. `pricingShare`: the share of the others' load
   * held by sessions that said they price congestion (the reciprocal toll reads it; absent: none known).
   */
  cloud?: { load: number; slowdown: number; history: number[]; pricingShare?: number };
  /** Opt-in: the plan in place before this decision (changing it has a cost when switching costs are on). */
  current?: { counts: PlanCounts; precision: WirePrecision };
  /** Opt-in: rows already in the KV cache (a mid-answer decision; 0 or absent between requests). */
  kvRows?: number;
}

export const FEATURE_NAMES = [
  'log_down',
  'log_up',
  'log_rtt',
  ...Array.from({ length: HISTORY }, (_, i) => `hist_log_down_${i}`),
  ...Array.from({ length: HISTORY }, (_, i) => `hist_log_rtt_${i}`),
  'hist_down_mean',
  'hist_down_std',
  'hist_rtt_std',
  'log_q',
  'log_lambda_per_min',
  'log_ze',
  'log_za',
  'prompt',
  'gen',
  'log_prompt',
  'memory_fraction',
  'battery',
  'lte',
] as const;
export const FEATURE_DIM = FEATURE_NAMES.length;

const lg = (x: number): number => Math.log(Math.max(1e-3, x));

/** The policy's input: every feature scaled to roughly [-2, 2]. `modelBytes` is the whole model's edge footprint. */
export function featureVector(s: DecisionState, modelBytes: number): Float32Array {
  const f = new Float32Array(FEATURE_DIM);
  let i = 0;
  f[i++] = lg(s.net.downMbps) / 4;
  f[i++] = lg(s.net.upMbps) / 4;
  f[i++] = lg(s.net.rttMs) / 4 - 1;
  const hist = s.netHistory.slice(-HISTORY);
  while (hist.length < HISTORY) hist.unshift(hist[0] ?? s.net);
  const ld = hist.map((h) => lg(h.downMbps)), lr = hist.map((h) => lg(h.rttMs));
  for (const v of ld) f[i++] = v / 4;
  for (const v of lr) f[i++] = v / 4 - 1;
  const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
  const std = (xs: number[]): number => Math.sqrt(mean(xs.map((v) => (v - mean(xs)) ** 2)));
  f[i++] = mean(ld) / 4;
  f[i++] = std(ld);
  f[i++] = std(lr);
  f[i++] = Math.log1p(Math.max(0, s.Q - 1)) / 2;
  f[i++] = Math.log1p(s.lambdaPerS * 60) / 2;
  f[i++] = Math.log1p(s.Ze) / 2;
  f[i++] = Math.log1p(s.Za) / 2;
  f[i++] = s.request.prompt / 512;
  f[i++] = s.request.gen / 128;
  f[i++] = lg(s.request.prompt) / 4;
  f[i++] = Math.min(2, s.memoryFreeBytes / modelBytes);
  f[i++] = s.battery;
  f[i++] = s.radio === 'lte' ? 1 : 0;
  return f;
}

/**
 * Version 2 of the feature vector (opt-in; the shipped policies read version 1): version 1, then the
 * bandwidth and RTT trend (least-squares slope of the log history per second), the cloud's reported
 * load and log slowdown and their trend, and the plan in place (share of layers' units on the edge,
 * and its precision one-hot).
 */
export const FEATURE_NAMES_V2 = [
  ...FEATURE_NAMES,
  'down_trend',
  'rtt_trend',
  'cloud_load',
  'log_cloud_slowdown',
  'cloud_load_trend',
  'current_edge_share',
  'current_fp32',
  'current_fp16',
  'current_int8',
] as const;
export const FEATURE_DIM_V2 = FEATURE_NAMES_V2.length;

/** Least-squares slope of ys against their index (per sample). */
export function slope(ys: readonly number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2, my = ys.reduce((a, v) => a + v, 0) / n;
  let num = 0, den = 0;
  ys.forEach((y, i) => {
    num += (i - mx) * (y - my);
    den += (i - mx) ** 2;
  });
  return num / den;
}

export function featureVectorV2(s: DecisionState, modelBytes: number): Float32Array {
  const f = new Float32Array(FEATURE_DIM_V2);
  f.set(featureVector(s, modelBytes));
  let i = FEATURE_DIM;
  const hist = [...s.netHistory.slice(-HISTORY), s.net];
  f[i++] = Math.max(-2, Math.min(2, slope(hist.map((h) => lg(h.downMbps))) * 4));
  f[i++] = Math.max(-2, Math.min(2, slope(hist.map((h) => lg(h.rttMs))) * 4));
  const c = s.cloud;
  f[i++] = c ? c.load : 0;
  f[i++] = c ? Math.log(c.slowdown) / 2 : 0;
  f[i++] = c ? Math.max(-2, Math.min(2, slope([...c.history, c.load]) * 10)) : 0;
  const cur = s.current;
  if (cur) {
    const L = cur.counts.nLayer, total = L * (cur.counts.nHead + cur.counts.nInner);
    let cloud = 0;
    for (let l = 0; l < L; l++) cloud += cur.counts.cloudHeads[l]! + cur.counts.cloudWidth[l]!;
    f[i++] = 1 - cloud / total;
    f[i + (['fp32', 'fp16', 'int8'] as const).indexOf(cur.precision as 'fp32')] = 1;
  } else f[i++] = 1;
  return f;
}
