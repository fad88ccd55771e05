// Device profiles: what each kind of graph call costs on one device and runtime, as a small
// fitted model per kernel kind and regime:
//
//   time_ms = a + b * GFLOP + c * MB + d * KV_MB
//
// (MB: megabytes of weights and activations the call streams; KV_MB: megabytes of KV cache it reads
// and writes, which the runtime copies (Concat) and so costs more per byte than streaming weights)
//
// fitted separately for decode (1 new row) and prefill (n > 1 rows), because a single-row call is
// bound by memory traffic and a many-row call by arithmetic. The features (FLOPs, bytes) come from
// the model family's unit costs (core's arch/), so one profile serves every shape of every family.
// The format is runtime-agnostic: a profile measured in a browser (onnxruntime-web) has the same fields.
import { z } from 'zod';
import { familyOf, gpt2Config, llamaConfig, type ModelConfig, type SubBlockCost } from '@splitwise/core';

/** Graph calls the engine makes (see SPLIT_GRAPH_IO in @splitwise/core). */
export const KERNEL_KINDS = ['attn', 'ffn', 'layer', 'lmHead', 'combine', 'sessionRun'] as const;
export type KernelKind = (typeof KERNEL_KINDS)[number];
export type Regime = 'decode' | 'prefill';

const F32 = 4;

/** The shape of one call: `n` new rows at past context `P`, over `heads` heads or `width` hidden units. */
export interface KernelShape {
  /** n_embd, head dim, vocabulary. */
  E: number;
  hd: number;
  V: number;
  /** Rows processed by this call (1 when decoding). */
  n: number;
  /** Positions already in the KV cache. */
  P: number;
  /** attn: attention units in the call; layer: all of them. */
  heads: number;
  /** ffn: hidden units in the call; layer: n_inner. */
  width: number;
  /** The family's attention unit; absent (profiles' samples): a GPT-2 head. */
  arch?: { family: 'llama'; queryHeadsPerUnit: number; qkvBias: boolean };
}

/** The family's cost of one attention unit and of `width` hidden units, for a call's dimensions. */
function unitCosts(s: KernelShape): { attn: SubBlockCost; ffn: SubBlockCost } {
  const c: ModelConfig = s.arch
    ? llamaConfig({ nLayer: 1, nEmbd: s.E, headDim: s.hd, nHead: s.arch.queryHeadsPerUnit, nKvHead: 1, nInner: s.width, vocabSize: s.V, qkvBias: s.arch.qkvBias, bosTokenId: 0, eosTokenId: 0 })
    : gpt2Config({ nLayer: 1, nEmbd: s.E, nHead: s.E / s.hd, nInner: s.width, vocabSize: s.V, bosTokenId: 0, eosTokenId: 0 });
  const f = familyOf(c);
  return { attn: f.attnUnitCost(c), ffn: f.ffnChunkCost(c, s.width) };
}

export interface KernelFeatures {
  gflop: number;
  mb: number;
  kvMb: number;
}

function attnFeatures(s: KernelShape): KernelFeatures {
  const { E, n, P, heads: h } = s, unit = unitCosts(s).attn;
  // the units' weights and the row in and out; the past KV is read and the present written (Concat)
  const bytes = h * unit.weightBytes + 2 * n * E * F32;
  const kv = h * unit.kvBytesPerToken * (2 * P + n);
  return { gflop: (h * unit.flops(n, P)) / 1e9, mb: bytes / 1e6, kvMb: kv / 1e6 };
}

function ffnFeatures(s: KernelShape): KernelFeatures {
  const { E, n, P } = s, chunk = unitCosts(s).ffn;
  return { gflop: chunk.flops(n, P) / 1e9, mb: (chunk.weightBytes + 2 * n * E * F32) / 1e6, kvMb: 0 };
}

/** FLOPs and bytes of a call of this kind. */
export function kernelFeatures(kind: KernelKind, s: KernelShape): KernelFeatures {
  switch (kind) {
    case 'attn':
      return attnFeatures(s);
    case 'ffn':
      return ffnFeatures(s);
    case 'layer': {
      const a = attnFeatures(s), f = ffnFeatures(s);
      return { gflop: a.gflop + f.gflop, mb: a.mb + f.mb, kvMb: a.kvMb };
    }
    case 'lmHead':
      // final LayerNorm + Gemm on one row against [V, E]
      return { gflop: (2 * s.E * s.V) / 1e9, mb: (s.V * s.E * F32) / 1e6, kvMb: 0 };
    case 'combine':
      // ((x + b) + p1) + p2 over n rows, in JavaScript: bytes touched
      return { gflop: (3 * s.n * s.E) / 1e9, mb: (4 * s.n * s.E * F32) / 1e6, kvMb: 0 };
    case 'sessionRun':
      return { gflop: 0, mb: 0, kvMb: 0 };
  }
}

