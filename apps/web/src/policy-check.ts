// Browser parity check of the exported placement policy (test hook only; loaded on demand, so the
// page's normal start does not fetch it): evaluates the policy ONNX with onnxruntime-web through
// the platform-neutral PolicyRunner, one recorded state at a time, compares every greedy action
// with the training code's, and times the decisions (features precomputed; run + decode).
import { PRESETS, buildModelGraph } from '@splitwise/core';
import { decodeAction, PolicyRunner } from '@splitwise/policy';
import { createWebRuntime } from '@splitwise/runtime-web';
import type { PolicyCheckResult, PolicyCheckState } from './hook-types.ts';
import { ORT_WASM_PATHS } from './ort-assets.ts';

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

export async function policyCheck(onnx: Uint8Array, states: PolicyCheckState[], model = 'gpt2-xl', warmup = 50): Promise<PolicyCheckResult> {
  const preset = PRESETS[model as keyof typeof PRESETS];
  if (!preset) throw new Error(`unknown model preset "${model}"`);
  const graph = buildModelGraph(preset);
  const runtime = await createWebRuntime({ wasmPaths: ORT_WASM_PATHS });
  const runner = await PolicyRunner.create(runtime, onnx, graph);
  try {
    const decide = async (s: PolicyCheckState) => {
      const [out] = await runner.outputs(Float32Array.from(s.features));
      return decodeAction(graph, out!, s.request, s.memoryFreeBytes);
    };
    for (let i = 0; i < Math.min(warmup, states.length); i++) await decide(states[i]!);
    const ms: number[] = [];
    const mismatches: PolicyCheckResult['mismatches'] = [];
    let same = 0;
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!, t = performance.now();
      const a = await decide(s);
      ms.push(performance.now() - t);
      const got = { fracIndex: a.fracIndex, precIndex: a.precIndex, cloudHeads: Array.from(a.counts.cloudHeads), cloudWidth: Array.from(a.counts.cloudWidth) };
      if (JSON.stringify(got) === JSON.stringify(s.action)) same++;
      else if (mismatches.length < 5) mismatches.push({ index: i, got, want: s.action });
    }
    const sorted = [...ms].sort((x, y) => x - y);
    return {
      total: states.length,
      same,
      mismatches,
      runtime: runtime.name,
      threads: runtime.threads,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      meanMs: ms.reduce((x, y) => x + y, 0) / ms.length,
    };
  } finally {
    await runner.release();
  }
}
