// Random weights of any family for tests and benchmarks, bit-identical on every platform.
// Each tensor gets its own xoroshiro128+ stream seeded from (seed, hash of its name), so a tensor
// does not depend on which others were generated before it (the Node writer makes them one at a
// time while streaming to disk). Normals come from Box–Muller in Marsaglia's polar form using
// only +, -, *, / and sqrt (all correctly rounded in IEEE 754) and our own log: Math.log is not
// specified to the last bit, and engines differ.
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { familyOf, transpose } from '@splitwise/core';
import type { Float32Tensor, ModelConfig, Gpt2Checkpoint } from '@splitwise/core';

/** The init each tensor gets: N(mean, std). Biases are not zero so every parameter matters in tests. */
export function initFor(config: ModelConfig, name: string): { mean: number; std: number } {
  if (/(ln_(1|2|f)|layernorm|norm)\.weight$/.test(name)) return { mean: 1, std: 0.1 };
  if (/ln_(1|2|f)\.bias$/.test(name)) return { mean: 0, std: 0.05 };
  // GPT-2 scales the residual projections by 1/sqrt(2 * n_layer); so do we for LLaMA's.
  if (/(c_proj|o_proj|down_proj)\.weight$/.test(name)) return { mean: 0, std: 0.02 / Math.sqrt(2 * config.nLayer) };
  return { mean: 0, std: 0.02 }; // embeddings, lm_head, input projections, all biases
}

// murmur3's 32-bit finalizer: a bijection that spreads every input bit over the output.
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The 128-bit generator state for one tensor (pure-rand's seed(n) would leave it nearly all zero). */
export function tensorRngState(seed: number, name: string): [number, number, number, number] {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  let z = mix32(mix32((seed >>> 0) ^ 0x9e3779b9) ^ (Math.floor(seed / 2 ** 32) >>> 0)) ^ fnv1a(name);
  const s: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    z = (z + 0x9e3779b9) | 0; // splitmix-style increments
    s[i] = mix32(z) | 0;
  }
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // the all-zero state is a fixed point
  return s;
}

const LN2 = 0.6931471805599453;
const SQRT1_2 = 0.7071067811865476;

/** ln(x) for x in (0, 1), to ~1e-12 relative, with basic arithmetic only (deterministic everywhere). */
function ln01(x: number): number {
  let e = 0;
  let m = x;
  while (m < SQRT1_2) {
    m *= 2; // exact
    e--;
  }
  // m in [1/sqrt2, sqrt2): ln m = 2 atanh(f), f = (m-1)/(m+1), |f| < 0.172
  const f = (m - 1) / (m + 1);
  const f2 = f * f;
  const p = 1 + f2 * (1 / 3 + f2 * (1 / 5 + f2 * (1 / 7 + f2 * (1 / 9 + f2 * (1 / 11 + f2 * (1 / 13))))));
  return e * LN2 + 2 * f * p;
}

/** Fill `out` with N(mean, std) samples from the given xoroshiro128+ state. */
export function fillNormal(out: Float32Array, state: readonly number[], mean: number, std: number): Float32Array {
  const rng = xoroshiro128plusFromState(state);
  const scale = 1 / 2147483648; // next() is a signed 32-bit int: u, v uniform in [-1, 1)
  const n = out.length;
  let i = 0;
  while (i < n) {
    const u = rng.next() * scale;
    const v = rng.next() * scale;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue; // reject outside the unit disc (~21%)
    const k = std * Math.sqrt((-2 * ln01(s)) / s);
    out[i++] = mean + u * k;
    if (i < n) out[i++] = mean + v * k;
  }
  return out;
}

/** One tensor of the random model as stored in the file, independent of all others. */
export function randomStoredTensor(config: ModelConfig, seed: number, name: string, shape: readonly number[]): Float32Array {
  const { mean, std } = initFor(config, name);
  const n = shape.reduce((a, b) => a * b, 1);
  return fillNormal(new Float32Array(n), tensorRngState(seed, name), mean, std);
}

/** @deprecated the GPT-2-era name (GPT-2 stores every tensor in the engine's layout). */
export const randomGpt2Tensor = randomStoredTensor;

/**
 * A complete random checkpoint in memory, in the engine's layout (use the Node makeModel for
 * models near RAM size). The same values makeModel writes and the loader reads back.
 */
export function makeRandomModel(config: ModelConfig, seed: number): Gpt2Checkpoint {
  const tensors = new Map<string, Float32Tensor>();
  for (const r of familyOf(config).tensors(config)) {
    const stored = randomStoredTensor(config, seed, r.name, r.storedShape);
    const shape = r.transposed ? [...r.storedShape].reverse() : r.storedShape;
    tensors.set(r.name, { shape, data: r.transposed ? transpose(stored, r.storedShape[0]!, r.storedShape[1]!) : stored });
  }
  return { config, tensors };
}

/** @deprecated the GPT-2-era name of makeRandomModel. */
export const makeRandomGpt2 = makeRandomModel;
