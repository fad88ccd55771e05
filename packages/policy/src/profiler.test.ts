// The platform-neutral profiling sweep (profile:node and profile:browser both run it) gives
// well-formed samples on a tiny model with onnxruntime-node, and the committed browser profiles
// (measured in Chromium by profile:browser, and the Pi 5 kiosk's derived from it) are valid
// profiles with every kernel kind, derived with the same Pi factors as the native rpi5-8gb profile.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OrtNodeRuntime } from '@splitwise/runtime-node';
import { deriveRuntimeProfile } from './devices.ts';
import { KERNEL_KINDS, kernelFeatures, parseProfile, type DeviceProfile, type Sample } from './profile.ts';
import { effectiveRates, fitProfileKernels, formatFits, profileSweep } from './profiler.ts';

const profile = (name: string): DeviceProfile =>
  parseProfile(JSON.parse(readFileSync(fileURLToPath(new URL(`../profiles/${name}.json`, import.meta.url)), 'utf8')));

describe('profileSweep', () => {
  it('measures every kernel kind on a tiny model (onnxruntime-node, quick)', { timeout: 20_000 }, async () => {
    const seen: Sample[] = [];
    const samples = await profileSweep(new OrtNodeRuntime({ intraOpNumThreads: 1 }), {
      quick: true,
      presets: ['tiny'],
      onSample: (s) => seen.push(s),
    });
    expect(new Set(samples.map((s) => s.kind))).toEqual(new Set(KERNEL_KINDS));
    for (const kind of KERNEL_KINDS) {
      const regimes = new Set(samples.filter((s) => s.kind === kind).map((s) => s.regime));
      expect([...regimes].sort(), kind).toEqual(kind === 'lmHead' ? ['decode'] : ['decode', 'prefill']);
    }
    // one sample per point (least median of the rounds), each seen as it was taken
    const keys = samples.map((s) => JSON.stringify([s.kind, s.regime, s.shape]));
    expect(new Set(keys).size).toBe(samples.length);
    expect(seen.length).toBeGreaterThanOrEqual(samples.length);
    for (const s of samples) {
      expect(Number.isFinite(s.ms) && s.ms > 0, JSON.stringify(s)).toBe(true);
      expect(s.regime === 'decode' ? s.shape.n === 1 : s.shape.n > 1).toBe(true);
      if (s.kind !== 'sessionRun') expect(s.shape.E).toBe(64);
      const f = kernelFeatures(s.kind, s.shape);
      expect(s.kind === 'sessionRun' ? f.gflop === 0 : f.gflop > 0).toBe(true);
    }
    // the fits are well formed (non-negative coefficients, finite errors)
    const kernels = fitProfileKernels(samples);
    for (const kind of KERNEL_KINDS) {
      for (const fit of Object.values(kernels[kind])) {
        expect(fit.samples).toBeGreaterThan(0);
        for (const v of [fit.a, fit.b, fit.c, fit.d]) expect(v).toBeGreaterThanOrEqual(0);
      }
    }
    expect(formatFits(kernels)).toHaveLength(2 * KERNEL_KINDS.length);
    // effective rates are read at gpt2-xl dims only
    expect(() => effectiveRates(samples)).toThrow(/gpt2-xl/);
  });
});

describe('browser profiles', () => {
  const wasm = profile('chromium-wasm-2vcpu');
  const native = profile('node-epyc-2vcpu');

  it('the measured Chromium WASM profile has every kernel kind, fitted from samples', () => {
    expect(wasm.kind).toBe('measured');
    expect(wasm.runtime).toMatch(/onnxruntime-web .*wasm/);
    expect(wasm.power).toBeNull();
    for (const kind of KERNEL_KINDS) {
      for (const regime of ['decode', 'prefill'] as const) {
        const f = wasm.kernels[kind][regime];
        expect(f.samples, `${kind} ${regime}`).toBeGreaterThan(0);
        expect(f.a + f.b + f.c + f.d, `${kind} ${regime}`).toBeGreaterThan(0);
      }
    }
    expect(wasm.measurement!.effectiveDecodeGBps).toBeGreaterThan(0);
    expect(wasm.measurement!.effectivePrefillGflops).toBeGreaterThan(0);
    expect(wasm.measurement!.machine).toMatch(/load average/);
  });

  it('the Pi 5 kiosk profile applies the native rpi5-8gb factors to the WASM profile', () => {
    const pi = profile('rpi5-8gb-chromium-wasm');
    const piNative = profile('rpi5-8gb');
    expect(pi.kind).toBe('derived');
    expect(pi.derivation!.from).toBe('chromium-wasm-2vcpu');
    expect(pi.derivation!.decodeFactor).toBeCloseTo(piNative.derivation!.decodeFactor, 12);
    expect(pi.derivation!.prefillFactor).toBeCloseTo(piNative.derivation!.prefillFactor, 12);
    expect(pi.power).toEqual(piNative.power);
    for (const kind of KERNEL_KINDS) {
      expect(pi.kernels[kind].decode.b).toBeCloseTo(wasm.kernels[kind].decode.b * pi.derivation!.decodeFactor, 9);
      expect(pi.kernels[kind].prefill.a).toBeCloseTo(wasm.kernels[kind].prefill.a * pi.derivation!.prefillFactor, 9);
    }
    // and it is what deriveRuntimeProfile gives today
    const again = deriveRuntimeProfile(wasm, native, 'rpi5-8gb', { name: pi.name, description: pi.description, memoryBytes: pi.memoryBytes, assumption: pi.notes!.at(-1)! });
    expect(again.kernels).toEqual(pi.kernels);
  });
});
