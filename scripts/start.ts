// `npm start`: build the page and serve it with the shipped story model (models/stories260K).
//   tsx scripts/start.ts [--model DIR ...] [--gpt2] [--config PRESET] [--port 8080] [--host 127.0.0.1]
//                        [--no-build] [--no-batching] [--log-level info]
// --model may repeat: the server hosts each, the first is the default, and the page offers a
// picker. A --model folder without weights is made first, with random weights of --config's shape
// (seed 0). --gpt2 also hosts models/default (as "gpt2"), the random gpt2-small shape, for performance work.
// PORT (env) sets the port too; --port 0 takes a free one. Prints "splitwise: listening on URL".
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'vite';
import { PRESETS, type PresetName } from '@splitwise/core';
import { makeModel } from '@splitwise/checkpoint/node';
import { createCloudServer } from '@splitwise/server';

const root = fileURLToPath(new URL('..', import.meta.url));
const SHIPPED = join(root, 'models/stories260K');

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    gpt2: { type: 'boolean', default: false },
    config: { type: 'string', default: 'gpt2' },
    port: { type: 'string', default: process.env.PORT ?? '8080' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    'no-build': { type: 'boolean', default: false },
    // each session's calls on their own, as before continuous batching (the page then prices a congestion toll)
    'no-batching': { type: 'boolean', default: false },
    'log-level': { type: 'string' },
  },
});

const port = Number(a.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${a.port}`);

const dirs = (a.model?.length ? a.model : [SHIPPED]).map((d) => resolve(d));
if (a.gpt2) dirs.push(join(root, 'models/default'));
// each model is served under its folder's name, except models/default added by --gpt2: "gpt2"
// ("default" always names the first model)
const idOf = (dir: string, i: number): string => (a.gpt2 && i === dirs.length - 1 ? 'gpt2' : basename(dir));
for (const [i, dir] of dirs.entries()) {
  if (existsSync(join(dir, 'model.safetensors'))) continue;
  const preset = a.gpt2 && i === dirs.length - 1 ? 'gpt2' : a.config;
  if (!(preset in PRESETS)) throw new Error(`--config must be one of ${Object.keys(PRESETS).join(', ')}`);
  console.log(`splitwise: no model in ${dir}; making a random-weight ${preset} (seed 0) there first…`);
  const r = await makeModel({ config: preset as PresetName, seed: 0, outDir: dir });
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

const server = await createCloudServer({
  modelDir: dirs[0]!,
  ...(dirs.length > 1 ? { models: dirs.slice(1).map((dir, i) => ({ id: idOf(dir, i + 1), dir })) } : {}),
  port,
  host: a.host,
  webDist,
  ...(a['no-batching'] ? { batching: false } : {}),
  ...(a['log-level'] ? { logLevel: a['log-level'] } : {}),
});
console.log(`splitwise: listening on ${server.url}/ (models: ${server.models.list.map((m) => `${m.id} = ${m.dir}`).join(', ')})`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void server.close().then(() => process.exit(0)));
}
