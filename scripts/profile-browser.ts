// npm run profile:browser — the device profile of the browser edge: the same sweep as
// `npm run profile:node` (packages/policy/src/profiler.ts), run by onnxruntime-web (WASM threads)
// in the real page in headless Chromium, served cross-origin isolated by the real server. Fits the
// samples exactly as profile:node does and writes packages/policy/profiles/chromium-wasm-2vcpu.json
// (+ .samples.json), and the Raspberry Pi 5 kiosk's profile derived from it
// (rpi5-8gb-chromium-wasm.json: the Pi's factors from devices.ts, against the native profile).
//
//   npx tsx scripts/profile-browser.ts [--quick] [--threads N] [--rounds 3] [--xl-layers 4]
//                                      [--no-build] [--out DIR] [--refit]
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from '@playwright/test';
import { build } from 'vite';
import { PRESETS } from '@splitwise/core';
import { makeModel } from '@splitwise/checkpoint/node';
import { createCloudServer } from '@splitwise/server';
import { kernelMs, parseProfile, shapeFor, type DeviceProfile, type Sample } from '../packages/policy/src/profile.ts';
import { effectiveRates, fitProfileKernels, formatFits } from '../packages/policy/src/profiler.ts';
import { deriveRuntimeProfile } from '../packages/policy/src/devices.ts';
import type { HookWindow, ProfileOptions, ProfileResult, SplitwiseState } from '../apps/web/src/hook-types.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../apps/web/e2e/chromium.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    /** WASM threads (default: the page's own default, one per core). */
    threads: { type: 'string' },
    rounds: { type: 'string' },
    'xl-layers': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    out: { type: 'string', default: join(root, 'packages/policy/profiles') },
    /** The native profile the WASM one is compared with and the Pi's factors are computed against. */
    native: { type: 'string', default: join(root, 'packages/policy/profiles/node-epyc-2vcpu.json') },
    /** Fit again from the saved samples without measuring. */
    refit: { type: 'boolean', default: false },
  },
});
const NAME = 'chromium-wasm-2vcpu', PI_NAME = 'rpi5-8gb-chromium-wasm';
const out = resolve(a.out);
const int = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number.parseInt(v, 10));
const GiB = 2 ** 30;
// onnxruntime-web's WASM build is wasm32: its heap (constant-weight graphs, input copies) tops out at 4 GiB
const WASM32_HEAP = 4 * GiB;
const loadavg = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' / ');

const native = parseProfile(JSON.parse(await readFile(a.native, 'utf8')));
const ortVersion = (JSON.parse(await readFile(join(root, 'node_modules/onnxruntime-web/package.json'), 'utf8')) as { version: string }).version;
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';

interface Measured {
  samples: Sample[];
  profile: Omit<DeviceProfile, 'kernels'>;
}

