import { loadGpt2FromDir } from './src/node.ts';
const dir = '/tmp/bench-gpt2-F32';
for (const s of [0, 0, undefined, 0]) {
  const t = performance.now();
  const ck = await loadGpt2FromDir(dir, { streamThresholdBytes: s });
  console.log(`load (${s === 0 ? 'tensor by tensor' : 'whole file'}): ${((performance.now() - t) / 1000).toFixed(2)}s ${ck.tensors.size}`);
}
