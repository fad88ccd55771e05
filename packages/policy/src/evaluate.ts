// Run any planner through the environment on given seeds and summarise what it did.
import { SplitwiseEnv, type EnvConfig, type StepInfo } from './env/simulator.ts';
import type { Planner } from './planners.ts';
import { Rng } from './rng.ts';

export interface EpisodeLog {
  seed: number;
  infos: StepInfo[];
  rewards: number[];
  decisionMs: number[];
}

export async function runEpisodes(cfg: EnvConfig, planner: Planner, seeds: readonly number[]): Promise<EpisodeLog[]> {
  const env = new SplitwiseEnv(cfg);
  const logs: EpisodeLog[] = [];
  for (const seed of seeds) {
    let s = env.reset(seed);
    const log: EpisodeLog = { seed, infos: [], rewards: [], decisionMs: [] };
    for (;;) {
      const t = performance.now();
      const d = await planner.decide(s, { model: cfg.model, energy: env.energyModel(), objective: cfg.objective });
      log.decisionMs.push(performance.now() - t);
      const r = env.step(d.plan, d.precision);
      log.infos.push(r.info);
      log.rewards.push(r.reward);
      s = r.state;
      if (r.done) break;
    }
    logs.push(log);
  }
  return logs;
}

export interface Summary {
  decisions: number;
  meanLatencyS: number;
  p95LatencyS: number;
  meanServiceS: number;
  p95ServiceS: number;
  meanWaitS: number;
  /** Edge energy per request and per generated token, J. */
  meanEnergyJ: number;
  energyPerTokenJ: number;
  /** Mean KL per token, nats. */
  meanAccuracyLoss: number;
  meanQueue: number;
  maxQueue: number;
  meanReward: number;
  meanCloudFraction: number;
  syncsPerToken: number;
  memoryViolations: number;
  meanDecisionMs: number;
  precisionShare: Record<string, number>;
  /** With switching costs (dynamics): plan changes per request, and mean seconds per request spent changing. */
  switchesPerRequest?: number;
  meanSwitchS?: number;
}

export const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
};

export function summarize(logs: EpisodeLog[]): Summary {
  const infos = logs.flatMap((l) => l.infos), rewards = logs.flatMap((l) => l.rewards), dms = logs.flatMap((l) => l.decisionMs);
  const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / Math.max(1, xs.length);
  const tokens = infos.reduce((a, i) => a + i.request.gen, 0);
  const share: Record<string, number> = {};
  for (const i of infos) share[i.precision] = (share[i.precision] ?? 0) + 1 / infos.length;
  return {
    decisions: infos.length,
    meanLatencyS: mean(infos.map((i) => i.latencyS)),
    p95LatencyS: percentile(infos.map((i) => i.latencyS), 0.95),
    meanServiceS: mean(infos.map((i) => i.serviceS)),
    p95ServiceS: percentile(infos.map((i) => i.serviceS), 0.95),
    meanWaitS: mean(infos.map((i) => i.waitS)),
    meanEnergyJ: mean(infos.map((i) => i.energyJ)),
    energyPerTokenJ: infos.reduce((a, i) => a + i.energyJ, 0) / tokens,
    meanAccuracyLoss: infos.reduce((a, i) => a + i.accuracyLoss * i.request.gen, 0) / tokens,
    meanQueue: mean(infos.map((i) => i.Q)),
    maxQueue: Math.max(...infos.map((i) => i.Q)),
    meanReward: mean(rewards),
    meanCloudFraction: mean(infos.map((i) => i.cloudFraction)),
    syncsPerToken: infos.reduce((a, i) => a + i.syncs, 0) / tokens,
    memoryViolations: infos.filter((i) => !i.memoryOk).length,
    meanDecisionMs: mean(dms),
    precisionShare: share,
    ...(infos.some((i) => i.switchS !== undefined)
      ? { switchesPerRequest: infos.filter((i) => i.switched).length / infos.length, meanSwitchS: mean(infos.map((i) => i.switchS ?? 0)) }
      : {}),
  };
}

/** Paired bootstrap 95 % interval of mean(a - b) (episodes resampled together). */
export function bootstrapDiff(a: number[], b: number[], seed: number, B = 2000): { lo: number; hi: number } {
  const rng = new Rng(seed), n = a.length, stats: number[] = [];
  for (let r = 0; r < B; r++) {
    let d = 0;
    for (let i = 0; i < n; i++) {
      const j = Math.floor(rng.next() * n);
      d += a[j]! - b[j]!;
    }
    stats.push(d / n);
  }
  return { lo: percentile(stats, 0.025), hi: percentile(stats, 0.975) };
}

/** Bootstrap 95 % interval of mean(a) and, paired, of mean(a) / mean(b) (episodes resampled together). */
export function bootstrap(a: number[], b: number[] | undefined, seed: number, B = 2000): { lo: number; hi: number } {
  const rng = new Rng(seed), n = a.length, stats: number[] = [];
  for (let r = 0; r < B; r++) {
    let sa = 0, sb = 0;
    for (let i = 0; i < n; i++) {
      const j = Math.floor(rng.next() * n);
      sa += a[j]!;
      if (b) sb += b[j]!;
    }
    stats.push(b ? sa / sb : sa / n);
  }
  return { lo: percentile(stats, 0.025), hi: percentile(stats, 0.975) };
}