async function measure(): Promise<Measured> {
  // the page needs a model to start: a tiny one (it idles while the sweep makes its own weights)
  const modelDir = join(os.tmpdir(), 'splitwise-models', 'tiny');
  if (!existsSync(join(modelDir, 'model.safetensors'))) await makeModel({ config: 'tiny', seed: 0, outDir: modelDir });
  const webDist = join(root, 'apps/web/dist');
  if (!a['no-build'] || !existsSync(join(webDist, 'index.html'))) {
    const t = performance.now();
    await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
    console.log(`built the page in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  // the real server: it sends COOP/COEP with the page, so the page is cross-origin isolated (WASM threads)
  const server = await createCloudServer({ modelDir, port: 0, webDist, logLevel: 'warn' });
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const chromiumVersion = browser.version();
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    page.on('console', (m) => {
      if (m.type() === 'log' && m.text().startsWith('profile: ')) console.log(m.text().slice(9));
      else if (m.type() === 'error') console.error('page console error:', m.text());
    });
    const threads = int(a.threads);
    await page.goto(`${server.url}/?store=0&plan=edge${threads ? `&threads=${threads}` : ''}`);
    await page.waitForFunction(() => (globalThis as HookWindow).__splitwise?.state.ready || (globalThis as HookWindow).__splitwise?.state.error, null, { timeout: 120_000 });
    const state = await page.evaluate(() => (globalThis as HookWindow).__splitwise!.state as SplitwiseState);
    if (state.error) throw new Error(`the page failed to start: ${state.error}`);
    if (!state.crossOriginIsolated) throw new Error('the page is not cross-origin isolated: WASM threads would be off');
    console.log(`Chromium ${chromiumVersion}, page ready: ${state.backend}, ${state.threads} threads; load average ${loadavg()}`);

    const options: ProfileOptions = {
      echo: true,
      quick: a.quick,
      ...(threads ? { numThreads: threads } : {}),
      ...(a.rounds ? { rounds: int(a.rounds)! } : {}),
      ...(a['xl-layers'] ? { xlLayers: int(a['xl-layers'])! } : {}),
    };
    const load0 = os.loadavg();
    const t0 = performance.now();
    const r: ProfileResult = await page.evaluate((o) => (globalThis as HookWindow).__splitwise!.profile(o), options);
    const wall = (performance.now() - t0) / 1000;
    const load1 = os.loadavg();
    const rounds = int(a.rounds) ?? (a.quick ? 1 : 3);
    const cmd = ['npx tsx scripts/profile-browser.ts', a.quick ? '--quick' : '', a.threads ? `--threads ${a.threads}` : '', a.rounds ? `--rounds ${a.rounds}` : '',
      a['xl-layers'] ? `--xl-layers ${a['xl-layers']}` : ''].filter((s) => s).join(' ');
    const layers = r.layers.map((l) => `${l.nLayer} layers at E=${l.nEmbd}`).join(', ');
    const la = (l: number[]): string => l.map((x) => x.toFixed(1)).join('/');
    return {
      samples: r.samples,
      profile: {
        version: 1,
        name: NAME,
        description:
          `The browser edge on this development machine: headless Chromium ${chromiumVersion} (Debian build) running the chat page, ` +
          `onnxruntime-web ${ortVersion} on WASM with ${r.threads} threads (cross-origin isolated: ${r.crossOriginIsolated}; WebAssembly SIMD: ${r.wasmSimd ? 'yes' : 'no'}); ` +
          `${os.cpus().length} vCPU ${cpu}, ${(os.totalmem() / GiB).toFixed(0)} GiB RAM`,
        kind: 'measured',
        runtime: `onnxruntime-web ${ortVersion}, ${r.runtime} (ort-wasm-simd-threaded), ${r.threads} threads, constant-weight layer graphs, Chromium ${chromiumVersion} headless`,
        memoryBytes: Math.min(os.totalmem(), WASM32_HEAP),
        measurement: {
          date: new Date().toISOString().slice(0, 10),
          command: cmd,
          machine:
            `${os.cpus().length} x ${cpu}; Chromium ${chromiumVersion}, navigator.hardwareConcurrency ${r.hardwareConcurrency}; ${layers}; ${rounds} rounds, least median per point kept; ` +
            `load average (1/5/15 min) ${la(load0)} before, ${la(load1)} after; sweep ${(r.ms / 1000).toFixed(0)} s in the page, wall ${wall.toFixed(0)} s`,
          effectiveDecodeGBps: 0,
          effectivePrefillGflops: 0,
        },
        power: null,
        radio: null,
        notes: [
          'No energy counters on this machine (no RAPL): power is null.',
          'Measured in the page itself (window.__splitwise.profile, apps/web/src/profile-hook.ts) with the platform-neutral sweep of packages/policy/src/profiler.ts, the one profile:node runs on onnxruntime-node; random weights made in the page.',
          'attn/ffn samples come from the weightless graphs (weights as inputs, copied into the WASM heap on every call); layer samples from constant-weight layer graphs; lmHead from the constant Gemm graph; combine is JavaScript (V8).',
          `memoryBytes is the wasm32 heap limit of onnxruntime-web (4 GiB), not the machine's RAM: the constant-weight graphs and every call's inputs live in that heap.`,
          'Fits minimise relative squared error with non-negative coefficients; mape is on the fit samples.',
        ],
      },
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

const t0 = performance.now();
let m: Measured;
if (a.refit) {
  const prev = parseProfile(JSON.parse(await readFile(join(out, `${NAME}.json`), 'utf8')));
  const { kernels: _, ...profile } = prev;
  m = { samples: JSON.parse(await readFile(join(out, `${NAME}.samples.json`), 'utf8')) as Sample[], profile };
  m.profile.notes = (m.profile.notes ?? []).filter((n) => !n.startsWith('WASM/native'));
} else {
  console.log(`load average (1/5/15 min) before: ${loadavg()}`);
  m = await measure();
}

const kernels = fitProfileKernels(m.samples);
const measured: DeviceProfile = { ...m.profile, kernels } as DeviceProfile;
Object.assign(measured.measurement!, effectiveRates(m.samples));

// WASM against native on this machine, from the two profiles' fits: a gpt2 layer, and gpt2-xl's
const ratio = (preset: 'gpt2' | 'gpt2-xl', o: { n: number; P: number }): number =>
  kernelMs(measured, 'layer', shapeFor(PRESETS[preset], o)) / kernelMs(native, 'layer', shapeFor(PRESETS[preset], o));
const ratios = {
  gpt2Decode: ratio('gpt2', { n: 1, P: 127 }),
  gpt2Prefill: ratio('gpt2', { n: 256, P: 0 }),
  xlDecode: ratio('gpt2-xl', { n: 1, P: 127 }),
  xlPrefill: ratio('gpt2-xl', { n: 256, P: 0 }),
};
const ratioNote =
  `WASM/native time ratio on this machine (layer fits of this profile over ${native.name}'s): gpt2 layer decode at context 127 ${ratios.gpt2Decode.toFixed(2)}x, ` +
  `prefill of 256 rows ${ratios.gpt2Prefill.toFixed(2)}x; gpt2-xl layer ${ratios.xlDecode.toFixed(2)}x and ${ratios.xlPrefill.toFixed(2)}x.`;
measured.notes = [...(measured.notes ?? []), ratioNote];

const pi = deriveRuntimeProfile(measured, native, 'rpi5-8gb', {
  name: PI_NAME,
  description: 'Raspberry Pi 5, 8 GB (BCM2712, 4x Cortex-A76 @ 2.4 GHz), running the chat page in Chromium (scripts/kiosk.sh): onnxruntime-web WASM, one thread per core',
  memoryBytes: WASM32_HEAP,
  assumption:
    `Assumption: the WASM/native ratio measured on this machine (${NAME} over ${native.name}) carries over to the Pi's Cortex-A76 (WASM SIMD128 maps onto NEON as it maps onto SSE/AVX here; ` +
    `not measured on a Pi). memoryBytes is onnxruntime-web's wasm32 heap limit (4 GiB), below the board's 8 GB.`,
});

await mkdir(out, { recursive: true });
await writeFile(join(out, `${NAME}.json`), JSON.stringify(measured, null, 2) + '\n');
await writeFile(join(out, `${NAME}.samples.json`), JSON.stringify(m.samples.map((s) => ({ ...s, ms: Number(s.ms.toFixed(4)) }))) + '\n');
await writeFile(join(out, `${PI_NAME}.json`), JSON.stringify(pi, null, 2) + '\n');

console.log('\nfits:');
for (const line of formatFits(kernels)) console.log(line);
const eff = measured.measurement!;
console.log(`effective decode ${eff.effectiveDecodeGBps.toFixed(1)} GB/s, prefill ${eff.effectivePrefillGflops.toFixed(0)} GFLOP/s (native: ${native.measurement!.effectiveDecodeGBps.toFixed(1)} GB/s, ${native.measurement!.effectivePrefillGflops.toFixed(0)} GFLOP/s)`);
console.log(ratioNote);
console.log(`${PI_NAME}: decode factor ${pi.derivation!.decodeFactor.toFixed(2)}, prefill factor ${pi.derivation!.prefillFactor.toFixed(2)}`);
console.log(`wrote ${join(out, `${NAME}.json`)} (+ .samples.json) and ${join(out, `${PI_NAME}.json`)}; load average now ${loadavg()}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