export const shapeFor = (c: ModelConfig, o: Partial<KernelShape> = {}): KernelShape => ({
  E: c.nEmbd,
  hd: c.headDim,
  V: c.vocabSize,
  n: 1,
  P: 0,
  heads: familyOf(c).attnUnits(c),
  width: c.nInner,
  ...(c.family === 'llama' ? { arch: { family: 'llama' as const, queryHeadsPerUnit: c.nHead / c.nKvHead, qkvBias: c.qkvBias } } : {}),
  ...o,
});

export interface Fit {
  /** ms per call. */
  a: number;
  /** ms per GFLOP. */
  b: number;
  /** ms per MB of weights and activations. */
  c: number;
  /** ms per MB of KV cache read and written. */
  d: number;
  /** Samples the fit used, and its mean absolute percentage error on them. */
  samples: number;
  mape: number;
}

export const fitTime = (f: Fit, x: KernelFeatures): number => f.a + f.b * x.gflop + f.c * x.mb + f.d * x.kvMb;

export interface Source {
  /** What the figure is. */
  what: string;
  value: string;
  /** URL or bibliographic reference; tags as in shared research notes: [V] read, [D] derived, [R] from memory. */
  source: string;
}

/** Radio power model of Huang et al. (MobiSys 2012): P = au * up_Mbps + ad * down_Mbps + beta, plus a tail. */
export interface RadioModel {
  /** mW per Mbit/s of uplink throughput (so mJ per Mbit sent). */
  alphaUpMwPerMbps: number;
  alphaDownMwPerMbps: number;
  /** mW while the radio is in its high-power state. */
  betaMw: number;
  /** High-power tail after the last packet, seconds, and its power in mW (0 when not modelled). */
  tailS: number;
  tailMw: number;
  sources: Source[];
}

export interface PowerFigures {
  /** Whole-device power while computing, W. */
  activeW: number;
  /** Whole-device power while idle (waiting on the network); null where no public figure was found. */
  idleW: number | null;
  sources: Source[];
}

export interface DeviceProfile {
  version: 1;
  name: string;
  description: string;
  kind: 'measured' | 'derived';
  /** e.g. "onnxruntime-node 1.30.0 cpu, 2 intra-op threads". */
  runtime: string;
  /** Usable memory of the device in bytes (what an edge may hold at most), where known. */
  memoryBytes: number | null;
  kernels: Record<KernelKind, Record<Regime, Fit>>;
  /** How a derived profile was made from a measured one. */
  derivation?: {
    from: string;
    /** Time multipliers: decode by the ratio of effective memory bandwidths, prefill by the ratio of FLOP rates. */
    decodeFactor: number;
    prefillFactor: number;
    rationale: string;
    sources: Source[];
  };
  /** Measured profiles: when, how, and the effective rates the fits imply. */
  measurement?: {
    date: string;
    command: string;
    machine: string;
    /** Effective GB/s of a single-row GEMV-bound call and GFLOP/s of a many-row call (from the layer fits). */
    effectiveDecodeGBps: number;
    effectivePrefillGflops: number;
  };
  power: PowerFigures | null;
  radio: { wifi: RadioModel; lte: RadioModel } | null;
  notes?: string[];
}

const FitSchema = z.object({ a: z.number(), b: z.number(), c: z.number(), d: z.number(), samples: z.number(), mape: z.number() });
const SourceSchema = z.object({ what: z.string(), value: z.string(), source: z.string() });
const RadioSchema = z.object({
  alphaUpMwPerMbps: z.number(),
  alphaDownMwPerMbps: z.number(),
  betaMw: z.number(),
  tailS: z.number(),
  tailMw: z.number(),
  sources: z.array(SourceSchema),
});
const RegimesSchema = z.object({ decode: FitSchema, prefill: FitSchema });
const ProfileSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  description: z.string(),
  kind: z.enum(['measured', 'derived']),
  runtime: z.string(),
  memoryBytes: z.number().nullable(),
  kernels: z.object(Object.fromEntries(KERNEL_KINDS.map((k) => [k, RegimesSchema])) as Record<KernelKind, typeof RegimesSchema>),
  derivation: z
    .object({ from: z.string(), decodeFactor: z.number().positive(), prefillFactor: z.number().positive(), rationale: z.string(), sources: z.array(SourceSchema) })
    .optional(),
  measurement: z
    .object({ date: z.string(), command: z.string(), machine: z.string(), effectiveDecodeGBps: z.number(), effectivePrefillGflops: z.number() })
    .optional(),
  power: z.object({ activeW: z.number(), idleW: z.number().nullable(), sources: z.array(SourceSchema) }).nullable(),
  radio: z.object({ wifi: RadioSchema, lte: RadioSchema }).nullable(),
  notes: z.array(z.string()).optional(),
});

