// Browser parity check of the exported placement policy (test hook only; loaded on demand, so the
// page's normal start does not fetch it): evaluates the policy ONNX with onnxruntime-web through
// the platform-neutral PolicyRunner, one recorded state at a time, compares every greedy action
// with the training code's, and times the decisions (from the features to the plan: the feature
// vector, session.run with its tensors, decodeAction).
//
// Timing: one state at a time, awaited as the page does. A cold pass (the 1,000 states after a
// short warm-up) and a warm pass (after WARM_PASSES more passes and a pause) are both reported.
// The cold pass's tail is not the policy's: V8 tiers the page's code up while it runs (onnxruntime's
// wasm from Liftoff to TurboFan, the decoder's JS to Maglev and TurboFan) on background threads,
// which on a 2-core machine take turns with the page's main thread and ORT's WASM thread.
import { PRESETS, buildModelGraph } from '@splitwise/core';
import { decodeAction, PolicyRunner, type PolicyAction } from '@splitwise/policy';
import { createWebRuntime } from '@splitwise/runtime-web';
import type { PolicyCheckAction, PolicyCheckResult, PolicyCheckState, PolicyCheckTimes } from './hook-types.ts';
import { ORT_WASM_PATHS } from './ort-assets.ts';

/** Untimed passes over the states between the cold and the warm pass. */
const WARM_PASSES = 2;
/** Idle time before the warm pass: the background compilers finish what the warm-up started. */
const SETTLE_MS = 200;

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

function times(total: number[], run: number[], decode: number[]): PolicyCheckTimes {
  const q = (xs: number[]): [number, number] => {
    const s = [...xs].sort((x, y) => x - y);
    return [quantile(s, 0.5), quantile(s, 0.99)];
  };
  const [p50Ms, p99Ms] = q(total), [runP50Ms, runP99Ms] = q(run), [decodeP50Ms, decodeP99Ms] = q(decode);
  return { p50Ms, p99Ms, meanMs: total.reduce((x, y) => x + y, 0) / total.length, maxMs: Math.max(...total), runP50Ms, runP99Ms, decodeP50Ms, decodeP99Ms };
}

const sameAction = (a: PolicyAction, want: PolicyCheckAction): boolean =>
  a.fracIndex === want.fracIndex &&
  a.precIndex === want.precIndex &&
  a.counts.cloudHeads.length === want.cloudHeads.length &&
  a.counts.cloudWidth.length === want.cloudWidth.length &&
  a.counts.cloudHeads.every((v, l) => v === want.cloudHeads[l]) &&
  a.counts.cloudWidth.every((v, l) => v === want.cloudWidth[l]);

export async function policyCheck(onnx: Uint8Array, states: PolicyCheckState[], model = 'gpt2-xl', warmup = 50): Promise<PolicyCheckResult> {
  const preset = PRESETS[model as keyof typeof PRESETS];
  if (!preset) throw new Error(`unknown model preset "${model}"`);
  const graph = buildModelGraph(preset);
  const runtime = await createWebRuntime({ wasmPaths: ORT_WASM_PATHS });
  const runner = await PolicyRunner.create(runtime, onnx, graph);
  const mismatches: PolicyCheckResult['mismatches'] = [];
  const check = (i: number, a: PolicyAction): boolean => {
    const want = states[i]!.action;
    if (sameAction(a, want)) return true;
    if (mismatches.length < 5) mismatches.push({ index: i, got: { fracIndex: a.fracIndex, precIndex: a.precIndex, cloudHeads: Array.from(a.counts.cloudHeads), cloudWidth: Array.from(a.counts.cloudWidth) }, want });
    return false;
  };
  // one pass over the states, one at a time; the number of actions equal to the recorded ones
  const pass = async (timed?: { total: number[]; run: number[]; decode: number[] }): Promise<number> => {
    let same = 0;
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!, t0 = performance.now();
      const [out] = await runner.outputs(Float32Array.from(s.features));
      const t1 = performance.now();
      const a = decodeAction(graph, out!, s.request, s.memoryFreeBytes);
      const t2 = performance.now();
      timed?.total.push(t2 - t0);
      timed?.run.push(t1 - t0);
      timed?.decode.push(t2 - t1);
      if (check(i, a)) same++;
    }
    return same;
  };
  try {
    for (let i = 0; i < Math.min(warmup, states.length); i++) {
      const s = states[i]!;
      const [out] = await runner.outputs(Float32Array.from(s.features));
      decodeAction(graph, out!, s.request, s.memoryFreeBytes);
    }
    const cold = { total: [] as number[], run: [] as number[], decode: [] as number[] };
    const coldSame = await pass(cold);
    for (let k = 0; k < WARM_PASSES; k++) await pass();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const warm = { total: [] as number[], run: [] as number[], decode: [] as number[] };
    const same = await pass(warm);
    return {
      total: states.length,
      same: Math.min(same, coldSame),
      mismatches,
      runtime: runtime.name,
      threads: runtime.threads,
      ...times(warm.total, warm.run, warm.decode),
      cold: times(cold.total, cold.run, cold.decode),
    };
  } finally {
    await runner.release();
  }
}
