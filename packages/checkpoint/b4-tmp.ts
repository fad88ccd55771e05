import { PRESETS } from '@splitwise/core';
import { makeRandomGpt2 } from './src/index.ts';
import { parameterCount } from '@splitwise/core';
for (let k = 0; k < 3; k++) {
  const t = performance.now();
  makeRandomGpt2(PRESETS.gpt2, k);
  const s = (performance.now() - t) / 1000;
  console.log(`makeRandomGpt2(gpt2): ${s.toFixed(2)}s = ${(parameterCount(PRESETS.gpt2) / s / 1e6).toFixed(1)} M normals/s`);
}
