// `npm start`: make the default model if there is none, build the page, and serve both.
//   tsx scripts/start.ts [--model models/default] [--config gpt2] [--port 8080] [--host 127.0.0.1]
//                        [--no-build] [--log-level info]
// PORT (env) sets the port too; --port 0 takes a free one. Prints "splitwise: listening on URL".
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'vite';
import { PRESETS, type PresetName } from '@splitwise/core';
import { makeModel } from '@splitwise/checkpoint/node';
import { createCloudServer } from '@splitwise/server';

const root = fileURLToPath(new URL('..', import.meta.url));

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, 'models/default') },
    config: { type: 'string', default: 'gpt2' },
    port: { type: 'string', default: process.env.PORT ?? '8080' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    'no-build': { type: 'boolean', default: false },
    'log-level': { type: 'string' },
  },
});

const port = Number(a.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${a.port}`);
if (!(a.config in PRESETS)) throw new Error(`--config must be one of ${Object.keys(PRESETS).join(', ')}`);

const modelDir = resolve(a.model);
if (!existsSync(join(modelDir, 'model.safetensors'))) {
  console.log(`splitwise: no model in ${modelDir}; making a random-weight ${a.config} (seed 0) there first…`);
  const r = await makeModel({ config: a.config as PresetName, seed: 0, outDir: modelDir });
  console.log(`splitwise: made ${(r.parameters / 1e6).toFixed(1)}M parameters, ${(r.bytes / 2 ** 20).toFixed(0)} MiB in ${r.seconds.toFixed(1)} s`);
}

const webDist = join(root, 'apps/web/dist');
if (!a['no-build']) {
  const t0 = performance.now();
  await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
  console.log(`splitwise: built the page in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} else if (!existsSync(join(webDist, 'index.html'))) {
  throw new Error(`${webDist} has no build; run without --no-build (or npm run build:web)`);
}

const server = await createCloudServer({ modelDir, port, host: a.host, webDist, ...(a['log-level'] ? { logLevel: a['log-level'] } : {}) });
console.log(`splitwise: listening on ${server.url}/ (model ${modelDir})`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void server.close().then(() => process.exit(0)));
}
