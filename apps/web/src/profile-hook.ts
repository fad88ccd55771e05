// Device profile of this browser (test hook only; loaded on demand, so the page's normal start does
// not fetch it): runs the platform-neutral profiling sweep of @splitwise/policy (the one
// `npm run profile:node` runs on onnxruntime-node) on onnxruntime-web in this page, with random
// weights made here, and returns the raw samples. scripts/profile-browser.ts fits and writes them.
import { PRESETS } from '@splitwise/core';
import { profileSweep } from '@splitwise/policy';
import { createWebRuntime } from '@splitwise/runtime-web';
import type { ProfileOptions, ProfileResult } from './hook-types.ts';
import { ORT_WASM_PATHS } from './ort-assets.ts';

// The smallest module with a SIMD instruction (v128.const + i8x16.splat...), as wasm-feature-detect tests it.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/**
 * @param pageThreads the WASM threads the page's own runtime started ORT with, if it has: ORT sizes
 *   its thread pool once per page, so a different count here would not take effect.
 */
export async function profile(o: ProfileOptions, pageThreads?: number): Promise<ProfileResult> {
  if (o.numThreads !== undefined && pageThreads !== undefined && o.numThreads !== pageThreads) {
    throw new Error(`the page started onnxruntime-web with ${pageThreads} threads; open it with ?threads=${o.numThreads} to profile ${o.numThreads}`);
  }
  const numThreads = o.numThreads ?? pageThreads;
  const runtime = await createWebRuntime({ wasmPaths: ORT_WASM_PATHS, ...(numThreads ? { numThreads } : {}) });
  // layers held at once and used in turn (the sweep's defaults: 8 at gpt2 dims, 4 at gpt2-xl dims)
  const layers = { gpt2: o.gpt2Layers ?? 8, 'gpt2-xl': o.xlLayers ?? 4 };
  const log: string[] = [];
  const t0 = performance.now();
  const samples = await profileSweep(runtime, {
    layers,
    ...(o.quick !== undefined ? { quick: o.quick } : {}),
    ...(o.rounds !== undefined ? { rounds: o.rounds } : {}),
    onSample: (_, line) => {
      log.push(line);
      // for a driver that follows the page's console (scripts/profile-browser.ts prints progress)
      if (o.echo) console.log(`profile: ${line}`);
    },
  });
  return {
    samples,
    runtime: runtime.name,
    backend: runtime.backend,
    threads: runtime.threads,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency,
    wasmSimd: WebAssembly.validate(SIMD_PROBE),
    userAgent: navigator.userAgent,
    layers: (['gpt2', 'gpt2-xl'] as const).map((p) => ({ nEmbd: PRESETS[p].nEmbd, nLayer: layers[p] })),
    ms: performance.now() - t0,
    log,
  };
}
