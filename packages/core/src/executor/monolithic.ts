// Runs the monolithic reference graph (the whole model in one ONNX graph) with its KV cache.
// Used by tests and benchmarks as the ground truth the split engine must match.
import type { ModelConfig } from '../arch/index.ts';
import { ContextLengthError, TensorShapeError } from '../errors.ts';
import type { RuntimeSession, TensorLike } from './runtime.ts';

export const MONOLITHIC_IO = {
  inputIds: 'input_ids',
  logits: 'logits',
  pastKey: (l: number) => `past_key.${l}`,
  pastValue: (l: number) => `past_value.${l}`,
  presentKey: (l: number) => `present_key.${l}`,
  presentValue: (l: number) => `present_value.${l}`,
} as const;

export class MonolithicRunner {
  private kv: Array<{ k: Float32Array; v: Float32Array }>;
  length = 0;

  constructor(
    readonly config: ModelConfig,
    private readonly session: RuntimeSession,
  ) {
    this.kv = this.empty();
  }

  private empty(): Array<{ k: Float32Array; v: Float32Array }> {
    return Array.from({ length: this.config.nLayer }, () => ({ k: new Float32Array(0), v: new Float32Array(0) }));
  }

  reset(): void {
    this.kv = this.empty();
    this.length = 0;
  }

  /** Feed tokens; returns the logits of the last position. */
  async forward(ids: number[]): Promise<Float32Array> {
    const c = this.config, T = ids.length, dims = [c.nKvHead, this.length, c.headDim];
    if (this.length + T > c.nPositions) throw new ContextLengthError(this.length + T, c.nPositions);
    const feeds: Record<string, TensorLike> = {
      [MONOLITHIC_IO.inputIds]: { dtype: 'int64', dims: [T], data: BigInt64Array.from(ids.map(BigInt)) },
    };
    this.kv.forEach((kv, l) => {
      feeds[MONOLITHIC_IO.pastKey(l)] = { dtype: 'float32', dims, data: kv.k };
      feeds[MONOLITHIC_IO.pastValue(l)] = { dtype: 'float32', dims, data: kv.v };
    });
    const r = await this.session.run(feeds);
    const get = (n: string): Float32Array => {
      const t = r[n];
      if (t?.dtype !== 'float32') throw new TensorShapeError(`monolithic graph gave no float32 "${n}"`);
      return t.data;
    };
    this.kv = this.kv.map((_, l) => ({ k: get(MONOLITHIC_IO.presentKey(l)), v: get(MONOLITHIC_IO.presentValue(l)) }));
    this.length += T;
    return get(MONOLITHIC_IO.logits).slice((T - 1) * c.vocabSize, T * c.vocabSize);
  }
}
