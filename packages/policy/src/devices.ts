// Edge devices the paper evaluates on, derived from the profile measured on this machine with
// documented factors (shared/research/devices.md holds every figure and its source):
//
//   decodeFactor  = (this machine's effective decode GB/s)  / (the device's effective decode GB/s)
//   prefillFactor = (this machine's effective GFLOP/s)      / (the device's effective GFLOP/s)
//
// The device's effective decode bandwidth comes from a published LLM decode rate: a decode step
// streams every weight once, so GB/s ~= model bytes x tokens/s. Its effective FLOP rate comes from
// a published dense benchmark (HPL) or a peak times an efficiency, as stated per device. Where a
// figure was not found the derivation says so and what it falls back to.
import { deriveProfile, type DeviceProfile, type RadioModel, type Source } from './profile.ts';

const HUANG = 'Huang et al., "A Close Examination of Performance and Power Characteristics of 4G LTE Networks", MobiSys 2012, DOI 10.1145/2307636.2307658, table of power-model parameters [R: from memory of the paper, not re-read; see shared/research/devices.md section 2.1]';

export const WIFI_RADIO: RadioModel = {
  alphaUpMwPerMbps: 283.17,
  alphaDownMwPerMbps: 137.01,
  betaMw: 132.86,
  tailS: 0,
  tailMw: 0,
  sources: [
    { what: 'Wi-Fi power model P = au*tu + ad*td + beta (t in Mbit/s)', value: 'au 283.17 mW/Mbps, ad 137.01 mW/Mbps, beta 132.86 mW', source: HUANG },
    { what: 'Wi-Fi tail', value: 'not modelled (no figure in the research notes)', source: 'shared/research/devices.md section 2' },
  ],
};

export const LTE_RADIO: RadioModel = {
  alphaUpMwPerMbps: 438.39,
  alphaDownMwPerMbps: 51.97,
  betaMw: 1288.04,
  tailS: 11.576,
  tailMw: 1060,
  sources: [
    { what: 'LTE power model P = au*tu + ad*td + beta', value: 'au 438.39 mW/Mbps, ad 51.97 mW/Mbps, beta 1288.04 mW', source: HUANG },
    { what: 'LTE RRC tail', value: '11.576 s at 1060 mW', source: HUANG },
    { what: '5G radio', value: 'no numeric 5G UE power model was found; the 5G-like channel uses this LTE model', source: 'shared/research/devices.md section 5' },
  ],
};

interface DeviceSpec {
  name: string;
  description: string;
  memoryBytes: number;
  decodeGBps: number;
  prefillGflops: number | null;
  rationale: string;
  sources: Source[];
  power: DeviceProfile['power'];
  notes: string[];
}

const GiB = 2 ** 30;

