import { PRESETS } from '@splitwise/core';
import { makeModel, loadGpt2FromDir } from './src/node.ts';
const preset = (process.argv[2] ?? 'gpt2') as keyof typeof PRESETS;
const dtype = (process.argv[3] ?? 'F32') as 'F32' | 'F16';
const dir = `/tmp/bench-${preset}-${dtype}`;
let t = performance.now();
const r = await makeModel({ config: preset, seed: 1, outDir: dir, dtype });
console.log(`${preset} ${dtype}: make+write ${r.seconds.toFixed(2)}s, ${r.parameters} params, ${(r.bytes / 1e9).toFixed(2)} GB, ${(r.parameters / r.seconds / 1e6).toFixed(1)} M params/s end-to-end`);
for (const s of process.argv[4] === 'stream-only' ? [0] : [undefined, 0]) {
  t = performance.now();
  const ck = await loadGpt2FromDir(dir, { streamThresholdBytes: s });
  console.log(`load (${s === 0 ? 'tensor by tensor' : 'whole file'}): ${((performance.now() - t) / 1000).toFixed(2)}s, ${ck.tensors.size} tensors, rss ${(process.memoryUsage().rss / 1e9).toFixed(2)} GB`);
}
