// Shared by the engine tests: models made in memory, and the comparison the acceptance asks for.
import type { Gpt2Checkpoint } from '@splitwise/core';

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Deterministic pseudo-random token ids. */
export function tokenIds(n: number, seed: number, vocab: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

export function weightBytes(ckpt: Gpt2Checkpoint): number {
  return [...ckpt.tensors.values()].reduce((a, t) => a + t.data.byteLength, 0);
}