export const DEVICE_SPECS: DeviceSpec[] = [
  {
    name: 'rpi5-8gb',
    description: 'Raspberry Pi 5, 8 GB (BCM2712, 4x Cortex-A76 @ 2.4 GHz, LPDDR4X-4267), CPU inference',
    memoryBytes: 8 * GiB,
    // TinyLlama-1.1B q8_0: 1.1e9 weights x 8.5 bits (32 int8 + one fp16 scale per block of 32) = 1.17 GB per token, 9 tok/s
    decodeGBps: (1.1e9 * 8.5) / 8 / 1e9 * 9,
    // HPL 30.249 GFLOP/s FP64; NEON holds 4 FP32 lanes where it holds 2 FP64: x2
    prefillGflops: 2 * 30.249,
    rationale:
      'decode: TinyLlama-1.1B q8_0 decodes at 9 tok/s on a Pi 5; q8_0 stores 8.5 bits per weight, so a token streams 1.17 GB: 10.5 GB/s effective ' +
      '(between the 4.64 GB/s single-thread memcpy and the 17.1 GB/s theoretical bus). prefill: HPL reaches 30.249 GFLOP/s in FP64; FP32 NEON has twice the lanes: 60.5 GFLOP/s.',
    sources: [
      { what: 'TinyLlama-1.1B q8_0 decode on Pi 5', value: '9 tok/s (eval)', source: 'J. Tunney, "LLaMA Now Goes Faster on CPUs" (justine.lol/matmul), mirrored in github.com/guevara/read-it-later/issues/11711 [V]' },
      { what: 'HPL FP64, Pi 5 8 GB at 2.4 GHz', value: '30.249 GFLOP/s at 11 W', source: 'https://github.com/geerlingguy/top500-benchmark/issues/18 [V]' },
      { what: 'memcpy, 1 thread', value: '4.64 GB/s', source: 'https://github.com/ggml-org/whisper.cpp/issues/89 [V]' },
      { what: 'q8_0 block format', value: '32 int8 weights + 1 fp16 scale = 8.5 bits/weight', source: 'llama.cpp ggml block layout [inferred, background]' },
    ],
    power: {
      activeW: 11.6,
      idleW: 3.3,
      sources: [
        { what: 'Pi 5 power running an LLM (Ollama llama3.1:8b, CPU)', value: '11.6 W', source: 'https://github.com/geerlingguy/sbc-reviews/issues/21 (comment 2025-01-09) [V]' },
        { what: 'Pi 5 idle power (4 GB board, C1 stepping)', value: '3.3 W', source: 'https://jeffgeerling.com/blog/2024/new-2gb-pi-5-has-33-smaller-die-30-idle-power-savings [V]' },
      ],
    },
    notes: ['Idle power is the 4 GB board\'s; the LLM power figure is the 16 GB board\'s (the closest published pair).'],
  },
  {
    name: 'jetson-orin-nx-16gb-15w',
    description: 'NVIDIA Jetson Orin NX 16 GB in its default 15W mode (4 CPU cores <= 1.65 GHz, 2 TPCs = 512 CUDA cores <= 612 MHz, EMC uncapped), GPU inference',
    memoryBytes: 16 * GiB,
    // TinyLlama-1.1B q4f16_ft (MLC): ~4.5 bits per weight with group scales = 0.62 GB per token, 30-45 tok/s (midpoint 37.5)
    decodeGBps: (1.1e9 * 4.5) / 8 / 1e9 * 37.5,
    // 0.63 TFLOP/s FP32 peak in 10W/15W x 0.39 (the fraction of peak HPL reaches on the Pi 5: 30.2 of 76.8 FP64)
    prefillGflops: 630 * (30.249 / 76.8),
    rationale:
      'decode: TinyLlama-1.1B q4f16_ft decodes at 30-45 tok/s (MLC, measured in MAXN; 15W leaves the memory clock uncapped, so a memory-bound decode keeps its rate); ' +
      'at ~4.5 bits per weight a token streams 0.62 GB: 23.2 GB/s effective (of 102.4 GB/s theoretical). prefill: FP32 peak in 15W is 512 cores x 2 x 0.612 GHz = 0.63 TFLOP/s; ' +
      'no measured dense-GEMM rate was found, so the fraction of peak that HPL reaches on the Pi 5 (39 %) is assumed: 248 GFLOP/s.',
    sources: [
      { what: 'TinyLlama-1.1B q4f16_ft decode on Orin NX (MLC, MAXN)', value: '30-45 tok/s', source: 'https://github.com/dusty-nv/NanoLLM/issues/38 [V]' },
      { what: '15W mode: CPU/GPU/EMC caps', value: '4 cores <= 1.65 GHz, 2 TPCs, GPU <= 612 MHz, EMC uncapped', source: 'NVIDIA L4T nvpmodel_p3767_0000.conf (LineageOS/android_device_nvidia_concord) [V]' },
      { what: 'GPU FP32 peak, 10W/15W', value: '0.63 TFLOP/s', source: 'shared/research/devices.md 1.2 [D] (512 cores x 2 x 0.612 GHz)' },
      { what: 'memory bandwidth', value: '102.4 GB/s (128-bit LPDDR5)', source: 'shared/research/devices.md 1.2 [D]' },
      { what: 'q4f16 size', value: '~4.5 bits per weight incl. group scales', source: '[inferred, background]' },
    ],
    power: {
      activeW: 15,
      idleW: null,
      sources: [
        { what: 'active power', value: '15 W (the mode\'s name; the modes cap clocks, they are not measured budgets)', source: 'nvpmodel conf above; ARK-Electronics/ark_jetson_kernel PR #116 [V]' },
        { what: 'idle power', value: 'not found', source: 'shared/research/devices.md 1.2' },
      ],
    },
    notes: ['Idle power not found: the energy model charges nothing while this device waits on the network (an underestimate).'],
  },
  {
    name: 'galaxy-s23',
    description: 'Samsung Galaxy S23 (Snapdragon 8 Gen 2 for Galaxy, LPDDR5X 64 GB/s), GPU (OpenCL) inference',
    memoryBytes: 8 * GiB,
    // Llama-2-7B int4 (MLC, OpenCL): 6.7e9 weights x ~4.5 bits = 3.77 GB per token at ~7 tok/s
    decodeGBps: (6.7e9 * 4.5) / 8 / 1e9 * 7,
    prefillGflops: null,
    rationale:
      'decode: Llama-2-7B int4 decodes at about 7 tok/s with MLC-LLM on the 8 Gen 2; at ~4.5 bits per weight a token streams 3.77 GB: 26.4 GB/s effective (of 64 GB/s). ' +
      'prefill: no citable FP32 FLOP rate was found for the Adreno 740, so prefill is scaled by the decode factor (flagged).',
    sources: [
      { what: 'Llama-2-7B int4 decode, MLC-LLM OpenCL, 8 Gen 2', value: '~7 tok/s', source: 'https://github.com/wangzhaode/mnn-llm/issues/146 (comment by shifeiwen, 2024-01-18) [V]' },
      { what: 'memory bandwidth', value: '64 GB/s', source: 'https://gadgetgang.com/qualcomm-showcase-gen-2 [V]' },
      { what: 'GPU TFLOPS', value: 'not found', source: 'shared/research/devices.md 1.3' },
    ],
    power: {
      activeW: 6.4,
      idleW: null,
      sources: [
        { what: 'sustained SoC power under load (S23 Ultra, 10 min Genshin Impact)', value: '6.4 W', source: 'Golden Reviewer via https://indexofnews.com/samsung-galaxy-s23-ultra-fails-to-outperform-snapdragon-8-gen-1-phones-in-a-real-world-gaming-test [V]' },
        { what: 'idle power', value: 'not found', source: 'shared/research/devices.md 1.3' },
      ],
    },
    notes: ['Active power is a gaming workload\'s, not an LLM\'s. Idle power not found: waiting is charged nothing.'],
  },
];

