// Bad input gets a clear, typed error and loses nothing: after each refusal the engine still
// computes the right logits.
import { describe, expect, it } from 'vitest';
import { ContextLengthError, ExecutorStateError, InvalidPlanError, PRESETS, TensorShapeError, cloudOnlyPlan, halfPlan, type CloudRequest } from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic } from '@splitwise/runtime-node';
import { maxAbsDiff } from './helpers.ts';

const ckpt = makeRandomGpt2(PRESETS.tiny, 21);
const E = ckpt.config.nEmbd;

describe('the cloud refuses bad requests and keeps its state', () => {
  it('repeated, late, gapped, misshapen and misplaced segments', async () => {
    const split = await createLocalSplit(ckpt, halfPlan);
    const mono = await createMonolithic(ckpt);
    const expectSame = async (ids: number[]): Promise<void> => {
      expect(maxAbsDiff(await split.edge.forward(ids), await mono.forward(ids))).toBeLessThan(1e-4);
    };
    await expectSame([1, 2, 3]);
    const seg = (o: Partial<Extract<CloudRequest, { type: 'segment' }>>): CloudRequest => ({
      type: 'segment', seq: 1000, start: 3, count: 1, from: 0, to: 0, x: new Float32Array(E), ...o,
    });
    const cases: Array<[string, CloudRequest, new (...a: never[]) => Error, RegExp]> = [
      ['a repeated sequence number', seg({ seq: 1 }), ExecutorStateError, /repeated or late/],
      ['x of the wrong size', seg({ x: new Float32Array(E + 1) }), TensorShapeError, /expected 1x64/],
      ['positions past the context', seg({ start: 127, count: 2, x: new Float32Array(2 * E) }), TensorShapeError, /outside \[0, 128\)/],
      ['a gap in positions', seg({ start: 5 }), ExecutorStateError, /KV cache holds 3 positions but the step starts at position 5/],
      ['blocks out of range', seg({ from: 2, to: 9 }), ExecutorStateError, /not within/],
      ['an invalid plan', { type: 'reset', plan: { layers: [] } as never }, InvalidPlanError, /0 layers/],
      ['a plan change without checkpoint rows', { type: 'plan', plan: cloudOnlyPlan(split.graph), length: 3, rebuild: [] }, ExecutorStateError, /no checkpoint/],
    ];
    for (const [name, req, cls, msg] of cases) {
      await expect(split.cloud.handle(req), name).rejects.toThrow(cls);
      await expect(split.cloud.handle(req), name).rejects.toThrow(msg);
    }
    // nothing was applied: the sequence goes on exactly
    await expectSame([4]);
    await expectSame([5, 6]);
  });

  it('a failed pass leaves nothing behind: the cloud is rebuilt from the checkpoint and the answer is unchanged', async () => {
    const split = await createLocalSplit(ckpt, halfPlan);
    const mono = await createMonolithic(ckpt);
    expect(maxAbsDiff(await split.edge.forward([1, 2, 3]), await mono.forward([1, 2, 3]))).toBeLessThan(1e-4);
    // the link dies after the cloud applied the first of the pass's segments
    const real = split.link.request.bind(split.link);
    let calls = 0;
    split.link.request = async (req) => {
      if (req.type === 'segment' && ++calls === 2) throw new Error('connection reset');
      return real(req);
    };
    await expect(split.edge.forward([4])).rejects.toThrow(/connection reset/);
    split.link.request = real;
    // the next pass first rebuilds the cloud from the edge's checkpoint, then goes on exactly
    expect(maxAbsDiff(await split.edge.forward([4]), await mono.forward([4]))).toBeLessThan(1e-4);
    expect(maxAbsDiff(await split.edge.forward([5, 6]), await mono.forward([5, 6]))).toBeLessThan(1e-4);
  });

  it('a mixed block the cloud does not own cannot be slipped into a segment', async () => {
    const split = await createLocalSplit(ckpt, cloudOnlyPlan);
    await split.edge.forward([1]);
    await split.edge.setPlan(halfPlan(split.graph));
    await expect(split.cloud.handle({ type: 'segment', seq: 99, start: 1, count: 1, from: 0, to: 1, x: new Float32Array(E) })).rejects.toThrow(/block 0 is mixed/);
  });
});

describe('the edge refuses bad input', () => {
  it('token ids outside the vocabulary, empty input, and the context limit', async () => {
    const split = await createLocalSplit(ckpt, halfPlan);
    await expect(split.edge.forward([ckpt.config.vocabSize])).rejects.toThrow(TensorShapeError);
    await expect(split.edge.forward([-1])).rejects.toThrow(/outside \[0, 50257\)/);
    await expect(split.edge.forward([])).rejects.toThrow(/at least one token/);
    await expect(split.edge.forward(new Array(129).fill(1))).rejects.toThrow(ContextLengthError);
    await split.edge.forward(new Array(128).fill(1));
    await expect(split.edge.forward([1])).rejects.toThrow(/129 tokens exceeds the model's context of 128/);
  });
});
