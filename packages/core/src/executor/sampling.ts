// Choosing the next token from logits: greedy, or temperature / top-k / top-p (nucleus) sampling
// with a seeded generator so that a run can be repeated exactly.
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';

import { InvalidConfigError } from '../errors.ts';

export interface SamplingOptions {
  /** 0 means greedy (argmax). @defaultValue 0 */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 = off. @defaultValue 0 */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p; 1 = off. @defaultValue 1 */
  topP?: number;
  /** Seed of the sampling generator. @defaultValue 0 */
  seed?: number;
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

export class Sampler {
  private readonly rng: ReturnType<typeof xoroshiro128plus>;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;

  constructor(o: SamplingOptions = {}) {
    this.temperature = o.temperature ?? 0;
    this.topK = o.topK ?? 0;
    this.topP = o.topP ?? 1;
    if (!(this.temperature >= 0)) throw new InvalidConfigError(`temperature must be >= 0, got ${o.temperature}`);
    if (!(Number.isInteger(this.topK) && this.topK >= 0)) throw new InvalidConfigError(`topK must be a whole number >= 0, got ${o.topK}`);
    if (!(this.topP > 0 && this.topP <= 1)) throw new InvalidConfigError(`topP must be in (0, 1], got ${o.topP}`);
    this.rng = xoroshiro128plus(o.seed ?? 0);
  }

  next(logits: Float32Array): number {
    if (this.temperature === 0) return argmax(logits);
    // candidates sorted by logit, cut by top-k, then softmax at temperature, then cut by top-p
    let idx = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!);
    if (this.topK > 0) idx = idx.slice(0, this.topK);
    const max = logits[idx[0]!]!;
    let probs = idx.map((i) => Math.exp((logits[i]! - max) / this.temperature));
    let total = probs.reduce((a, b) => a + b, 0);
    if (this.topP < 1) {
      let acc = 0, keep = 0;
      while (keep < probs.length && acc < this.topP * total) acc += probs[keep++]!;
      idx = idx.slice(0, keep);
      probs = probs.slice(0, keep);
      total = acc;
    }
    let u = uniformFloat64(this.rng) * total;
    for (let j = 0; j < idx.length; j++) {
      u -= probs[j]!;
      if (u <= 0) return idx[j]!;
    }
    return idx.at(-1)!;
  }
}
