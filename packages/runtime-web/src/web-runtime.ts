// RuntimeAdapter over onnxruntime-web: the browser edge's runtime.
//
// Loading ORT in a bundled page has one trap. ORT's WASM threads are module workers started from
// the script that holds ORT's emscripten glue. If that is a bundler chunk, the worker evaluates
// the chunk and everything it imports; a chunk that imports the app's entry (a static import of
// ORT, or a bundler helper shared with the entry) runs the page in the worker, which dies on
// `document`, and session.run then hangs forever. So ORT is loaded with a dynamic import (its own
// chunk; the WebGPU build, a 27 MB wasm, is only fetched when used), and the page hands over URLs
// of ORT's own glue files (`wasmPaths`): the workers then start from those, which import nothing.
import { RuntimeError, type RuntimeAdapter, type RuntimeSession, type TensorLike } from '@splitwise/core';
import type * as Ort from 'onnxruntime-web';

export type WebBackend = 'webgpu' | 'wasm';

export interface WebRuntimeOptions {
  /**
   * Use WebGPU when the browser has an adapter. Off by default: where the only adapter is a
   * software one (SwiftShader in headless Chromium) WebGPU is ~500x slower than WASM.
   * @defaultValue false
   */
  preferWebGPU?: boolean;
  /**
   * WASM threads. Threads need SharedArrayBuffer, so the page must be cross-origin isolated
   * (COOP same-origin + COEP require-corp). ORT's own default is 1 thread on a 2-core machine.
   * @defaultValue navigator.hardwareConcurrency when crossOriginIsolated, else 1
   */
  numThreads?: number;
  /**
   * Where ORT's glue script and wasm binary are served, per flavour (a bundler's asset URLs of
   * onnxruntime-web/ort-wasm-simd-threaded{,.asyncify}.{mjs,wasm}). Without them ORT uses the glue
   * embedded in its bundle, which only works where that bundle is its own self-contained file.
   */
  wasmPaths?: Partial<Record<WebBackend, OrtWasmPaths>>;
  /**
   * Let idle WASM intra-op threads spin waiting for work (onnxruntime's default). Spinning threads
   * take cores from whatever runs next: on a machine the cloud shares, the cloud's half of a mixed
   * layer. Unset: onnxruntime's default.
   */
  spinning?: boolean;
}

export interface OrtWasmPaths {
  mjs: string;
  wasm: string;
}

export interface WebRuntime extends RuntimeAdapter {
  readonly backend: WebBackend;
  /** WASM threads ORT was configured with (1 under WebGPU: the GPU does the work). */
  readonly threads: number;
  /** A description of the WebGPU adapter when one was found (whether or not it is used). */
  readonly adapter?: string;
}

type OrtModule = typeof Ort;

function toOrt(ort: OrtModule, t: TensorLike): Ort.Tensor {
  return new ort.Tensor(t.dtype, t.data, t.dims);
}

function fromOrt(name: string, t: Ort.Tensor): TensorLike {
  if (t.type === 'float32') return { dtype: 'float32', dims: t.dims, data: t.data as Float32Array };
  if (t.type === 'int64') return { dtype: 'int64', dims: t.dims, data: t.data as BigInt64Array };
  throw new RuntimeError(`output "${name}" has dtype ${t.type}; only float32 and int64 are used`);
}

class OrtWebSession implements RuntimeSession {
  constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    private readonly label: string,
  ) {}

  async run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
    const input: Record<string, Ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) input[k] = toOrt(this.ort, v);
    let result: Ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(input);
    } catch (e) {
      throw new RuntimeError(`graph "${this.label}" failed: ${(e as Error).message}`, { cause: e });
    }
    const out: Record<string, TensorLike> = {};
    for (const [k, v] of Object.entries(result)) {
      // under WebGPU outputs are downloaded to the CPU already (preferredOutputLocation 'cpu')
      out[k] = fromOrt(k, v as Ort.Tensor);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The first WebGPU adapter, or undefined (no navigator.gpu, or no adapter: the common case headless). */
async function findAdapter(): Promise<{ name: string } | undefined> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return undefined;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return undefined;
    const i = adapter.info;
    return { name: [i.vendor, i.architecture, i.description].filter((s) => s).join(' ') || 'WebGPU adapter' };
  } catch {
    return undefined;
  }
}

/** Is WebGPU usable here? (For a UI toggle; does not load ORT.) */
export async function webGpuAvailable(): Promise<boolean> {
  return (await findAdapter()) !== undefined;
}

export async function createWebRuntime(o: WebRuntimeOptions = {}): Promise<WebRuntime> {
  const adapter = await findAdapter();
  const backend: WebBackend = o.preferWebGPU && adapter ? 'webgpu' : 'wasm';
  const ort: OrtModule = backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');

  const isolated = globalThis.crossOriginIsolated === true;
  const cores = globalThis.navigator?.hardwareConcurrency || 1;
  const threads = backend === 'webgpu' ? 1 : Math.max(1, Math.floor(o.numThreads ?? (isolated ? cores : 1)));
  if (threads > 1 && !isolated) {
    throw new RuntimeError(`${threads} WASM threads need a cross-origin isolated page (COOP same-origin + COEP require-corp)`);
  }
  // Must be set before the first session: ORT sizes its thread pool once, when the wasm starts.
  ort.env.wasm.numThreads = threads;
  const paths = o.wasmPaths?.[backend];
  if (paths) ort.env.wasm.wasmPaths = { mjs: new URL(paths.mjs, location.href).href, wasm: new URL(paths.wasm, location.href).href };
  ort.env.logLevel = 'error';

  const providers = backend === 'webgpu' ? ['webgpu'] : ['wasm'];
  // The WebGPU EP refuses to create two sessions at once ("another WebGPU EP inference session is
  // being created"), and SplitSessions creates its graphs together: queue creations.
  let queue: Promise<unknown> = Promise.resolve();
  const create = (model: Uint8Array): Promise<Ort.InferenceSession> => {
    const next = queue.then(() =>
      // severity 3 = errors only: ORT's node-placement warnings would show as console errors
      ort.InferenceSession.create(model, {
        executionProviders: providers,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        ...(o.spinning !== undefined ? { extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' } } } } : {}),
      }),
    );
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    name: `onnxruntime-web/${backend}`,
    // every input is copied into WASM memory (or uploaded to the GPU) per call: SplitSessions then
    // holds subset weights as initializers too (constantSubsets)
    copiesInputs: true,
    backend,
    threads,
    ...(adapter ? { adapter: adapter.name } : {}),
    async createSession(model: Uint8Array, label: string): Promise<RuntimeSession> {
      try {
        const session = await create(model);
        return new OrtWebSession(ort, session, label);
      } catch (e) {
        throw new RuntimeError(`could not create session "${label}": ${(e as Error).message}`, { cause: e });
      }
    },
  };
}
