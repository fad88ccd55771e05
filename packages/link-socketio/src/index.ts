// SocketLink: the edge's CloudLink over socket.io. Runs unchanged in the browser and in Node (the
// headless client). Tensors travel as binary attachments at the precision set on the link.
import { io, type Socket } from 'socket.io-client';
import { LinkError, type CloudLink, type CloudReply, type CloudRequest, type LinkStats, type ModelGraph, type WirePrecision } from '@splitwise/core';
import {
  NetworkEstimator,
  PROTOCOL_VERSION,
  ProtocolError,
  fromWireError,
  replyFromWire,
  requestToWire,
  type ClientToServerEvents,
  type HelloReply,
  type NetworkSnapshot,
  type ServerLimits,
  type ServerToClientEvents,
  type WireReply,
  type WireRequest,
} from '@splitwise/protocol';
import { attachmentsFor, wireParser } from './parser.ts';

export { attachmentsFor, wireParser, type WireParser, type WireParserLimits } from './parser.ts';

export interface SocketLinkOptions {
  /** Server URL; omit in a page served by the server itself. */
  url?: string;
  /** Wire precision of activations. @defaultValue 'fp32' */
  precision?: WirePrecision;
  /** Access token the server may require. */
  token?: string;
  /** Milliseconds before a cloud call counts as failed. @defaultValue 30000 */
  timeoutMs?: number;
  /** RTT probe period in ms; 0 = no background probes. @defaultValue 1000 */
  probeEveryMs?: number;
}

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Bytes of binary payload in a wire message (what socket.io sends as attachments). */
function binaryBytes(v: unknown): number {
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) return v.byteLength;
  if (Array.isArray(v)) return v.reduce((a: number, x) => a + binaryBytes(x), 0);
  if (v && typeof v === 'object') return Object.values(v).reduce((a: number, x) => a + binaryBytes(x), 0);
  return 0;
}

export class SocketLink implements CloudLink {
  readonly stats: LinkStats = { calls: 0, bytesUp: 0, bytesDown: 0 };
  readonly network = new NetworkEstimator();
  precision: WirePrecision;
  session = '';
  limits?: ServerLimits;
  worker = '';
  private probeTimer?: ReturnType<typeof setInterval>;

  private constructor(
    private readonly socket: ClientSocket,
    private readonly E: number,
    private readonly o: SocketLinkOptions,
  ) {
    this.precision = o.precision ?? 'fp32';
  }

  /** Connect and say hello: the server checks protocol version, model and token. */
  static async connect(graph: ModelGraph, o: SocketLinkOptions = {}): Promise<SocketLink> {
    const opts = {
      transports: ['websocket'],
      reconnection: false,
      timeout: o.timeoutMs ?? 30_000,
      // the default parser drops packets with more than 10 attachments (a cloud-only reply has n_layer + 1)
      parser: wireParser({ maxAttachments: attachmentsFor(graph.config.nLayer), maxMessageBytes: Infinity }),
    };
    const socket: ClientSocket = o.url ? io(o.url, opts) : io(opts);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', (e) => reject(new LinkError(`cannot connect to ${o.url ?? 'the page origin'}: ${e.message}`, 'connect_failed')));
      });
    } catch (e) {
      socket.close(); // no socket left half-open behind a failed connect
      throw e;
    }
    const link = new SocketLink(socket, graph.config.nEmbd, o);
    const c = graph.config;
    let hello: HelloReply;
    try {
      hello = await socket.timeout(o.timeoutMs ?? 30_000).emitWithAck('hello', {
        protocol: PROTOCOL_VERSION,
        model: { nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, vocabSize: c.vocabSize, ffnChunks: graph.ffnChunks },
        ...(o.token ? { token: o.token } : {}),
      });
    } catch (e) {
      socket.close();
      throw new LinkError(`no answer to hello: ${(e as Error).message}`, socket.connected ? 'timeout' : 'link_closed');
    }
    if (!hello.ok) {
      socket.close();
      throw fromWireError(hello.error);
    }
    link.session = hello.session;
    link.limits = hello.limits;
    link.worker = hello.worker;
    await link.probe();
    const every = o.probeEveryMs ?? 1000;
    if (every > 0) {
      link.probeTimer = setInterval(() => void link.probe().catch(() => undefined), every);
      // background probes must not keep a Node process (the headless client, tests) alive
      (link.probeTimer as { unref?: () => void }).unref?.();
    }
    return link;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** One timestamped ping; its round trip feeds the RTT estimate. Returns the RTT in ms. */
  async probe(): Promise<number> {
    const t = performance.now();
    await this.socket.timeout(this.o.timeoutMs ?? 30_000).emitWithAck('probe', { t });
    const rtt = performance.now() - t;
    this.network.addRtt(rtt);
    return rtt;
  }

  snapshot(): NetworkSnapshot {
    return this.network.snapshot();
  }

  async request(req: CloudRequest): Promise<CloudReply> {
    if (!this.socket.connected) throw new LinkError('not connected to the cloud', 'link_closed');
    const wire: WireRequest = requestToWire(req, this.session, this.precision, this.E);
    const up = binaryBytes(wire);
    const t = performance.now();
    let raw: WireReply;
    try {
      raw = await this.socket.timeout(this.o.timeoutMs ?? 30_000).emitWithAck('cloud', wire);
    } catch (e) {
      throw new LinkError(`cloud call failed: ${(e as Error).message}`, this.socket.connected ? 'timeout' : 'link_closed');
    }
    const ms = performance.now() - t;
    const down = binaryBytes(raw);
    this.stats.calls++;
    this.stats.bytesUp += up;
    this.stats.bytesDown += down;
    try {
      const { reply, computeMs } = replyFromWire(raw, this.E, req.type === 'segment' ? req.count : 0);
      this.network.addTransfer(up + down, ms, computeMs);
      return reply;
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      throw new LinkError(`malformed reply from the cloud: ${(e as Error).message}`, 'bad_reply');
    }
  }

  async close(): Promise<void> {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.socket.disconnect();
  }
}
