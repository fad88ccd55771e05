// What a decision sees, and the feature vector the policy network reads. Platform-neutral: the
// simulator fills a DecisionState from its model of the world; the chat page fills it from the
// socket link's NetworkEstimator, its request queue and the browser's battery and memory reports.
import type { NetworkState, RequestShape } from './cost-model.ts';

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
