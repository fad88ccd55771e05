// RuntimeAdapter over onnxruntime-node (CPU execution provider).
// Inputs are wrapped, not copied: ort.Tensor over a Float32Array hands ORT the JS memory, which
// is why the split graphs can take weights as inputs at no cost per call.
import os from 'node:os';
import ort from 'onnxruntime-node';
import { RuntimeError, type RuntimeAdapter, type RuntimeSession, type TensorLike } from '@splitwise/core';

export interface OrtNodeOptions {
  /** Threads per graph call. The default session uses 1 on a 2-vCPU VM, so set it. @defaultValue os.availableParallelism() */
  intraOpNumThreads?: number;
  /**
   * Let idle intra-op threads spin waiting for work. Off by default: the split engine alternates
   * between several sessions, and each session's spinning pool steals the 2 cores from the one
   * that is running (measured: 25x slower GEMV with 48 spinning sessions, no loss without). On
   * this 2-vCPU machine even the lone monolithic session decodes faster without (19.8 vs 23.2 ms).
   * @defaultValue false
   */
  spinning?: boolean;
}

function toOrt(t: TensorLike): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data, t.dims);
}

function fromOrt(name: string, t: ort.Tensor): TensorLike {
  if (t.type === 'float32') return { dtype: 'float32', dims: t.dims, data: t.data as Float32Array };
  if (t.type === 'int64') return { dtype: 'int64', dims: t.dims, data: t.data as BigInt64Array };
  throw new RuntimeError(`output "${name}" has dtype ${t.type}; only float32 and int64 are used`);
}

class OrtNodeSession implements RuntimeSession {
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly label: string,
  ) {}

  async run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
    const input: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) input[k] = toOrt(v);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(input);
    } catch (e) {
      throw new RuntimeError(`graph "${this.label}" failed: ${(e as Error).message}`, { cause: e });
    }
    const out: Record<string, TensorLike> = {};
    for (const [k, v] of Object.entries(result)) out[k] = fromOrt(k, v as ort.Tensor);
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export class OrtNodeRuntime implements RuntimeAdapter {
  readonly name = 'onnxruntime-node/cpu';
  private readonly threads: number;
  private readonly spinning: boolean;

  constructor(options: OrtNodeOptions = {}) {
    this.threads = options.intraOpNumThreads ?? os.availableParallelism();
    this.spinning = options.spinning ?? false;
  }

  async createSession(model: Uint8Array, label: string): Promise<RuntimeSession> {
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: ['cpu'],
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // per-layer graphs hold their weights as constants, which onnxruntime would prepack; a
        // one-row MatMul on prepacked weights rounds differently from the GEMV every other graph
        // uses, and a KV rebuild must reproduce those caches bit for bit (docs/ARCHITECTURE.md).
        // Quantized graphs ("int8:layer.3", "q4:layer.3.ffn") keep prepacking: MatMulNBits without
        // it dequantizes every call (50-100x slower), and their KV rebuilds run constant graphs too
        extra: { session: { intra_op: { allow_spinning: this.spinning ? '1' : '0' }, ...(label.startsWith('layer.') ? { disable_prepacking: '1' } : {}) } },
      });
      return new OrtNodeSession(session, label);
    } catch (e) {
      throw new RuntimeError(`could not create session "${label}": ${(e as Error).message}`, { cause: e });
    }
  }
}
