// Environment dynamics: the reward is -(drift + V penalty) of the queues it reports, the queues
// move as the Lyapunov update says, arrivals and channels do not depend on the decisions, and
// channels behave as specified.
import { describe, expect, it } from 'vitest';
import { PRESETS } from '@splitwise/core';
import { costModelFor, envConfig, OBJECTIVE } from '../scenario.ts';
import { loadAccuracy, loadProfile } from '../node/files.ts';
import { cloudOnlyCounts, edgeOnlyCounts } from '../optimum.ts';
import { energyBudget } from '../objective.ts';
import { CHANNEL_SPECS, MarkovChannel, OUTAGES, TraceChannel, parseTrace } from './channel.ts';
import { SplitwiseEnv } from './simulator.ts';
import { Rng } from '../rng.ts';

const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS.gpt2 });
const cfg = envConfig(model, edge, (rng) => new MarkovChannel(CHANNEL_SPECS.lte, rng, OUTAGES), 30);

describe('environment', () => {
  it('rewards -(drift + V penalty) and moves Q, Z_e, Z_a as the Lyapunov updates say', () => {
    const env = new SplitwiseEnv(cfg);
    let s = env.reset(42);
    let Ze = 0, Za = 0;
    for (let k = 0; k < 30; k++) {
      const plan = k % 2 ? cloudOnlyCounts(model.graph) : edgeOnlyCounts(model.graph);
      const r = env.step(plan, k % 3 === 0 ? 'int8' : 'fp16');
      const i = r.info, g = i.request.gen;
      expect(i.Q).toBe(s.Q);
      const Eb = energyBudget(OBJECTIVE, s.battery) * g;
      const Ze1 = Math.max(0, Ze + i.energyJ / Eb - 1), Za1 = Math.max(0, Za + i.accuracyLoss / OBJECTIVE.accuracyBudget - 1);
      expect(r.state.Ze).toBeCloseTo(Ze1, 9);
      expect(r.state.Za).toBeCloseTo(Za1, 9);
      // Q counts the waiting requests including the next one served (>= 1: the env idles until one arrives)
      expect(r.state.Q).toBeGreaterThanOrEqual(1);
      const Q1 = r.state.Q;
      const drift = 0.5 * (Q1 * Q1 - s.Q * s.Q + Ze1 * Ze1 - Ze * Ze + Za1 * Za1 - Za * Za);
      const penalty = i.serviceS / g + (OBJECTIVE.wEnergy * i.energyJ) / Eb + (OBJECTIVE.wAccuracy * i.accuracyLoss) / OBJECTIVE.accuracyBudget;
      expect(i.drift).toBeCloseTo(drift, 6);
      expect(i.penalty).toBeCloseTo(penalty, 9);
      expect(r.reward).toBeCloseTo(-(drift + OBJECTIVE.V * penalty), 6);
      expect(i.latencyS).toBeCloseTo(i.waitS + i.serviceS, 9);
      expect(r.done).toBe(k === 29);
      Ze = Ze1;
      Za = Za1;
      s = r.state;
    }
  });

  it('draws the same requests whatever the decisions (same seed)', () => {
    const run = (cloudy: boolean) => {
      const env = new SplitwiseEnv(cfg);
      env.reset(7);
      const reqs: string[] = [];
      for (let k = 0; k < 20; k++) reqs.push(JSON.stringify(env.step(cloudy ? cloudOnlyCounts(model.graph) : edgeOnlyCounts(model.graph), 'fp32').info.request));
      return reqs;
    };
    expect(run(true)).toEqual(run(false));
  });

  it('is reproducible for a seed and differs across seeds', () => {
    const run = (seed: number) => {
      const env = new SplitwiseEnv(cfg);
      env.reset(seed);
      return Array.from({ length: 10 }, () => env.step(cloudOnlyCounts(model.graph), 'fp16').reward);
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it('channels keep their medians, and outages cut the link', () => {
    for (const kind of ['wifi', 'lte', '5g'] as const) {
      const ch = new MarkovChannel(CHANNEL_SPECS[kind], new Rng(1));
      const rtts = Array.from({ length: 4000 }, (_, i) => ch.at(i * 500).rttMs).sort((a, b) => a - b);
      const med = rtts[2000]!, lo = Math.min(...CHANNEL_SPECS[kind].states.map((s) => s.rttMs)), hi = Math.max(...CHANNEL_SPECS[kind].states.map((s) => s.rttMs));
      expect(med).toBeGreaterThan(lo * 0.8);
      expect(med).toBeLessThan(hi * 1.2);
    }
    const ch = new MarkovChannel(CHANNEL_SPECS.wifi, new Rng(2), { ...OUTAGES, ratePerS: 0.05 });
    const out = Array.from({ length: 4000 }, (_, i) => ch.at(i * 500)).filter((n) => n.downMbps === OUTAGES.downMbps).length;
    expect(out).toBeGreaterThan(100);
    const tr = new TraceChannel('t', parseTrace('0\t1.5\n5\t3.0\n10\t0.5\n'), new Rng(3), { upRatio: 0.5, rttMs: 20, rttSigma: 0, radio: 'wifi' });
    const seen = new Set(Array.from({ length: 100 }, (_, i) => tr.at(i * 500).downMbps));
    expect([...seen].every((v) => [1.5, 3.0, 0.5].includes(v))).toBe(true);
    expect(tr.at(0).rttMs).toBe(20);
  });
});