/** Validate a profile read from JSON. */
export function parseProfile(json: unknown): DeviceProfile {
  const r = ProfileSchema.safeParse(json);
  if (!r.success) {
    throw new Error(`not a device profile: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data as DeviceProfile;
}

/** Predicted milliseconds of one call of `kind` with shape `s` on this device. */
export function kernelMs(p: DeviceProfile, kind: KernelKind, s: KernelShape): number {
  const fit = p.kernels[kind][s.n > 1 ? 'prefill' : 'decode'];
  return Math.max(0, fitTime(fit, kernelFeatures(kind, s)));
}

/**
 * A profile for another device from a measured one: decode-regime fits scaled by `decodeFactor`,
 * prefill-regime fits by `prefillFactor` (every coefficient, the per-call overhead included).
 */
export function deriveProfile(
  base: DeviceProfile,
  o: Omit<DeviceProfile, 'kernels' | 'kind' | 'version' | 'measurement' | 'runtime'> & { derivation: NonNullable<DeviceProfile['derivation']> },
): DeviceProfile {
  const scale = (f: Fit, k: number): Fit => ({ ...f, a: f.a * k, b: f.b * k, c: f.c * k, d: f.d * k });
  const kernels = Object.fromEntries(
    KERNEL_KINDS.map((kind) => [
      kind,
      { decode: scale(base.kernels[kind].decode, o.derivation.decodeFactor), prefill: scale(base.kernels[kind].prefill, o.derivation.prefillFactor) },
    ]),
  ) as DeviceProfile['kernels'];
  return { version: 1, kind: 'derived', runtime: `derived from ${base.name} (${base.runtime})`, ...o, kernels };
}

// ---------- fitting ----------

export interface Sample {
  kind: KernelKind;
  regime: Regime;
  shape: KernelShape;
  ms: number;
}

/**
 * Weighted least squares on the columns in `use` of X (normal equations, Gauss-Jordan with
 * pivoting): the coefficients, zero outside `use`, or undefined when the system is singular.
 */
export function weightedLsq(X: number[][], y: number[], w: number[], use: number[], singular = 1e-18): number[] | undefined {
  const k = use.length;
  const A = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let r = 0; r < X.length; r++) {
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) A[i]![j]! += w[r]! * X[r]![use[i]!]! * X[r]![use[j]!]!;
      A[i]![k]! += w[r]! * X[r]![use[i]!]! * y[r]!;
    }
  }
  for (let i = 0; i < k; i++) {
    let p = i;
    for (let r = i + 1; r < k; r++) if (Math.abs(A[r]![i]!) > Math.abs(A[p]![i]!)) p = r;
    [A[i], A[p]] = [A[p]!, A[i]!];
    if (Math.abs(A[i]![i]!) < singular) return undefined;
    for (let r = 0; r < k; r++) {
      if (r === i) continue;
      const f = A[r]![i]! / A[i]![i]!;
      for (let c = i; c <= k; c++) A[r]![c]! -= f * A[i]![c]!;
    }
  }
  const out = new Array<number>(X[0]!.length).fill(0);
  use.forEach((col, i) => (out[col] = A[i]![k]! / A[i]![i]!));
  return out;
}

/**
 * Fit time = a + b*GFLOP + c*MB + d*KV_MB with non-negative coefficients, minimising relative
 * squared error: every subset of the four columns is tried and the best non-negative one kept.
 */
export function fitSamples(samples: Sample[]): Fit {
  if (samples.length === 0) return { a: 0, b: 0, c: 0, d: 0, samples: 0, mape: 0 };
  const X = samples.map((s) => {
    const f = kernelFeatures(s.kind, s.shape);
    return [1, f.gflop, f.mb, f.kvMb];
  });
  const y = samples.map((s) => s.ms);
  const weights = y.map((v) => 1 / Math.max(1e-6, v) ** 2);
  let best: Fit | undefined;
  for (let m = 1; m < 16; m++) {
    const use = [0, 1, 2, 3].filter((c) => m & (1 << c));
    if (use.length > samples.length) continue;
    // weight by 1/y^2: minimise relative error, so small calls matter as much as large ones
    const coef = weightedLsq(X, y, weights, use);
    if (!coef || coef.some((v) => v < 0 || !Number.isFinite(v))) continue;
    const pred = X.map((x) => coef[0]! * x[0]! + coef[1]! * x[1]! + coef[2]! * x[2]! + coef[3]! * x[3]!);
    const mape = pred.reduce((a, p, i) => a + Math.abs(p - y[i]!) / y[i]!, 0) / y.length;
    if (!best || mape < best.mape - 1e-12) best = { a: coef[0]!, b: coef[1]!, c: coef[2]!, d: coef[3]!, samples: samples.length, mape };
  }
  return best ?? { a: y.reduce((a, v) => a + v, 0) / y.length, b: 0, c: 0, d: 0, samples: samples.length, mape: NaN };
}

// ---------- link overhead ----------

/** Where both sides run when a LinkOverhead was measured. */
export const OVERHEAD_LINKS = ['in-process', 'socket-loopback'] as const;
export type OverheadLink = (typeof OVERHEAD_LINKS)[number];

/** MAPE of the fit plans' predictions, prefill and decode. */
export interface MapePair {
  prefill: number;
  decode: number;
}

/** One link's measured overhead (the fields of cost-model's LinkOverhead) and how it was fitted. */
export interface LinkOverheadEntry {
  /** ms per sync point, ms per byte moved (up + down), ms per byte of weights the cloud gathers at a sequence start. */
  msPerCall: number;
  msPerByte: number;
  gatherMsPerByte: number;
  /** Both sides shared the machine's cores when measured (price with LinkCostOptions.sharedCores). */
  sharedCores: boolean;
  what: string;
  fit: {
    /** Plans the fit used (disjoint from the validation plans) and rows (plan x prefill/decode). */
    plans: string[];
    rows: number;
    /** Per-pass residual of the compute model at the time (fitted with the terms, not part of them). */
    passBiasMs: MapePair;
    /** On the fit plans: the model without the terms, with sharedCores only, and with both. */
    mapeBefore: MapePair;
    mapeSharedCores: MapePair;
    mapeAfter: MapePair;
    /** Extra measurements that bound the terms (an empty round trip, the time a call spends outside the cloud). */
    direct: Record<string, number>;
  };
}

export interface LinkOverheadProfile {
  version: 1;
  name: string;
  description: string;
  measurement: { date: string; command: string; machine: string; runtime: string; loadAverageStart: number[]; loadAverageEnd: number[] };
  links: Record<OverheadLink, LinkOverheadEntry>;
  notes?: string[];
}

const MapeSchema = z.object({ prefill: z.number(), decode: z.number() });
const OverheadEntrySchema = z.object({
  msPerCall: z.number().nonnegative(),
  msPerByte: z.number().nonnegative(),
  gatherMsPerByte: z.number().nonnegative(),
  sharedCores: z.boolean(),
  what: z.string(),
  fit: z.object({
    plans: z.array(z.string()),
    rows: z.number(),
    passBiasMs: MapeSchema,
    mapeBefore: MapeSchema,
    mapeSharedCores: MapeSchema,
    mapeAfter: MapeSchema,
    direct: z.record(z.string(), z.number()),
  }),
});
const OverheadProfileSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  description: z.string(),
  measurement: z.object({
    date: z.string(),
    command: z.string(),
    machine: z.string(),
    runtime: z.string(),
    loadAverageStart: z.array(z.number()),
    loadAverageEnd: z.array(z.number()),
  }),
  links: z.object({ 'in-process': OverheadEntrySchema, 'socket-loopback': OverheadEntrySchema }),
  notes: z.array(z.string()).optional(),
});

/** Validate a link-overhead profile read from JSON. */
export function parseLinkOverheadProfile(json: unknown): LinkOverheadProfile {
  const r = OverheadProfileSchema.safeParse(json);
  if (!r.success) {
    throw new Error(`not a link-overhead profile: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data as LinkOverheadProfile;
}
