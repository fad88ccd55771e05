// PPO (Schulman et al. 2017) for the hierarchical policy, on TensorFlow.js autograd.
//
// The action is (fraction bucket, precision, block scores). Its log-probability is
//   log π(f | s, mask) + [f > 0] log π(p | s) + [0 < f < 1] Σ_i log N(score_i; μ_i(s, f), σ_i²)
// (the precision does not matter when nothing crosses the wire, the order does not matter when
// nothing or everything goes to the cloud). Clipped surrogate, GAE(γ, λ), a separate critic,
// entropy bonus, global-norm gradient clipping, Adam. All randomness comes from seeded Rngs.
import * as tf from '@tensorflow/tfjs';
import { decodeAction, fractionMask, FRACTIONS, lowLevelActive, maskedLogits, NF, NP, PRECISIONS, precisionActive, type PolicyOutputs } from '../action.ts';
import { ffnBytes, type PlanCounts } from '../cost-model.ts';
import type { Planner } from '../planners.ts';
import { SplitwiseEnv, type EnvConfig, type StepInfo } from '../env/simulator.ts';
import { featureVector, FEATURE_DIM, type DecisionState } from '../features.ts';
import { modelFootprint } from '../policy-runner.ts';
import { Rng } from '../rng.ts';
import { TfPolicy, initTf } from './tf-policy.ts';

export interface PpoConfig {
  seed: number;
  envs: number;
  updates: number;
  epochs: number;
  minibatch: number;
  lr: number;
  gamma: number;
  lambda: number;
  clip: number;
  valueCoef: number;
  entropyCoef: number;
  lowEntropyCoef: number;
  maxGradNorm: number;
  /** Rewards are divided by a running std of the discounted return (values stay O(1)); clipped to ±rewardClip after. */
  rewardClip: number;
  hidden: number;
  lowHidden: number;
  /** Initial log std of the score noise, and the initial score ramp (see TfPolicyOptions). */
  logStd0: number;
  scoreRamp: number;
}

export const DEFAULT_PPO: PpoConfig = {
  seed: 2026,
  envs: 8,
  updates: 300,
  epochs: 4,
  minibatch: 128,
  lr: 1e-4,
  gamma: 0.95,
  lambda: 0.9,
  clip: 0.2,
  valueCoef: 0.5,
  entropyCoef: 0.003,
  lowEntropyCoef: 0.0005,
  maxGradNorm: 0.5,
  rewardClip: 10,
  hidden: 128,
  lowHidden: 64,
  logStd0: -3,
  scoreRamp: 6,
};

export interface UpdateLog {
  update: number;
  steps: number;
  seconds: number;
  meanReward: number;
  meanLatencyS: number;
  meanServiceS: number;
  energyPerTokenJ: number;
  meanAccuracyLoss: number;
  meanQueue: number;
  meanCloudFraction: number;
  policyLoss: number;
  valueLoss: number;
  entropy: number;
  meanStd: number;
}

const LOG2PI = Math.log(2 * Math.PI);

function logSoftmax(x: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i]! - m);
  const l = Math.log(s) + m;
  return Array.from(x, (v) => v - l);
}

export class PpoTrainer {
  readonly policy: TfPolicy;
  private readonly optimizer: tf.Optimizer;
  private readonly rng: Rng;
  private readonly envs: SplitwiseEnv[];
  private states: DecisionState[] = [];
  private episode = 0;
  private readonly footprint: number;
  readonly blocks: number;
  /** Running variance of the discounted return, per env (Welford over all steps). */
  private retAcc: Float64Array;
  private retStats = { n: 0, mean: 0, m2: 0 };

  private constructor(
    readonly envCfg: EnvConfig,
    readonly cfg: PpoConfig,
  ) {
    this.rng = new Rng(cfg.seed);
    this.blocks = 2 * envCfg.model.graph.config.nLayer;
    this.policy = new TfPolicy(this.rng.fork(), { featureDim: FEATURE_DIM, blocks: this.blocks, hidden: cfg.hidden, lowHidden: cfg.lowHidden, logStd0: cfg.logStd0, scoreRamp: cfg.scoreRamp });
    this.optimizer = tf.train.adam(cfg.lr);
    this.envs = Array.from({ length: cfg.envs }, () => new SplitwiseEnv(envCfg));
    this.footprint = modelFootprint(envCfg.model.graph);
    this.retAcc = new Float64Array(cfg.envs);
  }

