// Training is seeded: the same seed gives bit-identical weights, another seed does not.
import { describe, expect, it } from 'vitest';
import { PRESETS } from '@splitwise/core';
import { costModelFor, envConfig, trainingChannel } from '../scenario.ts';
import { loadAccuracy, loadProfile } from '../node/files.ts';
import { PpoTrainer } from './ppo.ts';

const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS.tiny });
const cfg = { ...envConfig(model, edge, trainingChannel, 6), memoryMinBytes: 5e6, memoryMaxBytes: 3e7 };

async function train(seed: number): Promise<Float32Array> {
  const t = await PpoTrainer.create(cfg, { seed, envs: 2, epochs: 2, minibatch: 6, hidden: 16, lowHidden: 8 });
  for (let u = 0; u < 2; u++) t.update(u);
  const w = t.policy.toWeights();
  return Float32Array.from([...w.l1.w, ...w.frac.b, ...w.score.w, ...w.logStd]);
}

describe('PPO', () => {
  it('is reproducible for a seed', async () => {
    const a = await train(11), b = await train(11), c = await train(12);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
  }, 60_000);
});
