import { Float16Array } from '@petamoriken/float16';
const n = 38597376;
const f = new Float32Array(n); for (let i = 0; i < n; i++) f[i] = (Math.random() - 0.5) * 0.04;
for (const CH of [1 << 14, 1 << 16, 1 << 20]) {
  const t = performance.now();
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i += CH) { const h = new Float16Array(f.subarray(i, i + CH)); out.set(new Uint16Array(h.buffer, 0, h.length), i); }
  console.log(CH, ((performance.now() - t)/n*1e6).toFixed(1), 'ns/elem');
}
