// Measures what each kind of graph call costs on one runtime, through the engine's own path
// (SplitSessions + SideRunner over the real weightless split graphs, constant-weight layer graphs
// and the LM head), for the device profile's fits. Platform-neutral: `npm run profile:node` runs it
// on onnxruntime-node, `npm run profile:browser` on onnxruntime-web inside Chromium.
import {
  PRESETS,
  SideRunner,
  SplitSessions,
  SplitWeights,
  buildModelGraph,
  gpt2Config,
  combine,
  edgeOnlyPlan,
  f32,
  type ModelConfig,
  type ModelGraph,
  type PresetName,
  type PartitionPlan,
  type RuntimeAdapter,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { GraphBuilder, graphSource } from '@splitwise/onnx-graphs';
import { KERNEL_KINDS, fitSamples, kernelFeatures, shapeFor, type DeviceProfile, type KernelKind, type Regime, type Sample } from './profile.ts';

export interface ProfilerOptions {
  /** Fewer points and repetitions (a smoke run). */
  quick?: boolean;
  /** Passes over the whole sweep; the least median per point is kept. @defaultValue 3 (1 when quick) */
  rounds?: number;
  /** Model dimensions to sweep, of any family (e.g. 'smollm-135m' for LLaMA's KV-group units). @defaultValue ['gpt2', 'gpt2-xl'] */
  presets?: PresetName[];
  /** Layers of each preset held at once and used in turn. @defaultValue 8 (gpt2), 4 (gpt2-xl), 2 (others) */
  layers?: Partial<Record<PresetName, number>>;
  log?: (line: string) => void;
  /** Each measurement as it is taken (before the least-median merge), with its log line. */
  onSample?: (sample: Sample, line: string) => void;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function time(reps: number, warm: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

const rand = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);

/** Plan with the first c attention units and first c FFN chunks of every layer on the cloud. */
function countPlan(g: ModelGraph, units: number, chunks: number): PartitionPlan {
  const layer = { cloudHeads: Array.from({ length: units }, (_, i) => i), cloudFfnChunks: Array.from({ length: chunks }, (_, i) => i) };
  return { nHead: g.attnUnits, ffnChunks: g.ffnChunks, layers: Array.from({ length: g.config.nLayer }, () => layer) };
}

/** Every sample of the sweep on `runtime`: attention, FFN, whole layers, LM head, combine, an empty run. */
export async function profileRuntime(runtime: RuntimeAdapter, o: ProfilerOptions = {}): Promise<Sample[]> {
  const quick = o.quick ?? false, rounds = o.rounds ?? (quick ? 1 : 3), log = o.log ?? (() => undefined);
  const byKey = new Map<string, Sample>();
  const push = (kind: KernelKind, regime: Regime, shape: ReturnType<typeof shapeFor>, ms: number): void => {
    const key = JSON.stringify([kind, regime, shape]);
    const prev = byKey.get(key);
    if (!prev || ms < prev.ms) byKey.set(key, { kind, regime, shape, ms });
    const f = kernelFeatures(kind, shape);
    const line =
      `${kind.padEnd(10)} ${regime.padEnd(7)} E=${shape.E} n=${String(shape.n).padStart(3)} P=${String(shape.P).padStart(3)} h=${String(shape.heads).padStart(2)} w=${String(shape.width).padStart(4)}  ${ms.toFixed(3).padStart(8)} ms  (${f.gflop.toFixed(4)} GFLOP, ${f.mb.toFixed(2)} MB)`;
    log(line);
    o.onSample?.({ kind, regime, shape, ms }, line);
  };

  async function profileDims(preset: PresetName): Promise<void> {
    // Several layers, used in turn: each call streams its weights from memory, as in a real forward
    // pass (one layer's weights measured over and over would sit in the CPU's last-level cache).
    const NL = o.layers?.[preset] ?? (preset === 'gpt2' ? 8 : preset === 'gpt2-xl' ? 4 : 2);
    const config: ModelConfig = { ...PRESETS[preset], nLayer: NL };
    const E = config.nEmbd;
    const ckpt = makeRandomGpt2(config, 1);
    const graph = buildModelGraph(config), H = graph.attnUnits;
    const K = graph.ffnChunks;
    const sessions = await SplitSessions.create(runtime, graphSource(ckpt));
    const counts = quick ? [1, Math.ceil(H / 2), H] : preset === 'gpt2-xl' ? [1, 3, 6, 9, 12, 16, 20, 25] : Array.from({ length: H }, (_, i) => i + 1);
    const pasts = quick ? [127] : [31, 127, 511].filter((P) => P < config.nPositions);
    const prefills = quick ? [64] : [16, 64, 256];
    const decodeReps = quick ? 8 : 24, prefillReps = quick ? 4 : 8;
    let turn = 0;
    const nextLayer = (): number => turn++ % NL;

    // attention of c heads and FFN of c chunks (the cloud side owns them), in every layer
    for (const c of counts) {
      const plan = countPlan(graph, c, Math.min(c, K));
      const runner = new SideRunner('cloud', new SplitWeights(ckpt, graph), sessions, plan);
      const width = graph.layers[0]!.ffnChunks.slice(0, Math.min(c, K)).reduce((a, r) => a + r.width, 0);
      for (const P of pasts) {
        runner.reset(plan);
        for (let l = 0; l < NL; l++) await runner.attn(l, rand(P * E), P, 0);
        const saved = runner.saveKv(), x = rand(E);
        const ms = await time(decodeReps, NL, async () => {
          runner.restoreKv(saved);
          await runner.attn(nextLayer(), x, 1, P);
        });
        push('attn', 'decode', shapeFor(config, { n: 1, P, heads: c }), ms);
      }
      for (const n of prefills) {
        const x = rand(n * E);
        const ms = await time(prefillReps, NL, async () => {
          runner.reset(plan);
          await runner.attn(nextLayer(), x, n, 0);
        });
        push('attn', 'prefill', shapeFor(config, { n, P: 0, heads: c }), ms);
      }
      const x1 = rand(E);
      push('ffn', 'decode', shapeFor(config, { n: 1, width }), await time(decodeReps, NL, () => runner.ffn(nextLayer(), x1, 1)));
      for (const n of prefills) {
        const x = rand(n * E);
        push('ffn', 'prefill', shapeFor(config, { n, width }), await time(prefillReps, NL, () => runner.ffn(nextLayer(), x, n)));
      }
    }

    // a whole layer in one call (constant-weight graphs), and the LM head
    const edgePlan = edgeOnlyPlan(graph);
    const edge = new SideRunner('edge', new SplitWeights(ckpt, graph), sessions, edgePlan);
    for (const P of pasts) {
      edge.reset(edgePlan);
      for (let l = 0; l < NL; l++) await edge.layer(l, rand(P * E), P, 0);
      const saved = edge.saveKv(), x = rand(E);
      const ms = await time(decodeReps, NL, async () => {
        edge.restoreKv(saved);
        await edge.layer(nextLayer(), x, 1, P);
      });
      push('layer', 'decode', shapeFor(config, { n: 1, P }), ms);
    }
    for (const n of prefills) {
      const x = rand(n * E);
      const ms = await time(prefillReps, NL, async () => {
        edge.reset(edgePlan);
        await edge.layer(nextLayer(), x, n, 0);
      });
      push('layer', 'prefill', shapeFor(config, { n, P: 0 }), ms);
    }
    // the LM head streams the whole [V, E] matrix (larger than any cache): measured as it is
    const xl = rand(E);
    push('lmHead', 'decode', shapeFor(config), await time(decodeReps, 3, () => edge.logits(xl)));

    // adding partial sums into the residual (JavaScript), per row count
    const bias = rand(E);
    for (const n of [1, ...prefills]) {
      const x = rand(n * E), p = rand(n * E);
      push('combine', n > 1 ? 'prefill' : 'decode', shapeFor(config, { n }), await time(50, 10, () => combine(x, bias, [p, p])));
    }
    await sessions.release();
  }

  /** A graph that does nothing (Identity on [n, E]): the fixed cost of one session run. */
  async function profileSessionRun(): Promise<void> {
    for (const E of [768, 1600]) {
      const g = new GraphBuilder('noop');
      const x = g.input('x', 'float32', ['T', E]);
      g.output(g.op('Identity', [x]), 'y', 'float32', ['T', E]);
      const s = await runtime.createSession(g.toBytes(), 'noop');
      for (const n of [1, 64]) {
        const xin = rand(n * E);
        const ms = await time(quick ? 50 : 200, quick ? 10 : 50, () => s.run({ x: f32(xin, [n, E]) }));
        push('sessionRun', n > 1 ? 'prefill' : 'decode', shapeFor(gpt2Config({ ...PRESETS.gpt2, nEmbd: E }), { n }), ms);
      }
      await s.release();
    }
  }

  for (let r = 0; r < rounds; r++) {
    await profileSessionRun();
    for (const p of o.presets ?? ['gpt2', 'gpt2-xl']) await profileDims(p);
  }
  return [...byKey.values()];
}

/** The same sweep under the name the profiling scripts use. */
export const profileSweep = profileRuntime;

/** Fit every kind and regime (the LM head runs on one row: both regimes share its decode fit). */
export function fitProfileKernels(samples: Sample[]): DeviceProfile['kernels'] {
  return Object.fromEntries(
    KERNEL_KINDS.map((k) => {
      const of = (r: Regime) => samples.filter((s) => s.kind === k && s.regime === r);
      const dec = fitSamples(of('decode'));
      return [k, { decode: dec, prefill: k === 'lmHead' ? dec : fitSamples(of('prefill')) }];
    }),
  ) as DeviceProfile['kernels'];
}

/** Effective decode bandwidth and prefill FLOP rate, read from the gpt2-xl-dims layer samples. */
export function effectiveRates(samples: Sample[]): { effectiveDecodeGBps: number; effectivePrefillGflops: number } {
  const xlLayer = (r: Regime) => samples.filter((s) => s.kind === 'layer' && s.regime === r && s.shape.E === 1600);
  const dec = xlLayer('decode').find((s) => s.shape.P === 127) ?? xlLayer('decode')[0];
  const pre = xlLayer('prefill').at(-1);
  if (!dec || !pre) throw new Error('effective rates need gpt2-xl-dims layer samples (decode and prefill)');
  return {
    effectiveDecodeGBps: (kernelFeatures('layer', dec.shape).mb + kernelFeatures('layer', dec.shape).kvMb) / dec.ms,
    effectivePrefillGflops: (kernelFeatures('layer', pre.shape).gflop * 1000) / pre.ms,
  };
}

/** One line per kind and regime, for the scripts' summaries. */
export function formatFits(kernels: DeviceProfile['kernels']): string[] {
  const lines: string[] = [];
  for (const k of KERNEL_KINDS) {
    for (const r of ['decode', 'prefill'] as const) {
      const f = kernels[k][r];
      lines.push(`${k.padEnd(10)} ${r.padEnd(7)} a=${f.a.toFixed(4)} ms  b=${f.b.toFixed(3)} ms/GFLOP  c=${f.c.toFixed(4)} ms/MB  d=${f.d.toFixed(4)} ms/KV-MB  n=${f.samples}  MAPE ${(100 * f.mape).toFixed(1)}%`);
    }
  }
  return lines;
}
