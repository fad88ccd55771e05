// What the edge and the cloud say to each other. The link carries these as they are in-process;
// the socket.io link encodes the same messages, with tensors as binary attachments.
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
  | { type: 'reset'; plan: PartitionPlan; length?: number; rebuild?: Array<{ layer: number; x: Float32Array }>; groups?: number[] }
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
  | { type: 'segment'; seq: number; start: number; count: number; from: number; to: number; x: Float32Array; precision?: WirePrecision };

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
    };

/** Bytes of tensor payload in a request (what a wire carries beyond a small header). */
export function requestPayloadBytes(m: CloudRequest): number {
  if (m.type === 'plan' || m.type === 'reset') return (m.rebuild ?? []).reduce((a, r) => a + r.x.byteLength, 0);
  return m.type === 'segment' ? m.x.byteLength : 0;
}

export function replyPayloadBytes(m: CloudReply): number {
  if (m.type === 'ok') return 0;
  return m.x.byteLength + (m.partial?.byteLength ?? 0) + m.checkpoints.reduce((a, c) => a + c.x.byteLength, 0);
}
