// The edge reaches the cloud through a CloudLink. In one process it is an InMemoryLink; across a
// network it is the socket.io link (apps/), behind this same interface.
import { LinkError } from '../errors.ts';
import type { WirePrecision } from '../graph/model-graph.ts';
import { replyPayloadBytes, requestPayloadBytes, type CloudReply, type CloudRequest } from './messages.ts';

export interface LinkStats {
  /** Round trips made (each one a synchronisation point between the sides). */
  calls: number;
  bytesUp: number;
  bytesDown: number;
}

export interface CloudLink {
  request(req: CloudRequest): Promise<CloudReply>;
  /** Wire precision of activations (absent: fp32, exact). The edge rounds KV rows to it. */
  readonly precision?: WirePrecision;
  readonly stats: LinkStats;
  close(): Promise<void>;
}

export interface CloudHandler {
  handle(req: CloudRequest): Promise<CloudReply>;
}

const cloneArrays = <T>(m: T): T => structuredClone(m); // nothing is shared between sides, as on a wire

/** Both sides in one process. Copies every message, so neither side can touch the other's memory. */
export class InMemoryLink implements CloudLink {
  readonly stats: LinkStats = { calls: 0, bytesUp: 0, bytesDown: 0 };
  private closed = false;

  constructor(private readonly cloud: CloudHandler) {}

  async request(req: CloudRequest): Promise<CloudReply> {
    if (this.closed) throw new LinkError('link is closed', 'link_closed');
    this.stats.calls++;
    this.stats.bytesUp += requestPayloadBytes(req);
    const reply = cloneArrays(await this.cloud.handle(cloneArrays(req)));
    this.stats.bytesDown += replyPayloadBytes(reply);
    return reply;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
