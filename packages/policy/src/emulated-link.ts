// A CloudLink that behaves like a network: every tensor goes through the wire codec of
// @splitwise/protocol at the chosen precision (so the cloud computes on what a wire would carry),
// and each call really waits RTT/2 + bytes up / bandwidth before the cloud runs it, and RTT/2 +
// bytes down / bandwidth after. Used to measure the accuracy cost of each precision and to check
// the cost model against end-to-end timings of the real engine. Platform-neutral (setTimeout).
import { LinkError, replyPayloadBytes, requestPayloadBytes, type CloudHandler, type CloudLink, type CloudReply, type CloudRequest, type LinkStats, type WirePrecision } from '@splitwise/core';
import { decodeRows, encodeRows, wireBytes } from '@splitwise/protocol';

export interface EmulatedLinkOptions {
  precision?: WirePrecision;
  rttMs?: number;
  upMbps?: number;
  downMbps?: number;
  /** Actually sleep (false: only quantise and count). @defaultValue true */
  sleep?: boolean;
}

const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

export class EmulatedLink implements CloudLink {
  readonly stats: LinkStats = { calls: 0, bytesUp: 0, bytesDown: 0 };
  private closed = false;
  o: Required<EmulatedLinkOptions>;

  constructor(
    private readonly cloud: CloudHandler,
    private readonly E: number,
    o: EmulatedLinkOptions = {},
  ) {
    this.o = { precision: 'fp32', rttMs: 0, upMbps: Infinity, downMbps: Infinity, sleep: true, ...o };
  }

  /** The precision the edge rounds its KV rows to, as over a SocketLink (see core's wireRound). */
  get precision(): WirePrecision {
    return this.o.precision;
  }

  /** Rows through the codec: what the far side decodes. */
  private wire(x: Float32Array): { x: Float32Array; bytes: number } {
    const t = encodeRows(x, this.E, this.o.precision);
    return { x: decodeRows(t, { cols: this.E }), bytes: wireBytes(x.length / this.E, this.E, this.o.precision) };
  }

  async request(req: CloudRequest): Promise<CloudReply> {
    if (this.closed) throw new LinkError('link is closed', 'link_closed');
    this.stats.calls++;
    let up = 0;
    let sent: CloudRequest = req;
    if (req.type === 'segment') {
      const w = this.wire(req.x);
      up += w.bytes;
      sent = { ...req, x: w.x };
    } else if (req.type === 'tokens' || (req.type === 'reset' && req.ids)) {
      up += requestPayloadBytes(req); // API cloud-only: int32 token ids, no rows
    } else if (req.rebuild) {
      const rebuild = req.rebuild.map((r) => {
        const w = this.wire(r.x);
        up += w.bytes;
        return { layer: r.layer, x: w.x };
      });
      sent = { ...req, rebuild } as CloudRequest;
    }
    this.stats.bytesUp += up;
    if (this.o.sleep) await sleep(this.o.rttMs / 2 + (up * 8) / (this.o.upMbps * 1e3));
    const reply = await this.cloud.handle(sent);
    if (reply.type === 'ok') {
      if (this.o.sleep) await sleep(this.o.rttMs / 2);
      return reply;
    }
    if (reply.type === 'logits') {
      // logits cross at fp32 whatever the precision (protocol: the sampler's input stays exact)
      const down = replyPayloadBytes(reply);
      this.stats.bytesDown += down;
      if (this.o.sleep) await sleep(this.o.rttMs / 2 + (down * 8) / (this.o.downMbps * 1e3));
      return reply;
    }
    let down = 0;
    const pass = (x: Float32Array): Float32Array => {
      const w = this.wire(x);
      down += w.bytes;
      return w.x;
    };
    const out: CloudReply = {
      type: 'segment',
      seq: reply.seq,
      x: pass(reply.x),
      ...(reply.partial ? { partial: pass(reply.partial) } : {}),
      checkpoints: reply.checkpoints.map((c) => ({ layer: c.layer, x: pass(c.x) })),
    };
    this.stats.bytesDown += down;
    if (this.o.sleep) await sleep(this.o.rttMs / 2 + (down * 8) / (this.o.downMbps * 1e3));
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
