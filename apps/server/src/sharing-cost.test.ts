// What sharing the batcher costs a session (sharingCost): the slope of a batched run's time over
// its rows, plus the prompts' time per step, in units of a run of one row.
import { describe, expect, it } from 'vitest';
import { sharingCost } from './batcher.ts';

const decode = (rows: number, ms: number) => ({ rows, ms, prompt: false });

describe('sharingCost', () => {
  it('fits T(B) = T(1) (1 + gamma (B - 1)) through a lone run', () => {
    // 10 ms alone, each extra row 3 ms: gamma 0.3, whatever the mix of batch sizes
    const runs = [decode(1, 10), decode(2, 13), decode(4, 19), decode(8, 31), decode(4, 19)];
    const c = sharingCost(runs, 10);
    expect(c.rowCost).toBeCloseTo(0.3, 12);
    expect(c.promptShare).toBe(0);
    expect(c.contention).toBeCloseTo(0.3, 12);
  });

  it('adds the prompts, which run alone, per one-row step', () => {
    // 20 one-row steps (5 runs of 4 rows) and 40 ms of prompts: 2 ms a step, 0.2 of a 10 ms run
    const runs = [...Array.from({ length: 5 }, () => decode(4, 16)), { rows: 16, ms: 40, prompt: true }];
    const c = sharingCost(runs, 10);
    expect(c.rowCost).toBeCloseTo(0.2, 12);
    expect(c.promptShare).toBeCloseTo(0.2, 12);
    expect(c.contention).toBeCloseTo(0.4, 12);
  });

  it('is unknown without a batch of two rows, and clamped to [0, 1]', () => {
    expect(sharingCost([decode(1, 10), decode(1, 11)], 10).contention).toBeUndefined();
    expect(sharingCost([], 10)).toEqual({ promptShare: 0 });
    // runs cheaper than a lone one (noise), and dearer than as many lone runs
    expect(sharingCost([decode(3, 8)], 10).rowCost).toBe(0);
    expect(sharingCost([decode(2, 25)], 10).rowCost).toBe(1);
    expect(sharingCost([decode(2, 18), { rows: 8, ms: 100, prompt: true }], 10).contention).toBe(1);
  });
});