  private rewardScale(raw: number, env: number): number {
    const ret = (this.retAcc[env] = this.retAcc[env]! * this.cfg.gamma + raw);
    const st = this.retStats;
    st.n++;
    const d = ret - st.mean;
    st.mean += d / st.n;
    st.m2 += d * (ret - st.mean);
    const sd = st.n > 1 ? Math.sqrt(st.m2 / (st.n - 1)) : 1;
    return Math.max(-this.cfg.rewardClip, Math.min(this.cfg.rewardClip, raw / (sd + 1e-8)));
  }

  static async create(envCfg: EnvConfig, cfg: Partial<PpoConfig> = {}): Promise<PpoTrainer> {
    await initTf();
    return new PpoTrainer(envCfg, { ...DEFAULT_PPO, ...cfg });
  }

  private nextSeed(): number {
    return this.cfg.seed * 1_000_003 + this.episode++;
  }

  features(s: DecisionState): Float32Array {
    return featureVector(s, this.footprint);
  }

  /** The actor's outputs for one state (greedy evaluation during training). */
  outputs(s: DecisionState): PolicyOutputs {
    const r = this.policy.evaluate(this.features(s), 1);
    return { fracLogits: r.frac, precLogits: r.prec, scores: r.scores };
  }

  /**
   * Behaviour cloning of a teacher planner (a warm start for PPO): the teacher serves training
   * episodes; the high level learns the fraction bucket nearest to the teacher's cloud share of the
   * weight bytes (the nearest one that fits, rounding towards the cloud) and its precision; the
   * critic learns the discounted returns of the teacher's episodes. The low level keeps its
   * initial order (the cloud takes the tail), which is what a layer split does.
   */
  async behaviorClone(teacher: Planner, episodes: number, epochs: number): Promise<{ samples: number; loss: number; accuracy: number }> {
    const graph = this.envCfg.model.graph, env = new SplitwiseEnv(this.envCfg), S = FEATURE_DIM;
    const xs: number[] = [], fi: number[] = [], pi: number[] = [], pa: number[] = [], masks: number[] = [], ret: number[] = [];
    const layerBytes = graph.layers[0]!.heads[0]!.cost.weightBytes * graph.attnUnits + graph.layers[0]!.ffnChunks.reduce((a, c) => a + c.cost.weightBytes, 0);
    const cloudShare = (c: PlanCounts): number => {
      let b = 0;
      for (let l = 0; l < c.nLayer; l++) b += c.cloudHeads[l]! * graph.layers[0]!.heads[0]!.cost.weightBytes + ffnBytes(graph, c.cloudWidth[l]!);
      return b / (c.nLayer * layerBytes);
    };
    for (let ep = 0; ep < episodes; ep++) {
      let s = env.reset(this.nextSeed());
      const rewards: number[] = [];
      for (;;) {
        const d = await teacher.decide(s, { model: this.envCfg.model, energy: env.energyModel(), objective: this.envCfg.objective });
        const out = this.outputs(s);
        const mask = fractionMask(graph, out, s.request, s.memoryFreeBytes);
        const share = cloudShare(d.plan);
        let best = NF - 1;
        for (let j = 0; j < NF; j++) if (mask[j] && FRACTIONS[j]! >= share - 1e-9) {
          best = j;
          break;
        }
        // nearest feasible bucket: the one below when it is closer and fits
        for (let j = best - 1; j >= 0; j--) if (mask[j]) {
          if (share - FRACTIONS[j]! < FRACTIONS[best]! - share) best = j;
          break;
        }
        xs.push(...this.features(s));
        fi.push(best);
        pi.push(PRECISIONS.indexOf(d.precision));
        pa.push(precisionActive(best) ? 1 : 0);
        masks.push(...mask.map((m) => (m ? 1 : 0)));
        const r = env.step(d.plan, d.precision);
        rewards.push(r.reward);
        s = r.state;
        if (r.done) break;
      }
      let g = 0;
      const rs = rewards.map((r) => this.rewardScale(r, 0));
      const out: number[] = new Array(rs.length);
      for (let t = rs.length - 1; t >= 0; t--) out[t] = g = rs[t]! + this.cfg.gamma * g;
      ret.push(...out);
      this.retAcc.fill(0);
    }
    const M = fi.length, opt = tf.train.adam(1e-3);
    let loss = 0;
    const idx = Array.from({ length: M }, (_, i) => i);
    for (let e = 0; e < epochs; e++) {
      for (let i = M - 1; i > 0; i--) {
        const j = Math.floor(this.rng.next() * (i + 1));
        [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      }
      for (let start = 0; start < M; start += this.cfg.minibatch) {
        const mb = idx.slice(start, start + this.cfg.minibatch), B = mb.length;
        const l = opt.minimize(() => {
          const x = tf.tensor2d(Float32Array.from(mb.flatMap((k) => xs.slice(k * S, (k + 1) * S))), [B, S]);
          const h = this.policy.trunk(x), heads = this.policy.heads(h);
          const mask = tf.tensor2d(Float32Array.from(mb.flatMap((k) => masks.slice(k * NF, (k + 1) * NF))), [B, NF]);
          const fl = tf.add(heads.frac, tf.mul(tf.sub(mask, 1), 1e9));
          const fOne = tf.oneHot(tf.tensor1d(mb.map((k) => fi[k]!), 'int32'), NF).toFloat();
          const pOne = tf.oneHot(tf.tensor1d(mb.map((k) => pi[k]!), 'int32'), NP).toFloat();
          const act = tf.tensor1d(mb.map((k) => pa[k]!));
          const ceF = tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(fl), fOne), 1)));
          const ceP = tf.neg(tf.mean(tf.mul(tf.sum(tf.mul(tf.logSoftmax(heads.prec), pOne), 1), act)));
          const v = this.policy.value(x);
          const vl = tf.mean(tf.square(tf.sub(v, tf.tensor1d(mb.map((k) => ret[k]!)))));
          return tf.add(tf.add(ceF, ceP), tf.mul(vl, 0.5)) as tf.Scalar;
        }, true);
        loss = l!.dataSync()[0]!;
        l!.dispose();
      }
    }
    // how often the clone's greedy choice matches the teacher's bucket and precision
    let hit = 0;
    for (let k = 0; k < M; k++) {
      const r = this.policy.evaluate(Float32Array.from(xs.slice(k * S, (k + 1) * S)), 1);
      const fl = maskedLogits(r.frac, Array.from({ length: NF }, (_, j) => masks[k * NF + j] === 1));
      const af = fl.indexOf(Math.max(...fl)), ap = r.prec.indexOf(Math.max(...r.prec));
      if (af === fi[k] && (!pa[k] || ap === pi[k])) hit++;
    }
    return { samples: M, loss, accuracy: hit / M };
  }

  /** One rollout of a full episode per env, then PPO epochs over it. */
  update(u: number): UpdateLog {
    const t0 = performance.now();
    const { envs } = this;
    const N = envs.length, T = this.envCfg.episodeLength, NB = this.blocks, S = FEATURE_DIM;
    this.states = envs.map((e) => e.reset(this.nextSeed()));
    this.retAcc.fill(0);
    const RAW = new Float32Array(N * this.envCfg.episodeLength);
    const M = N * T;
    const X = new Float32Array(M * S), FI = new Int32Array(M), PI = new Int32Array(M), SC = new Float32Array(M * NB);
    const MASK = new Float32Array(M * NF), LOWA = new Float32Array(M), PRECA = new Float32Array(M), OLDLP = new Float32Array(M);
    const R = new Float32Array(M), V = new Float32Array(M + N);
    const infos: StepInfo[] = [];
    const std = Float32Array.from(this.policy.logStd.dataSync(), Math.exp);
    for (let t = 0; t < T; t++) {
      const xb = new Float32Array(N * S);
      this.states.forEach((s, i) => xb.set(this.features(s), i * S));
      const ev = this.policy.evaluate(xb, N);
      for (let i = 0; i < N; i++) {
        const k = t * N + i, s = this.states[i]!;
        const out: PolicyOutputs = {
          fracLogits: ev.frac.slice(i * NF, (i + 1) * NF),
          precLogits: ev.prec.slice(i * NP, (i + 1) * NP),
          scores: ev.scores.slice(i * NF * NB, (i + 1) * NF * NB),
        };
        const a = decodeAction(this.envCfg.model.graph, out, s.request, s.memoryFreeBytes, { rng: this.rng, std });
        X.set(xb.subarray(i * S, (i + 1) * S), k * S);
        FI[k] = a.fracIndex;
        PI[k] = a.precIndex;
        SC.set(a.scores, k * NB);
        a.mask.forEach((m, j) => (MASK[k * NF + j] = m ? 1 : 0));
        LOWA[k] = lowLevelActive(a.fracIndex) ? 1 : 0;
        PRECA[k] = precisionActive(a.fracIndex) ? 1 : 0;
        let lp = logSoftmax(maskedLogits(out.fracLogits, a.mask))[a.fracIndex]!;
        if (PRECA[k]) lp += logSoftmax(out.precLogits)[a.precIndex]!;
        if (LOWA[k]) {
          const mu = out.scores.subarray(a.fracIndex * NB, (a.fracIndex + 1) * NB);
          for (let j = 0; j < NB; j++) lp += -0.5 * ((a.scores[j]! - mu[j]!) / std[j]!) ** 2 - Math.log(std[j]!) - 0.5 * LOG2PI;
        }
        OLDLP[k] = lp;
        V[k] = ev.value[i]!;
        const r = envs[i]!.step(a.counts, a.precision);
        RAW[k] = r.reward;
        R[k] = this.rewardScale(r.reward, i);
        infos.push(r.info);
        this.states[i] = r.state;
      }
    }
    // bootstrap: episodes are cut, not ended
    const xb = new Float32Array(N * S);
    this.states.forEach((s, i) => xb.set(this.features(s), i * S));
    const last = this.policy.evaluate(xb, N).value;
    for (let i = 0; i < N; i++) V[M + i] = last[i]!;
    // GAE
    const ADV = new Float32Array(M), RET = new Float32Array(M);
    for (let i = 0; i < N; i++) {
      let gae = 0;
      for (let t = T - 1; t >= 0; t--) {
        const k = t * N + i, vNext = V[(t + 1) * N + i]!;
        const delta = R[k]! + this.cfg.gamma * vNext - V[k]!;
        gae = delta + this.cfg.gamma * this.cfg.lambda * gae;
        ADV[k] = gae;
        RET[k] = gae + V[k]!;
      }
    }
    const mean = ADV.reduce((a, v) => a + v, 0) / M;
    const sd = Math.sqrt(ADV.reduce((a, v) => a + (v - mean) ** 2, 0) / M) + 1e-8;
    for (let k = 0; k < M; k++) ADV[k] = (ADV[k]! - mean) / sd;

    // PPO epochs
    let pl = 0, vl = 0, ent = 0, nb = 0;
    const idx = Array.from({ length: M }, (_, i) => i);
    const vars = this.policy.variables;
    for (let e = 0; e < this.cfg.epochs; e++) {
      for (let i = M - 1; i > 0; i--) {
        const j = Math.floor(this.rng.next() * (i + 1));
        [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      }
      for (let start = 0; start < M; start += this.cfg.minibatch) {
        const mb = idx.slice(start, start + this.cfg.minibatch), B = mb.length;
        const pick = (src: Float32Array | Int32Array, w: number) => {
          const out = src instanceof Int32Array ? new Int32Array(B * w) : new Float32Array(B * w);
          mb.forEach((k, r) => out.set(src.subarray(k * w, (k + 1) * w), r * w));
          return out;
        };
        const losses = { pl: 0, vl: 0, ent: 0 };
        const { grads } = tf.variableGrads(() => {
          const x = tf.tensor2d(pick(X, S) as Float32Array, [B, S]);
          const fi = tf.tensor1d(pick(FI, 1) as Int32Array, 'int32'), pi = tf.tensor1d(pick(PI, 1) as Int32Array, 'int32');
          const fOne = tf.oneHot(fi, NF).toFloat() as tf.Tensor2D, pOne = tf.oneHot(pi, NP).toFloat() as tf.Tensor2D;
          const mask = tf.tensor2d(pick(MASK, NF) as Float32Array, [B, NF]);
          const lowA = tf.tensor1d(pick(LOWA, 1) as Float32Array), precA = tf.tensor1d(pick(PRECA, 1) as Float32Array);
          const sc = tf.tensor2d(pick(SC, NB) as Float32Array, [B, NB]);
          const oldLp = tf.tensor1d(pick(OLDLP, 1) as Float32Array), adv = tf.tensor1d(pick(ADV, 1) as Float32Array), ret = tf.tensor1d(pick(RET, 1) as Float32Array);
          const h = this.policy.trunk(x);
          const heads = this.policy.heads(h);
          const fl = tf.add(heads.frac, tf.mul(tf.sub(mask, 1), 1e9));
          const lsF = tf.logSoftmax(fl), lsP = tf.logSoftmax(heads.prec);
          const lpF = tf.sum(tf.mul(lsF, fOne), 1), lpP = tf.mul(tf.sum(tf.mul(lsP, pOne), 1), precA);
          const mu = this.policy.scoresFor(h, fOne);
          const logStd = this.policy.logStd;
          const z = tf.div(tf.sub(sc, mu), tf.exp(logStd));
          const lpL = tf.mul(tf.sum(tf.sub(tf.sub(tf.mul(tf.square(z), -0.5), logStd), 0.5 * LOG2PI), 1), lowA);
          const lp = tf.add(tf.add(lpF, lpP), lpL);
          const ratio = tf.exp(tf.sub(lp, oldLp));
          const surr = tf.minimum(tf.mul(ratio, adv), tf.mul(tf.clipByValue(ratio, 1 - this.cfg.clip, 1 + this.cfg.clip), adv));
          const policyLoss = tf.neg(tf.mean(surr));
          const v = this.policy.value(x);
          const valueLoss = tf.mean(tf.square(tf.sub(v, ret)));
          const entF = tf.neg(tf.sum(tf.mul(tf.exp(lsF), lsF), 1));
          const entP = tf.mul(tf.neg(tf.sum(tf.mul(tf.exp(lsP), lsP), 1)), precA);
          const entHigh = tf.mean(tf.add(entF, entP));
          const entLow = tf.mul(tf.mean(lowA), tf.sum(tf.add(logStd, 0.5 * (LOG2PI + 1))));
          const loss = tf.sub(
            tf.add(policyLoss, tf.mul(valueLoss, this.cfg.valueCoef)),
            tf.add(tf.mul(entHigh, this.cfg.entropyCoef), tf.mul(entLow, this.cfg.lowEntropyCoef)),
          );
          losses.pl = policyLoss.dataSync()[0]!;
          losses.vl = valueLoss.dataSync()[0]!;
          losses.ent = entHigh.dataSync()[0]!;
          return loss as tf.Scalar;
        }, vars);
        // global-norm clipping
        tf.tidy(() => {
          const names = Object.keys(grads);
          const norm = Math.sqrt(names.reduce((a, n) => a + tf.sum(tf.square(grads[n]!)).dataSync()[0]!, 0));
          const scale = norm > this.cfg.maxGradNorm ? this.cfg.maxGradNorm / norm : 1;
          const clipped: tf.NamedTensorMap = {};
          for (const n of names) clipped[n] = tf.mul(grads[n]!, scale);
          this.optimizer.applyGradients(clipped);
        });
        tf.dispose(grads);
        pl += losses.pl;
        vl += losses.vl;
        ent += losses.ent;
        nb++;
      }
    }
    const m = (f: (i: StepInfo) => number) => infos.reduce((a, i) => a + f(i), 0) / infos.length;
    const tokens = infos.reduce((a, i) => a + i.request.gen, 0);
    return {
      update: u,
      steps: (u + 1) * M,
      seconds: (performance.now() - t0) / 1000,
      meanReward: RAW.reduce((a, v) => a + v, 0) / M,
      meanLatencyS: m((i) => i.latencyS),
      meanServiceS: m((i) => i.serviceS),
      energyPerTokenJ: infos.reduce((a, i) => a + i.energyJ, 0) / tokens,
      meanAccuracyLoss: infos.reduce((a, i) => a + i.accuracyLoss * i.request.gen, 0) / tokens,
      meanQueue: m((i) => i.Q),
      meanCloudFraction: m((i) => i.cloudFraction),
      policyLoss: pl / nb,
      valueLoss: vl / nb,
      entropy: ent / nb,
      meanStd: Array.from(this.policy.logStd.dataSync(), Math.exp).reduce((a, v) => a + v, 0) / this.blocks,
    };
  }
}
