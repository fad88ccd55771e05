// The logits an API cloud-only cloud sends back: with top-K only the K largest, and the sampler
// must draw from them exactly as from the whole row (greedy: K = 1; top-k sampling: K = k).
import { describe, expect, it } from 'vitest';
import { expandTopK, logitsNeeded, topKLogits } from './messages.ts';
import { argmax, Sampler } from './sampling.ts';

/** A row with ties, so that the tie order (lower id first) matters. */
function row(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return Math.round((s / 2 ** 32) * 20) / 4; // few distinct values
  });
}

describe('top-K logits', () => {
  it('are the K largest, ties to the lower id, as a stable descending sort has them', () => {
    for (let seed = 1; seed < 30; seed++) {
      const r = row(200, seed);
      for (const k of [1, 2, 5, 40, 200]) {
        const { ids, values } = topKLogits(r, k);
        const sorted = Array.from(r.keys()).sort((a, b) => r[b]! - r[a]!).slice(0, k);
        expect(ids).toEqual(sorted);
        expect(Array.from(values)).toEqual(sorted.map((i) => r[i]!));
      }
    }
  });

  it('a greedy or top-k sampler draws the same tokens from them as from the whole row', () => {
    for (let seed = 1; seed < 20; seed++) {
      const r = row(300, seed);
      const top1 = topKLogits(r, 1);
      expect(argmax(expandTopK(300, top1.ids, top1.values))).toBe(argmax(r));
      const o = { temperature: 0.8, topK: 7, topP: 0.9, seed };
      const k = logitsNeeded(o);
      expect(k).toBe(7);
      const a = new Sampler(o), b = new Sampler(o), t = topKLogits(r, k), sparse = expandTopK(300, t.ids, t.values);
      for (let i = 0; i < 50; i++) expect(b.next(sparse)).toBe(a.next(r));
    }
  });

  it('what a sampler reads: 1 for greedy, k for top-k, the whole row otherwise', () => {
    expect(logitsNeeded({})).toBe(1);
    expect(logitsNeeded({ temperature: 0, topK: 9 })).toBe(1);
    expect(logitsNeeded({ temperature: 1, topK: 9 })).toBe(9);
    expect(logitsNeeded({ temperature: 1 })).toBe(0);
  });
});
