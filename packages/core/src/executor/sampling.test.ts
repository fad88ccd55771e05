import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../errors.ts';
import { Sampler, argmax } from './sampling.ts';

const logits = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i * 1.3) * 3);

describe('Sampler', () => {
  it('greedy is argmax', () => {
    expect(new Sampler().next(logits)).toBe(argmax(logits));
  });
  it('is repeatable with a seed and varies with another', () => {
    const draw = (seed: number): number[] => {
      const s = new Sampler({ temperature: 1, seed });
      return Array.from({ length: 50 }, () => s.next(logits));
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });
  it('top-k 1 and a tiny top-p both reduce to argmax', () => {
    expect(new Sampler({ temperature: 2, topK: 1, seed: 3 }).next(logits)).toBe(argmax(logits));
    expect(new Sampler({ temperature: 2, topP: 1e-6, seed: 3 }).next(logits)).toBe(argmax(logits));
  });
  it('top-k keeps to the k most likely tokens', () => {
    const top5 = new Set(Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!).slice(0, 5));
    const s = new Sampler({ temperature: 5, topK: 5, seed: 9 });
    for (let i = 0; i < 200; i++) expect(top5.has(s.next(logits))).toBe(true);
  });
  it('rejects nonsense settings', () => {
    expect(() => new Sampler({ temperature: -1 })).toThrow(InvalidConfigError);
    expect(() => new Sampler({ topP: 0 })).toThrow(InvalidConfigError);
    expect(() => new Sampler({ topK: 1.5 })).toThrow(InvalidConfigError);
  });
});
