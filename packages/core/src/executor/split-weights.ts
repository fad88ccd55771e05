// The weights a side feeds its graphs, cut to the heads and FFN chunks it owns.
// Whole blocks use the checkpoint's arrays as they are (no copy). A subset is gathered once per
// plan change and cached, so decoding never copies weights.
import { attentionScale, headDim } from '../model/config.ts';
import { tensor, type Gpt2Checkpoint } from '../model/checkpoint.ts';
import type { ModelGraph } from '../graph/model-graph.ts';

export interface AttnWeights {
  /** [E, 3m]: the q, k and v columns of the owned heads, in that order (HF c_attn layout). */
  wQkv: Float32Array;
  bQkv: Float32Array;
  /** [m, E]: the owned heads' rows of c_proj. */
  wO: Float32Array;
}

export interface FfnWeights {
  /** [E, m]: the owned hidden units' columns of c_fc. */
  wFc: Float32Array;
  bFc: Float32Array;
  /** [m, E]: their rows of the FFN c_proj. */
  wProj: Float32Array;
  /** m: hidden units owned. */
  width: number;
}

const isRange = (xs: number[]): boolean => xs.every((x, i) => i === 0 || x === xs[i - 1]! + 1);

export class SplitWeights {
  readonly E: number;
  readonly hd: number;
  private cache = new Map<string, AttnWeights | FfnWeights>();

  constructor(
    readonly ckpt: Gpt2Checkpoint,
    readonly graph: ModelGraph,
  ) {
    this.E = ckpt.config.nEmbd;
    this.hd = headDim(ckpt.config);
  }

  t(name: string): Float32Array {
    return tensor(this.ckpt, name);
  }

  /** Attention scale for layer l (1/sqrt(hd), and 1/(l+1) when the config asks). */
  scale(l: number): number {
    return attentionScale(this.ckpt.config, l);
  }

  /** Forget gathered subsets (after a plan change). */
  clearCache(): void {
    this.cache.clear();
  }

  attn(l: number, heads: number[]): AttnWeights {
    const key = `a${l}:${heads.join(',')}`;
    const hit = this.cache.get(key) as AttnWeights | undefined;
    if (hit) return hit;
    const { E, hd } = this;
    const W = this.t(`h.${l}.attn.c_attn.weight`), b = this.t(`h.${l}.attn.c_attn.bias`), P = this.t(`h.${l}.attn.c_proj.weight`);
    let out: AttnWeights;
    if (heads.length === this.ckpt.config.nHead) {
      out = { wQkv: W, bQkv: b, wO: P };
    } else {
      const m = heads.length * hd;
      const wQkv = new Float32Array(E * 3 * m), bQkv = new Float32Array(3 * m);
      for (let s = 0; s < 3; s++) {
        heads.forEach((h, j) => {
          const src = s * E + h * hd, dst = s * m + j * hd;
          bQkv.set(b.subarray(src, src + hd), dst);
          for (let r = 0; r < E; r++) wQkv.set(W.subarray(r * 3 * E + src, r * 3 * E + src + hd), r * 3 * m + dst);
        });
      }
      // c_proj rows of contiguous heads are one contiguous block: a view, no copy
      const wO = isRange(heads)
        ? P.subarray(heads[0]! * hd * E, (heads.at(-1)! + 1) * hd * E)
        : concatRows(heads.map((h) => P.subarray(h * hd * E, (h + 1) * hd * E)));
      out = { wQkv, bQkv, wO };
    }
    this.cache.set(key, out);
    return out;
  }

  ffn(l: number, chunks: number[]): FfnWeights {
    const key = `f${l}:${chunks.join(',')}`;
    const hit = this.cache.get(key) as FfnWeights | undefined;
    if (hit) return hit;
    const { E } = this, inner = this.ckpt.config.nInner;
    const W = this.t(`h.${l}.mlp.c_fc.weight`), b = this.t(`h.${l}.mlp.c_fc.bias`), P = this.t(`h.${l}.mlp.c_proj.weight`);
    let out: FfnWeights;
    if (chunks.length === this.graph.ffnChunks) {
      out = { wFc: W, bFc: b, wProj: P, width: inner };
    } else {
      const ranges = chunks.map((k) => this.graph.layers[l]!.ffnChunks[k]!);
      const m = ranges.reduce((a, r) => a + r.width, 0);
      const wFc = new Float32Array(E * m), bFc = new Float32Array(m);
      let dst = 0;
      for (const r of ranges) {
        bFc.set(b.subarray(r.start, r.start + r.width), dst);
        for (let row = 0; row < E; row++) wFc.set(W.subarray(row * inner + r.start, row * inner + r.start + r.width), row * m + dst);
        dst += r.width;
      }
      const wProj = isRange(chunks)
        ? P.subarray(ranges[0]!.start * E, (ranges.at(-1)!.start + ranges.at(-1)!.width) * E)
        : concatRows(ranges.map((r) => P.subarray(r.start * E, (r.start + r.width) * E)));
      out = { wFc, bFc, wProj, width: m };
    }
    this.cache.set(key, out);
    return out;
  }
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
