// The weights a side feeds its graphs, cut to the attention units and FFN chunks it owns. The
// family's WeightBinding (arch/) says what each graph takes; this class caches it per subset, so a
// plan change gathers once and decoding never copies weights. Whole sets are the checkpoint's own
// arrays where the layout allows (no copy).
import { familyOf, type Feeds, type WeightBinding } from '../arch/index.ts';
import { tensor, type Checkpoint } from '../model/checkpoint.ts';
import type { ModelGraph } from '../graph/model-graph.ts';

export class SplitWeights {
  readonly E: number;
  readonly hd: number;
  readonly binding: WeightBinding;
  private cache = new Map<string, Feeds>();

  constructor(
    readonly ckpt: Checkpoint,
    readonly graph: ModelGraph,
  ) {
    this.E = ckpt.config.nEmbd;
    this.hd = ckpt.config.headDim;
    this.binding = familyOf(ckpt.config).bind(ckpt, graph);
  }

  t(name: string): Float32Array {
    return tensor(this.ckpt, name);
  }

  /** Forget gathered subsets (after a plan change). */
  clearCache(): void {
    this.cache.clear();
  }

  private cached(key: string, make: () => Feeds): Feeds {
    let hit = this.cache.get(key);
    if (!hit) {
      hit = make();
      this.cache.set(key, hit);
    }
    return hit;
  }

  /** The `attn` graph's weights for units `units` of layer l. */
  attn(l: number, units: readonly number[]): Feeds {
    return this.cached(`a${l}:${units.join(',')}`, () => this.binding.attn(l, units));
  }

  /** The `kv` graph's weights for units `units` of layer l (not cached: used once per rebuild). */
  kv(l: number, units: readonly number[]): Feeds {
    return this.binding.kv(l, units);
  }

  ffn(l: number, chunks: readonly number[]): Feeds {
    return this.cached(`f${l}:${chunks.join(',')}`, () => this.binding.ffn(l, chunks));
  }

  block(l: number): Feeds {
    return this.cached(`b${l}`, () => this.binding.block(l));
  }

  positions(start: number, T: number): Feeds {
    return this.binding.positions(start, T);
  }

  outBias(l: number, kind: 'attn' | 'ffn'): Float32Array | undefined {
    return this.binding.outBias(l, kind);
  }

  /** Token ids -> the residual stream's first rows, at positions start.. */
  embed(ids: readonly number[], start: number): Float32Array {
    return familyOf(this.ckpt.config).embed(this.ckpt.tensors, this.ckpt.config, ids, start);
  }
}
