// The peer in the browser benchmark: transformers.js (@huggingface/transformers) generating
// greedily with its KV cache, on onnxruntime-web's WASM backend, from a folder that
// `splitwise export-transformersjs` wrote. Everything is served by the benchmark itself: the model
// under /models/, onnxruntime-web's glue and binary (transformers.js's own copy) under /ort/; no
// hub, no CDN. The page does nothing until scripts/bench-e2e.ts calls window.__transformersjs.
// (Typechecked with the scripts, without the DOM lib: the few browser globals go through globalThis.)
import { AutoModelForCausalLM, env, pipeline, Tensor, type PreTrainedModel } from '@huggingface/transformers';
import type { PeerGenerateRequest, PeerGenerateResult, PeerHook, PeerLoadRequest, PeerLoadResult, PeerWindow } from './hook-types.ts';

type Generator = Awaited<ReturnType<typeof pipeline<'text-generation'>>>;
/** generate()'s streamer: typed as TextStreamer, called only through put() and end(). */
type Streamer = NonNullable<Parameters<PreTrainedModel['generate']>[0]['streamer']>;
let model: PreTrainedModel | undefined, generator: Generator | undefined;

/** Receives the prompt once, then each new token as it is sampled (generate's streamer contract). */
class TokenTimer {
  readonly tokens: number[] = [];
  readonly times: number[] = [];
  private prompt = true;
  put(ids: bigint[][]): void {
    if (this.prompt) {
      this.prompt = false;
      return;
    }
    this.times.push(performance.now());
    this.tokens.push(Number(ids[0]![0]!));
  }
  end(): void {}
}

const hook: PeerHook = {
  async load(req: PeerLoadRequest): Promise<PeerLoadResult> {
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = '/models/';
    // like the edge page opened with store=0: nothing written to Cache Storage while measured
    env.useBrowserCache = false;
    env.useWasmCache = false;
    const wasm = env.backends.onnx.wasm!;
    wasm.wasmPaths = req.wasmPaths;
    wasm.numThreads = req.threads;
    const options = { device: 'wasm', dtype: 'fp32' } as const;
    const t0 = performance.now();
    if (req.tokenizer) {
      generator = await pipeline('text-generation', req.model, options);
      model = generator.model;
    } else {
      model = await AutoModelForCausalLM.from_pretrained(req.model, options);
    }
    const ms = performance.now() - t0;
    return {
      ms,
      version: env.version,
      ortVersion: String(env.backends.onnx.versions?.web ?? '?'),
      device: options.device,
      dtype: options.dtype,
      threads: wasm.numThreads ?? 0,
      crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
      pipeline: generator !== undefined,
    };
  },

  async generate(req: PeerGenerateRequest): Promise<PeerGenerateResult> {
    if (!model) throw new Error('load() first');
    const n = req.promptIds.length, timer = new TokenTimer();
    const input_ids = new Tensor('int64', BigInt64Array.from(req.promptIds.map(BigInt)), [1, n]);
    const attention_mask = new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
    const t0 = performance.now();
    try {
      await model.generate({ input_ids, attention_mask, max_new_tokens: req.maxNewTokens, do_sample: false, streamer: timer as unknown as Streamer });
    } catch (e) {
      return { tokens: timer.tokens, tokenMs: [], ms: performance.now() - t0, error: e instanceof Error ? e.message : String(e) };
    }
    const tokenMs = timer.times.map((t, i) => t - (i === 0 ? t0 : timer.times[i - 1]!));
    return { tokens: timer.tokens, tokenMs, ms: performance.now() - t0 };
  },

  async generateText(prompt: string, maxNewTokens: number): Promise<string> {
    if (!generator) throw new Error('no pipeline: the model folder has no tokenizer');
    const out = (await generator(prompt, { max_new_tokens: maxNewTokens, do_sample: false })) as Array<{ generated_text: string }>;
    return out[0]!.generated_text;
  },
};

(globalThis as PeerWindow).__transformersjs = hook;
