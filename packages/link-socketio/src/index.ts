// SocketLink: the edge's CloudLink over socket.io. Runs unchanged in the browser and in Node (the
// headless client). Tensors travel as binary attachments at the precision set on the link.
import { io, type Socket } from 'socket.io-client';
import { LinkError, type CloudLink, type CloudReply, type CloudRequest, type LinkStats, type ModelGraph, type QuantActivations, type WeightPrecision, type WirePrecision } from '@splitwise/core';
import {
  CloudLoadEstimator,
  NetworkEstimator,
  modelDescriptor,
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
  /**
   * Servers to fail over between (the cloud workers' URLs). `connect` tries them in order from the
   * first; `reconnect` goes round-robin starting with the one in use. Overrides `url`.
   */
  urls?: string[];
  /** Wire precision of activations. @defaultValue 'fp32' */
  precision?: WirePrecision;
  /** Access token the server may require. */
  token?: string;
  /** Which of the server's models (its GET /api/models); absent: its default. */
  modelId?: string;
  /** The weight precision the cloud's share runs at (hello.weights); absent: the model's own. */
  cloudWeights?: WeightPrecision;
  /** What the cloud's quantized products compute in (hello.activations). */
  cloudActivations?: QuantActivations;
  /** Milliseconds before a cloud call counts as failed; also bounds each connect + hello attempt. @defaultValue 30000 */
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

/** One socket and the session it said hello for. Requests in flight fail when it dies. */
interface Conn {
  socket: ClientSocket;
  session: string;
  limits: ServerLimits;
  worker: string;
  /** Rejecters of requests in flight on this socket: called at once on 'disconnect'. */
  pending: Set<(e: LinkError) => void>;
  dead: boolean;
}

export class SocketLink implements CloudLink {
  readonly stats: LinkStats = { calls: 0, bytesUp: 0, bytesDown: 0 };
  readonly network = new NetworkEstimator();
  /** The cloud's load as the server reports it in every probe's reply (issue 10: the policy prices a contended cloud). */
  readonly cloudLoad = new CloudLoadEstimator();
  precision: WirePrecision;
  private pricing?: boolean;
  /** How many times the link opened a new session after the first (see reconnect). */
  reconnects = 0;
  private probeTimer?: ReturnType<typeof setInterval>;
  private closed = false;
  private reconnecting?: Promise<string>;

  private constructor(
    private conn: Conn,
    /** Index into `urls` of the server in use. */
    private at: number,
    private readonly urls: Array<string | undefined>,
    private readonly graph: ModelGraph,
    private readonly o: SocketLinkOptions,
  ) {
    this.precision = o.precision ?? 'fp32';
  }

  /**
   * Connect and say hello: the server checks protocol version, model and token. With several
   * `urls` the first that answers is used (each attempt bounded by `timeoutMs`).
   */
  static async connect(graph: ModelGraph, o: SocketLinkOptions = {}): Promise<SocketLink> {
    const urls = SocketLink.urlList(o);
    let last: unknown;
    for (let i = 0; i < urls.length; i++) {
      let conn: Conn | undefined;
      try {
        conn = await openSession(urls[i], graph, o);
        const link = new SocketLink(conn, i, urls, graph, o);
        await link.probe();
        const every = o.probeEveryMs ?? 1000;
        if (every > 0) {
          link.probeTimer = setInterval(() => void link.probe().catch(() => undefined), every);
          // background probes must not keep a Node process (the headless client, tests) alive
          (link.probeTimer as { unref?: () => void }).unref?.();
        }
        return link;
      } catch (e) {
        if (conn) retire(conn, 'connect failed');
        last = e;
        // a refusal that another server would repeat (token, model, version) ends the search;
        // an unreachable or full one sends us to the next
        if (!(e instanceof LinkError) && !(e instanceof ProtocolError && e.code === 'busy')) throw e;
      }
    }
    throw last;
  }

  private static urlList(o: SocketLinkOptions): Array<string | undefined> {
    if (o.urls && o.urls.length > 0) return [...o.urls];
    return [o.url];
  }

  /** Session id of the current connection. */
  get session(): string {
    return this.conn.session;
  }
  get limits(): ServerLimits {
    return this.conn.limits;
  }
  /** The cloud worker serving this link (host:pid), as its hello said. */
  get worker(): string {
    return this.conn.worker;
  }
  /** URL of the server in use (undefined: the page's origin). */
  get url(): string | undefined {
    return this.urls[this.at];
  }

  get connected(): boolean {
    return !this.conn.dead && this.conn.socket.connected;
  }

  /**
   * Drop the current socket and open a new one with a new session: round-robin over `urls`,
   * starting with the one in use (its worker may have been restarted behind the same address),
   * each attempt bounded by `timeoutMs`. Resolves with the new worker's id. The new session is
   * empty: the edge must rebuild it (EdgeExecutor.resync, which RecoveringEdge runs next).
   * Concurrent calls share one attempt.
   */
  reconnect(): Promise<string> {
    if (this.closed) return Promise.reject(new LinkError('link is closed', 'link_closed'));
    this.reconnecting ??= this.doReconnect().finally(() => (this.reconnecting = undefined));
    return this.reconnecting;
  }

  private async doReconnect(): Promise<string> {
    retire(this.conn, 'the link is reconnecting');
    const errors: string[] = [];
    for (let k = 0; k < this.urls.length; k++) {
      const i = (this.at + k) % this.urls.length;
      try {
        const conn = await openSession(this.urls[i], this.graph, this.o);
        if (this.closed) {
          retire(conn, 'link is closed');
          break;
        }
        this.conn = conn;
        this.at = i;
        this.reconnects++;
        // the new session is unpriced until it says otherwise: before the recovery's requests
        if (this.pricing !== undefined) void this.probe().catch(() => undefined);
        return conn.worker;
      } catch (e) {
        errors.push(`${this.urls[i] ?? 'page origin'}: ${(e as Error).message}`);
        // a server that refuses us for good (token, model, version) is skipped like a dead one
      }
    }
    throw new LinkError(`no cloud server answered: ${errors.join('; ') || 'link is closed'}`, 'connect_failed');
  }

  /**
   * Whether this edge prices the delay its requests add to other sessions' (the page's Policy mode
   * does). A change is probed at once, so the server counts the requests that follow by it (a
   * socket delivers in order); every later probe says it again, also after a reconnect. The server
   * reports the share of its load held by sessions that do. Undefined: probes do not say (a server
   * older than the field refuses it).
   */
  get pricesCongestion(): boolean | undefined {
    return this.pricing;
  }
  set pricesCongestion(v: boolean | undefined) {
    if (v === this.pricing) return;
    this.pricing = v;
    if (v !== undefined && !this.closed) void this.probe().catch(() => undefined);
  }

  /** One timestamped ping; its round trip feeds the RTT estimate. Returns the RTT in ms. */
  async probe(): Promise<number> {
    const t = performance.now();
    const reply = await this.call(this.conn, (s) => s.timeout(this.o.timeoutMs ?? 30_000).emitWithAck('probe', { t, ...(this.pricing !== undefined ? { pricing: this.pricing } : {}) }));
    const rtt = performance.now() - t;
    this.network.addRtt(rtt);
    // a server older than the field refuses the probe (malformed): stop saying it, keep the load reports
    if (this.pricing !== undefined && (reply as { type?: unknown } | undefined)?.type === 'error') this.pricing = undefined;
    this.cloudLoad.add((reply as { load?: unknown } | undefined)?.load);
    return rtt;
  }

  /**
   * A timed upload of `bytes` of padding (the probe's `pad`, which the server reads and drops):
   * what is left after the RTT floor is transfer time, and it feeds the bandwidth estimate. The
   * policy needs a bandwidth before a plan has moved any tensor (an edge-only plan never does).
   * Returns the measured rate in bits per second (NaN when the transfer was too short to time).
   */
  async probeBandwidth(bytes = 64 * 1024): Promise<number> {
    if (!Number.isFinite(this.network.snapshot().minRttMs)) await this.probe();
    const pad = new Uint8Array(bytes);
    const t = performance.now();
    await this.call(this.conn, (s) => s.timeout(this.o.timeoutMs ?? 30_000).emitWithAck('probe', { t, pad }));
    const ms = performance.now() - t;
    const before = this.network.snapshot().bandwidthSamples;
    this.network.addTransfer(bytes, ms, 0);
    const after = this.network.snapshot();
    return after.bandwidthSamples > before ? after.recentBandwidthBps.at(-1)! : NaN;
  }

  snapshot(): NetworkSnapshot {
    return this.network.snapshot();
  }

  /**
   * An acknowledged emit that fails with LinkError('link_closed') the moment its socket dies,
   * or LinkError('timeout') after timeoutMs while it lives.
   */
  private call<T>(conn: Conn, emit: (s: ClientSocket) => Promise<T>): Promise<T> {
    if (conn.dead || !conn.socket.connected) return Promise.reject(new LinkError('not connected to the cloud', 'link_closed'));
    return new Promise<T>((resolve, reject) => {
      const onDead = (e: LinkError): void => reject(e);
      conn.pending.add(onDead);
      emit(conn.socket).then(
        (v) => {
          conn.pending.delete(onDead);
          resolve(v);
        },
        (e: unknown) => {
          conn.pending.delete(onDead);
          const dead = conn.dead || !conn.socket.connected;
          reject(new LinkError(`cloud call failed: ${(e as Error).message}`, dead ? 'link_closed' : 'timeout'));
        },
      );
    });
  }

  async request(req: CloudRequest): Promise<CloudReply> {
    const conn = this.conn;
    const wire: WireRequest = requestToWire(req, conn.session, this.precision, this.E);
    const up = binaryBytes(wire);
    const t = performance.now();
    const raw: WireReply = await this.call(conn, (s) => s.timeout(this.o.timeoutMs ?? 30_000).emitWithAck('cloud', wire));
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

  private get E(): number {
    return this.graph.config.nEmbd;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    retire(this.conn, 'link is closed');
  }
}

/** Close a connection and fail whatever is still in flight on it. */
function retire(conn: Conn, why: string): void {
  if (!conn.dead) {
    conn.dead = true;
    for (const reject of conn.pending) reject(new LinkError(why, 'link_closed'));
    conn.pending.clear();
  }
  conn.socket.disconnect();
}

/** Open a socket to `url` and say hello, within timeoutMs; on any failure nothing is left open. */
async function openSession(url: string | undefined, graph: ModelGraph, o: SocketLinkOptions): Promise<Conn> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const opts = {
    transports: ['websocket'],
    reconnection: false,
    timeout: timeoutMs,
    // a fresh engine per session: never share a multiplexed connection with a retired socket
    forceNew: true,
    // the default parser drops packets with more than 10 attachments (a cloud-only reply has n_layer + 1)
    parser: wireParser({ maxAttachments: attachmentsFor(graph.config.nLayer), maxMessageBytes: Infinity }),
  };
  const socket: ClientSocket = url ? io(url, opts) : io(opts);
  const where = url ?? 'the page origin';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LinkError(`cannot connect to ${where}: no answer in ${timeoutMs} ms`, 'connect_failed')), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('connect_error', (e) => {
        clearTimeout(timer);
        reject(new LinkError(`cannot connect to ${where}: ${e.message}`, 'connect_failed'));
      });
    });
  } catch (e) {
    socket.close(); // no socket left half-open behind a failed connect
    throw e;
  }
  const c = graph.config;
  let hello: HelloReply;
  try {
    hello = await socket.timeout(timeoutMs).emitWithAck('hello', {
      protocol: PROTOCOL_VERSION,
      model: modelDescriptor(graph),
      ...(o.token ? { token: o.token } : {}),
      ...(o.modelId ? { modelId: o.modelId } : {}),
      ...(o.cloudWeights ? { weights: o.cloudWeights } : {}),
      ...(o.cloudActivations ? { activations: o.cloudActivations } : {}),
    });
  } catch (e) {
    const connected = socket.connected;
    socket.close();
    throw new LinkError(`no answer to hello from ${where}: ${(e as Error).message}`, connected ? 'timeout' : 'link_closed');
  }
  if (!hello.ok) {
    socket.close();
    throw fromWireError(hello.error);
  }
  const conn: Conn = { socket, session: hello.session, limits: hello.limits, worker: hello.worker, pending: new Set(), dead: false };
  // a dead socket fails its requests in flight now, not after timeoutMs
  socket.once('disconnect', (reason) => {
    if (conn.dead) return;
    conn.dead = true;
    for (const reject of conn.pending) reject(new LinkError(`the cloud connection closed (${reason})`, 'link_closed'));
    conn.pending.clear();
  });
  return conn;
}
