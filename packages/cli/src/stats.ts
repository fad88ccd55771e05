// Small summaries for per-token timings.
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const round = (x: number, digits = 2): number | null => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);

/** log softmax in float64. */
export function logSoftmax(l: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of l) m = Math.max(m, v);
  let s = 0;
  for (const v of l) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return Float64Array.from(l, (v) => v - lse);
}

/** KL(p || q) between the next-token distributions of two logit vectors, in nats. */
export function klFromLogits(pLogits: Float32Array, qLogits: Float32Array): number {
  const lp = logSoftmax(pLogits), lq = logSoftmax(qLogits);
  let d = 0;
  for (let i = 0; i < lp.length; i++) d += Math.exp(lp[i]!) * (lp[i]! - lq[i]!);
  return Math.max(0, d); // rounding can leave a tiny negative
}
