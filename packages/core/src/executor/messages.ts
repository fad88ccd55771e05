// What the edge and the cloud say to each other. The link carries these as they are in-process;
// the socket.io link encodes the same messages, with tensors as binary attachments.
import { TensorShapeError } from '../errors.ts';
import type { WirePrecision } from '../graph/model-graph.ts';
import type { PartitionPlan } from '../plan/partition-plan.ts';

export type CloudRequest =
  /**
   * Start a sequence under `plan`: the cloud forgets every position. With `length` > 0 it then
   * rebuilds the KV caches of all its heads from `rebuild` (the edge's checkpoint rows of every
   * layer where the cloud has heads, [length, n_embd] each): how a lost or fresh cloud worker is
   * brought back to the edge's position. `groups` (in reset and plan) are the row counts of the
   * forward passes that made the `length` positions; the rebuild projects them in the same groups.
   */
  | {
      type: 'reset';
      plan: PartitionPlan;
      length?: number;
      rebuild?: Array<{ layer: number; x: Float32Array }>;
      groups?: number[];
      /**
       * API cloud-only plans: the `length` token ids so far. The cloud replays them in `groups`
       * (the forward passes that first made them) to rebuild every KV cache, instead of `rebuild`.
       */
      ids?: number[];
    }
  /**
   * Switch plans between tokens. `rebuild` carries, for each layer where the cloud gains heads,
   * the edge's checkpoint of the residual at that layer's input for all `length` past positions.
   */
  | { type: 'plan'; plan: PartitionPlan; length: number; rebuild: Array<{ layer: number; x: Float32Array }>; groups?: number[] }
  /**
   * Run blocks [from, to] for positions [start, start + count): `x` is the residual at block
   * `from`'s input, [count, n_embd]. `seq` makes a repeated or late request detectable.
   * `precision` is the wire's (absent: fp32): the cloud rounds the residual at every other layer
   * input it computes KV from to it, as the checkpoint row it sends back is rounded.
   */
  | { type: 'segment'; seq: number; start: number; count: number; from: number; to: number; x: Float32Array; precision?: WirePrecision }
  /**
   * API cloud-only: token ids at positions [start, start + ids.length). The cloud embeds them,
   * runs every layer and the LM head, and answers with the last position's logits: all of them
   * (fp32, exact), or with `topK` > 0 only the K largest (ties to the lower id) and their ids,
   * which is all a greedy (K = 1) or top-k sampler reads.
   */
  | { type: 'tokens'; seq: number; start: number; ids: number[]; topK?: number };

export type CloudReply =
  | { type: 'ok' }
  | {
      type: 'segment';
      seq: number;
      /** Residual at block `to`'s input (or after `to` when it was cloud-only). */
      x: Float32Array;
      /** The cloud's partial sum of block `to` when that block is mixed. */
      partial?: Float32Array;
      /** Residual at the input of every other layer whose attention ran here: the edge's checkpoint. */
      checkpoints: Array<{ layer: number; x: Float32Array }>;
    }
  | {
      type: 'logits';
      seq: number;
      /** The last position's logits: the whole row, or the K largest when `ids` names them. */
      values: Float32Array;
      /** With top-K: the token ids of `values`, largest first. */
      ids?: number[];
    };

/** Bytes one token id takes on the wire (int32). */
export const TOKEN_ID_BYTES = 4;

/** Bytes of tensor payload in a request (what a wire carries beyond a small header). */
export function requestPayloadBytes(m: CloudRequest): number {
  if (m.type === 'reset') return (m.rebuild ?? []).reduce((a, r) => a + r.x.byteLength, 0) + (m.ids?.length ?? 0) * TOKEN_ID_BYTES;
  if (m.type === 'plan') return m.rebuild.reduce((a, r) => a + r.x.byteLength, 0);
  if (m.type === 'tokens') return m.ids.length * TOKEN_ID_BYTES;
  return m.x.byteLength;
}

export function replyPayloadBytes(m: CloudReply): number {
  if (m.type === 'ok') return 0;
  if (m.type === 'logits') return m.values.byteLength + (m.ids?.length ?? 0) * TOKEN_ID_BYTES;
  return m.x.byteLength + (m.partial?.byteLength ?? 0) + m.checkpoints.reduce((a, c) => a + c.x.byteLength, 0);
}

/**
 * The logits a sampler reads: 1 for greedy (argmax), K for top-k sampling, 0 (all) otherwise.
 * What an API cloud-only edge asks the cloud to send back.
 */
export function logitsNeeded(o: { temperature?: number; topK?: number }): number {
  if ((o.temperature ?? 0) === 0) return 1;
  return (o.topK ?? 0) > 0 ? o.topK! : 0;
}

/**
 * The K largest of `row` (ties to the lower index, as a stable descending sort and argmax have
 * them), largest first.
 */
export function topKLogits(row: Float32Array, k: number): { ids: number[]; values: Float32Array } {
  const K = Math.min(k, row.length);
  const ids: number[] = [];
  // a sorted insertion list: K is small (1 for greedy) next to the vocabulary
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (ids.length === K && !(v > row[ids[K - 1]!]!)) continue;
    let at = ids.length === K ? K - 1 : ids.length;
    while (at > 0 && v > row[ids[at - 1]!]!) at--;
    if (ids.length === K) ids.pop();
    ids.splice(at, 0, i);
  }
  return { ids, values: Float32Array.from(ids, (i) => row[i]!) };
}

/** A logits row of `vocab` from a top-K reply: the K values where they belong, -Infinity elsewhere. */
export function expandTopK(vocab: number, ids: readonly number[], values: Float32Array): Float32Array {
  const row = new Float32Array(vocab).fill(-Infinity);
  ids.forEach((id, j) => (row[id] = values[j]!));
  return row;
}

/** Token ids must be whole numbers in [0, vocab): anything else is refused before it is embedded. */
export function checkTokenIds(ids: readonly number[], vocabSize: number): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new TensorShapeError(`token id ${id} is outside [0, ${vocabSize})`);
  }
}
