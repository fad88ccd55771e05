// One socket's state on the server: its session (after hello), its CloudExecutor, its request
// queue, its rate limit, and its counters.
import type { CloudExecutor, PartitionPlan } from '@splitwise/core';
import type { ModelHost } from './model-host.ts';
import { TokenBucket } from './rate-limit.ts';
import { SerialQueue } from './serial-queue.ts';

export interface PlanSummary {
  cloudHeads: number;
  totalHeads: number;
  cloudFfnChunks: number;
  totalFfnChunks: number;
}

export const summarizePlan = (p: PartitionPlan): PlanSummary => ({
  cloudHeads: p.layers.reduce((a, l) => a + l.cloudHeads.length, 0),
  totalHeads: p.layers.length * p.nHead,
  cloudFfnChunks: p.layers.reduce((a, l) => a + l.cloudFfnChunks.length, 0),
  totalFfnChunks: p.layers.length * p.ffnChunks,
});

export class Connection {
  session?: string;
  /** The model hello chose. */
  model?: ModelHost;
  executor?: CloudExecutor;
  /** What the session's last probe said of pricing congestion (the load meter counts its requests by it). */
  pricesCongestion = false;
  closed = false;
  /** Binary bytes of requests queued or running on this connection (bounded by maxQueuedBytes). */
  queuedBytes = 0;
  readonly queue = new SerialQueue();
  readonly bucket: TokenBucket;
  readonly connectedAt = Date.now();
  requests = 0;
  segments = 0;
  bytesIn = 0;
  bytesOut = 0;
  errors = 0;

  constructor(
    readonly socketId: string,
    readonly remote: string,
    maxRequestsPerSecond: number,
  ) {
    this.bucket = new TokenBucket(maxRequestsPerSecond);
  }

  kvBytes(): number {
    return this.executor?.runner.kvBytes() ?? 0;
  }

  /** Drops the executor and its KV caches (and its lane into the model's batcher); returns the bytes freed. */
  free(): number {
    const bytes = this.kvBytes();
    if (this.executor) this.model?.release(this.executor);
    this.executor = undefined;
    this.closed = true;
    return bytes;
  }
}

/**
 * Bytes of binary payload in a message (socket.io's attachments). Walks at most `maxNodes`
 * values without recursion, so a deeply nested or huge message cannot overflow the stack.
 */
export function binaryBytes(v: unknown, maxNodes = 10_000): number {
  let total = 0, seen = 0;
  const stack: unknown[] = [v];
  while (stack.length > 0 && seen++ < maxNodes) {
    const x = stack.pop();
    if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) total += x.byteLength;
    else if (Array.isArray(x)) stack.push(...x.slice(0, maxNodes));
    else if (x && typeof x === 'object') stack.push(...Object.values(x).slice(0, maxNodes));
  }
  return total;
}
