// Adding partial sums into the residual stream: x_new = ((x + bias) + p_edge) + p_cloud, row by
// row. The order is fixed so a plan change never changes the arithmetic of a position twice.
// Families without an output bias (LLaMA) pass none.

export function combine(x: Float32Array, bias: Float32Array | undefined, partials: Array<Float32Array | undefined>): Float32Array {
  const out = new Float32Array(x.length);
  if (bias) {
    const E = bias.length;
    for (let i = 0; i < x.length; i++) out[i] = x[i]! + bias[i % E]!;
  } else out.set(x);
  for (const p of partials) {
    if (!p) continue;
    for (let i = 0; i < out.length; i++) out[i]! += p[i]!;
  }
  return out;
}