/** A device's time factors against a measured native profile of this machine, and how they were made. */
function deviceFactors(native: DeviceProfile, d: DeviceSpec): { decodeFactor: number; prefillFactor: number; rationale: string } {
  const m = native.measurement;
  if (!m) throw new Error(`profile "${native.name}" has no measurement to derive from`);
  const decodeFactor = m.effectiveDecodeGBps / d.decodeGBps;
  const prefillFactor = d.prefillGflops === null ? decodeFactor : m.effectivePrefillGflops / d.prefillGflops;
  const rationale =
    `${d.rationale} Factors: decode ${m.effectiveDecodeGBps.toFixed(1)} / ${d.decodeGBps.toFixed(1)} GB/s = ${decodeFactor.toFixed(2)}; ` +
    (d.prefillGflops === null
      ? `prefill = decode factor (no FLOP figure).`
      : `prefill ${m.effectivePrefillGflops.toFixed(0)} / ${d.prefillGflops.toFixed(0)} GFLOP/s = ${prefillFactor.toFixed(2)}.`) +
    ' Per-call overheads are scaled by the same factors.';
  return { decodeFactor, prefillFactor, rationale };
}

/** The derived edge profiles, from a measured profile of this machine. */
export function derivedProfiles(measured: DeviceProfile): DeviceProfile[] {
  return DEVICE_SPECS.map((d) => {
    const { decodeFactor, prefillFactor, rationale } = deviceFactors(measured, d);
    return deriveProfile(measured, {
      name: d.name,
      description: d.description,
      memoryBytes: d.memoryBytes,
      derivation: { from: measured.name, decodeFactor, prefillFactor, rationale, sources: d.sources },
      power: d.power,
      radio: { wifi: WIFI_RADIO, lte: LTE_RADIO },
      notes: d.notes,
    });
  });
}

/**
 * A device running another runtime (e.g. the page in Chromium, onnxruntime-web WASM): the device's
 * factors, computed against the native profile of this machine exactly as derivedProfiles() does
 * (the published device figures are native: llama.cpp, HPL), applied to `runtimeProfile`, a
 * profile of this same machine measured under that runtime. This assumes that the runtime's speed
 * relative to native, as measured here, carries over to the device.
 */
export function deriveRuntimeProfile(
  runtimeProfile: DeviceProfile,
  native: DeviceProfile,
  device: string,
  o: { name: string; description: string; memoryBytes?: number | null; assumption: string },
): DeviceProfile {
  const d = DEVICE_SPECS.find((s) => s.name === device);
  if (!d) throw new Error(`unknown device "${device}" (one of ${DEVICE_SPECS.map((s) => s.name).join(', ')})`);
  if (!runtimeProfile.measurement) throw new Error(`profile "${runtimeProfile.name}" has no measurement to derive from`);
  const { decodeFactor, prefillFactor, rationale } = deviceFactors(native, d);
  return deriveProfile(runtimeProfile, {
    name: o.name,
    description: o.description,
    memoryBytes: o.memoryBytes === undefined ? d.memoryBytes : o.memoryBytes,
    derivation: {
      from: runtimeProfile.name,
      decodeFactor,
      prefillFactor,
      rationale: `${device}'s factors against ${native.name} (native), applied to ${runtimeProfile.name}. ${rationale} ${o.assumption}`,
      sources: d.sources,
    },
    power: d.power,
    radio: { wifi: WIFI_RADIO, lte: LTE_RADIO },
    notes: [...d.notes, o.assumption],
  });
}
