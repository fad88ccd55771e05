// npm run bench:quant-kernels — which ONNX formulation of an int8 / q4 product runs fastest, on
// onnxruntime-node and on onnxruntime-web's WASM build (run here in Node: the same .wasm the page
// loads). The decision behind onnx-graphs' linear.ts (docs/ARCHITECTURE.md, "Weight precision per
// side"). One row through a chain of L layers of x·W_up [E, I] then ·W_down [I, E] (gpt2-small's
// FFN sizes by default, 12 layers: 56.6 M weights, 226 MB at fp32, far beyond the caches), so the
// time is that of reading the weights. Per formulation: median ms per pass, weights per second,
// and the ratio to fp32 on the same runtime, all from one run.
//
//   npx tsx scripts/bench-quant-kernels.ts [--layers 12] [--embd 768] [--inner 3072] [--reps 15] [--threads 2] [--runtimes node,wasm]
import { parseArgs } from 'node:util';
import os from 'node:os';
import ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { quantizedFeeds, quantizeMatrix, readQuantizedFeed, type QuantizedPrecision, type TensorLike } from '@splitwise/core';
import { GraphBuilder } from '../packages/onnx-graphs/src/graph-builder.ts';
import { linear, quantizedInitializer } from '../packages/onnx-graphs/src/linear.ts';
import { median } from '../packages/cli/src/stats.ts';

const { values: a } = parseArgs({
  options: {
    layers: { type: 'string', default: '12' },
    embd: { type: 'string', default: '768' },
    inner: { type: 'string', default: '3072' },
    reps: { type: 'string', default: '15' },
    threads: { type: 'string', default: '2' },
    runtimes: { type: 'string', default: 'node,wasm' },
  },
});
const L = Number(a.layers), E = Number(a.embd), I = Number(a.inner), REPS = Number(a.reps), THREADS = Number(a.threads);

let seed = 1;
const rnd = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
const mats = Array.from({ length: L }, () => [Float32Array.from({ length: E * I }, () => rnd() * 2 * Math.sqrt(3 / E)), Float32Array.from({ length: I * E }, () => rnd() * 2 * Math.sqrt(3 / I))] as const);

/** Per-channel int8 as uint8 with zero point 128 (what DequantizeLinear and MatMulInteger take here). */
function perChannelU8(W: Float32Array, K: number, N: number): { q: Uint8Array; s: Float32Array } {
  const s = new Float32Array(N), q = new Uint8Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) s[n] = Math.max(s[n]!, Math.abs(W[k * N + n]!) / 127);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) q[k * N + n] = Math.round(W[k * N + n]! / (s[n]! || 1)) + 128;
  return { q, s };
}

type Kind = { name: string; precision?: QuantizedPrecision; int8Activations?: boolean; formulation: 'matmul' | 'dq' | 'matmulinteger' | 'nbits' };
const KINDS: Kind[] = [
  { name: 'fp32 MatMul', formulation: 'matmul' },
  { name: 'int8 DequantizeLinear + MatMul', formulation: 'dq' },
  { name: 'int8 DynamicQuantizeLinear + MatMulInteger', formulation: 'matmulinteger' },
  { name: 'int8 MatMulNBits, fp32 activations', precision: 'int8', formulation: 'nbits' },
  { name: 'int8 MatMulNBits, int8 activations', precision: 'int8', int8Activations: true, formulation: 'nbits' },
  { name: 'q4 MatMulNBits, fp32 activations', precision: 'q4', formulation: 'nbits' },
  { name: 'q4 MatMulNBits, int8 activations', precision: 'q4', int8Activations: true, formulation: 'nbits' },
];

function chain(k: Kind): Uint8Array {
  const b = new GraphBuilder(k.name);
  b.int8Activations = k.int8Activations ?? false;
  let x = b.input('x', 'float32', [1, E]);
  const zp = b.initializer('zp128', [], Uint8Array.of(128));
  const mm = (h: string, W: Float32Array, K: number, N: number, name: string): string => {
    switch (k.formulation) {
      case 'matmul':
        return b.op('MatMul', [h, b.initializer(name, [K, N], W)]);
      case 'dq': {
        const { q, s } = perChannelU8(W, K, N);
        const zps = b.initializer(`${name}.zp`, [N], new Uint8Array(N).fill(128));
        return b.op('MatMul', [h, b.op('DequantizeLinear', [b.initializer(name, [K, N], q), b.initializer(`${name}.s`, [N], s), zps], { axis: 1 })]);
      }
      case 'matmulinteger': {
        const { q, s } = perChannelU8(W, K, N);
        const [hq, hs, hz] = b.ops('DynamicQuantizeLinear', [h], {}, 3) as [string, string, string];
        const y = b.op('Cast', [b.op('MatMulInteger', [hq, b.initializer(name, [K, N], q), hz, zp])], { to: 1 });
        return b.op('Mul', [y, b.op('Mul', [hs, b.initializer(`${name}.s`, [N], s)])]);
      }
      case 'nbits': {
        const q = quantizeMatrix(W, K, N, k.precision!, [K]);
        return linear(b, h, quantizedInitializer(b, name, readQuantizedFeed(quantizedFeeds(name, q), name)!));
      }
    }
  };
  for (let l = 0; l < L; l++) x = mm(b.op('Relu', [mm(x, mats[l]![0], E, I, `up.${l}`)]), mats[l]![1], I, E, `down.${l}`);
  b.output(x, 'y', 'float32', [1, E]);
  return b.toBytes();
}

ortWeb.env.wasm.numThreads = 1;
ortWeb.env.logLevel = 'error';
const input: TensorLike = { dtype: 'float32', dims: [1, E], data: Float32Array.from({ length: E }, (_, i) => Math.sin(i)) };
const rows: Array<{ runtime: string; kind: string; ms: number }> = [];
const runtimes = a.runtimes.split(',') as Array<'node' | 'wasm'>;
console.log(`${L} layers of [${E}, ${I}] and [${I}, ${E}], one row: ${((2 * L * E * I) / 1e6).toFixed(1)} M weights; node ${THREADS} threads, wasm 1 thread; ${os.cpus()[0]?.model ?? ''}, load ${os.loadavg()[0]!.toFixed(1)}`);
for (const rt of runtimes) {
  for (const k of KINDS) {
    const model = chain(k);
    const ort = (rt === 'node' ? ortNode : ortWeb) as typeof ortNode;
    const s = await ort.InferenceSession.create(model, rt === 'node'
      ? { executionProviders: ['cpu'], intraOpNumThreads: THREADS, logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '0' } } } }
      : { executionProviders: ['wasm'], logSeverityLevel: 3 });
    const feeds = { x: new ort.Tensor('float32', input.data as Float32Array, [1, E]) };
    await s.run(feeds);
    const ts: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      await s.run(feeds);
      ts.push(performance.now() - t0);
    }
    await s.release();
    rows.push({ runtime: rt, kind: k.name, ms: median(ts) });
    process.stderr.write(`${rt} ${k.name}: ${median(ts).toFixed(2)} ms\n`);
  }
}
console.log('\nruntime | formulation                                  | ms / pass | G weights/s | x fp32');
for (const r of rows) {
  const base = rows.find((x) => x.runtime === r.runtime && x.kind === 'fp32 MatMul')!.ms;
  console.log(`${r.runtime.padEnd(7)} | ${r.kind.padEnd(44)} | ${r.ms.toFixed(2).padStart(9)} | ${((2 * L * E * I) / r.ms / 1e6).toFixed(2).padStart(11)} | ${(base / r.ms).toFixed(2).padStart(6)}`);
}
process.exit(0);
