// Adding partial sums into the residual stream: x_new = ((x + bias) + p_edge) + p_cloud, row by
// row. The order is fixed so a plan change never changes the arithmetic of a position twice.

export function combine(x: Float32Array, bias: Float32Array, partials: Array<Float32Array | undefined>): Float32Array {
  const E = bias.length, out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! + bias[i % E]!;
  for (const p of partials) {
    if (!p) continue;
    for (let i = 0; i < out.length; i++) out[i]! += p[i]!;
  }
  return out;
}
