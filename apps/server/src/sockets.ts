// The socket.io side of the server: hello, cloud and probe. Nothing a client sends can crash it:
// every handler takes raw arguments, answers failures with a typed {code, message} (when the
// client asked for an answer), and keeps serving every other connection.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { CloudReply, CloudRequest } from '@splitwise/core';
import {
  modelDescriptor,
  HelloSchema,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  ProbeSchema,
  ProtocolError,
  parse,
  replyToWire,
  requestFromWire,
  type HelloReply,
  type ProbeReply,
  type ServerLimits,
  type WireError,
  type WireReply,
} from '@splitwise/protocol';
import type { IncomingMessage } from 'node:http';
import { tokenMatches } from './auth.ts';
import type { AuthFailures } from './client-address.ts';
import { binaryBytes, Connection } from './connection.ts';
import { errorReply, wireErrorOf } from './errors.ts';
import type { ModelHosts } from './model-host.ts';
import type { LoadMeter } from './load-meter.ts';
import type { ResolvedOptions } from './options.ts';
import type { StatsBook } from './stats.ts';
import { precheckDtypes } from './tensor-precheck.ts';
import { WORKER_ID } from './worker-id.ts';

export interface SocketContext {
  /** The hosted models; hello chooses one per connection. */
  models: ModelHosts;
  opts: ResolvedOptions;
  log: Logger;
  stats: StatsBook;
  connections: Map<string, Connection>;
  /** The client's address (the peer, or X-Forwarded-For from a trusted proxy). */
  addressOf: (req: IncomingMessage) => string;
  /** Addresses the per-address caps do not apply to. */
  exempt: ReadonlySet<string>;
  /** Failed access-token attempts by address. */
  authFailures: AuthFailures;
  /** How busy the cloud has been lately; every probe's reply reports it. */
  load: LoadMeter;
}

/**
 * Bytes queued for this socket that its client has not read: socket.io's write buffer (packets
 * waiting while the transport is busy) plus the WebSocket's (what the kernel has not taken).
 */
export function outgoingBytes(socket: Socket): number {
  const engine = socket.conn as unknown as { writeBuffer?: Array<{ data?: unknown }>; transport?: { socket?: { bufferedAmount?: number } } };
  let n = 0;
  for (const p of engine.writeBuffer ?? []) {
    const d = p.data;
    if (typeof d === 'string') n += d.length;
    else if (d instanceof ArrayBuffer || ArrayBuffer.isView(d)) n += d.byteLength;
  }
  return n + (engine.transport?.socket?.bufferedAmount ?? 0);
}

/** Drop a socket at once, discarding what it has queued (a graceful close would wait for the client to read it). */
function terminate(socket: Socket): void {
  const ws = (socket.conn as unknown as { transport?: { socket?: { terminate?: () => void } } }).transport?.socket;
  if (typeof ws?.terminate === 'function') ws.terminate();
  else socket.conn.close(true as never);
}

type Ack = (reply: unknown) => void;
const KNOWN_EVENTS = new Set(['hello', 'cloud', 'probe']);

/** socket.io passes an ack function last when the client asked for an answer; anything else is data. */
function split(args: unknown[]): { msg: unknown; ack?: Ack } {
  const last = args.at(-1);
  const ack = typeof last === 'function' ? (last as Ack) : undefined;
  return { msg: args[0] === ack ? undefined : args[0], ack };
}

export function attachSockets(io: Server, ctx: SocketContext): void {
  io.on('connection', (socket) => onConnection(socket, ctx));
}

function onConnection(socket: Socket, ctx: SocketContext): void {
  const { opts, log, stats, connections } = ctx;
  const conn = new Connection(socket.id, ctx.addressOf(socket.request), opts.maxRequestsPerSecond);
  connections.set(socket.id, conn);
  log.info({ event: 'connection', socket: socket.id, remote: conn.remote, origin: socket.handshake.headers.origin });

  // a connection that never says hello holds a socket for nothing
  const helloTimer = setTimeout(() => {
    if (conn.session) return;
    log.warn({ event: 'hello_timeout', socket: socket.id });
    socket.disconnect(true);
  }, opts.helloTimeoutMs);
  helloTimer.unref();

  const fail = (error: WireError, event: string): void => {
    conn.errors++;
    stats.error(error.code);
    log.warn({ event: 'error', on: event, socket: socket.id, session: conn.session, code: error.code, message: error.message });
  };

  const answerError = (ack: Ack | undefined, e: unknown, event: string, form: 'reply' | 'hello'): void => {
    const error = wireErrorOf(e);
    if (error.code === 'internal') log.error({ event: 'internal_error', on: event, socket: socket.id, err: e });
    fail(error, event);
    ack?.(form === 'hello' ? ({ ok: false, error } satisfies HelloReply) : (errorReply(error) satisfies WireReply));
  };

  // a client that sends but never reads: its answers pile up in the server's buffers. Past
  // maxOutgoingBytes the socket is dropped, and what was queued for it with it
  let slow = false;
  const guardOutgoing = (): void => {
    if (slow) return;
    const queued = outgoingBytes(socket);
    if (queued <= opts.maxOutgoingBytes) return;
    slow = true;
    stats.error('slow_reader');
    log.warn({ event: 'slow_reader', socket: socket.id, session: conn.session, remote: conn.remote, queuedBytes: queued, limit: opts.maxOutgoingBytes });
    terminate(socket);
  };

  /** Rate limit and ack check shared by every event; returns the ack when the message may proceed. */
  const admit = (event: string, args: unknown[], form: 'reply' | 'hello'): { msg: unknown; ack: Ack } | undefined => {
    const { msg, ack: rawAck } = split(args);
    // every answer (reply or error) is checked against the unread-bytes cap once queued
    const ack: Ack | undefined = rawAck && ((reply) => (rawAck(reply), guardOutgoing()));
    if (!conn.bucket.take()) {
      answerError(ack, new ProtocolError('rate_limited', `more than ${opts.maxRequestsPerSecond} messages per second on this connection`), event, form);
      return undefined;
    }
    if (!ack) {
      // nobody to answer: the message is dropped (a stateful request applied unseen would desync the edge)
      fail({ code: 'no_ack', message: `"${event}" sent without an acknowledgement callback; dropped` }, event);
      return undefined;
    }
    return { msg, ack };
  };

  socket.on('hello', (...args: unknown[]) => {
    const m = admit('hello', args, 'hello');
    if (!m) return;
    try {
      const hello = parse(HelloSchema, m.msg, 'hello');
      if (conn.session) throw new ProtocolError('malformed', 'hello was already received on this connection');
      if (opts.token !== undefined) {
        // brute force: an address with maxAuthFailures wrong tokens in the window is refused, right token or not
        const wait = ctx.authFailures.blockedForMs(conn.remote);
        if (wait > 0) {
          throw new ProtocolError('rate_limited', `too many failed access-token attempts from ${conn.remote} (${opts.maxAuthFailures} in ${Math.round(opts.authFailureWindowMs / 1000)} s); try again in ${Math.ceil(wait / 1000)} s`);
        }
        if (!tokenMatches(opts.token, hello.token)) {
          ctx.authFailures.fail(conn.remote);
          throw new ProtocolError('unauthorized', 'a valid access token is required');
        }
      }
      if (!SUPPORTED_PROTOCOL_VERSIONS.includes(hello.protocol)) {
        throw new ProtocolError('unsupported_version', `protocol ${hello.protocol} is not supported; this server speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(' and ')} (newest ${PROTOCOL_VERSION})`);
      }
      const model = ctx.models.get(hello.modelId);
      const ours = modelDescriptor(model.graph);
      const diff = Object.entries(ours).filter(([k, v]) => hello.model[k as keyof typeof ours] !== v);
      if (diff.length > 0) {
        const what = diff.map(([k, v]) => `${k} ${hello.model[k as keyof typeof ours]} (server: ${v})`).join(', ');
        throw new ProtocolError('model_mismatch', `the edge's model differs from the server's: ${what}`);
      }
      const open = [...connections.values()].filter((x) => x.session !== undefined).length;
      if (open >= opts.maxSessions) throw new ProtocolError('busy', `the server is at its limit of ${opts.maxSessions} sessions; try again later`);
      if (!ctx.exempt.has(conn.remote)) {
        const mine = [...connections.values()].filter((x) => x.session !== undefined && x.remote === conn.remote).length;
        if (mine >= opts.maxSessionsPerAddress) {
          stats.error('too_many_sessions_per_address');
          throw new ProtocolError('busy', `${conn.remote} already has ${mine} sessions open, the limit per address; close one or try again later`);
        }
      }
      // the cloud at the weights the edge asked for (made before the session exists: a refusal leaves none)
      const executor = model.newExecutor({ weights: hello.weights, activations: hello.activations });
      conn.session = randomUUID();
      conn.model = model;
      conn.executor = executor;
      stats.totals.sessionsOpened++;
      clearTimeout(helloTimer);
      const limits: ServerLimits = { maxContext: model.graph.config.nPositions, maxMessageBytes: opts.maxMessageBytes, maxRequestsPerSecond: opts.maxRequestsPerSecond };
      log.info({ event: 'hello', socket: socket.id, session: conn.session, model: model.id, ...(hello.weights ? { weights: hello.weights } : {}) });
      m.ack({ ok: true, session: conn.session, limits, worker: WORKER_ID } satisfies HelloReply);
    } catch (e) {
      answerError(m.ack, e, 'hello', 'hello');
    }
  });

  socket.on('cloud', (...args: unknown[]) => {
    const m = admit('cloud', args, 'reply');
    if (!m) return;
    if (conn.queue.size >= opts.maxQueuedRequests) {
      answerError(m.ack, new ProtocolError('rate_limited', `more than ${opts.maxQueuedRequests} requests queued on this connection`), 'cloud', 'reply');
      return;
    }
    // the memory a connection's queue pins: each queued message holds its decoded attachments
    const bytes = binaryBytes(m.msg);
    if (conn.queuedBytes + bytes > opts.maxQueuedBytes) {
      answerError(m.ack, new ProtocolError('rate_limited', `more than ${opts.maxQueuedBytes} bytes of requests queued on this connection`), 'cloud', 'reply');
      return;
    }
    conn.queuedBytes += bytes;
    // one request at a time per connection, in arrival order: the executor is stateful
    void conn.queue.run(async () => {
      try {
        if (conn.closed) return;
        m.ack(await handleCloud(conn, m.msg, ctx));
      } catch (e) {
        answerError(m.ack, e, 'cloud', 'reply');
      } finally {
        conn.queuedBytes -= bytes;
      }
    });
  });

  socket.on('probe', (...args: unknown[]) => {
    const m = admit('probe', args, 'reply');
    if (!m) return;
    try {
      // answered at once, outside the request queue: the RTT must not include queued compute
      const p = parse(ProbeSchema, m.msg, 'probe');
      if (p.pricing !== undefined) conn.pricesCongestion = p.pricing;
      // whether this session's cloud batches: the edge prices the others' load by it (a congestion toll only without)
      const batching = conn.model && conn.executor ? conn.model.batches(conn.executor) : undefined;
      const load = ctx.load.report(conn.session);
      // and how much each request the others hold slows this session's, as the server measures it
      const contention = conn.model && conn.executor ? conn.model.contention(conn.executor) : undefined;
      m.ack({ t: p.t, serverTime: Date.now(), load: { ...load, ...(batching !== undefined ? { batching } : {}), ...(contention !== undefined ? { contention } : {}) } } satisfies ProbeReply);
    } catch (e) {
      answerError(m.ack, e, 'probe', 'reply');
    }
  });

  socket.onAny((event: unknown, ...args: unknown[]) => {
    if (typeof event === 'string' && KNOWN_EVENTS.has(event)) return;
    const m = admit(String(event).slice(0, 64), args, 'reply');
    if (m) answerError(m.ack, new ProtocolError('malformed', `unknown event "${String(event).slice(0, 64)}"`), 'unknown', 'reply');
  });

  socket.on('disconnect', (reason) => {
    clearTimeout(helloTimer);
    const freedKvBytes = conn.free();
    connections.delete(socket.id);
    if (conn.session) {
      stats.totals.sessionsClosed++;
      stats.totals.freedKvBytes += freedKvBytes;
    }
    log.info({ event: 'disconnect', socket: socket.id, session: conn.session, reason, freedKvBytes, requests: conn.requests, bytesIn: conn.bytesIn, bytesOut: conn.bytesOut });
  });
}

/** Parse, check and run one cloud request; returns the wire reply. */
async function handleCloud(conn: Connection, msg: unknown, ctx: SocketContext): Promise<WireReply> {
  const { stats } = ctx;
  conn.requests++;
  stats.totals.requests++;
  precheckDtypes(msg);
  // before hello there is no model to size rows by: the default's, and the session check refuses it
  const model = conn.model ?? ctx.models.default, E = model.graph.config.nEmbd;
  const { session, req, precision } = requestFromWire(msg, E);
  if (!conn.executor || session !== conn.session) {
    throw new ProtocolError('unknown_session', conn.session ? 'the request names another session than this connection\'s' : 'say hello before sending requests');
  }
  checkContext(req, model.graph.config.nPositions);
  const inBytes = binaryBytes(msg);
  const t0 = performance.now();
  const done = ctx.load.begin(session, conn.pricesCongestion);
  let reply: CloudReply;
  try {
    reply = await conn.executor.handle(req);
  } finally {
    done();
  }
  const wire = replyToWire(reply, precision, E, performance.now() - t0);
  const outBytes = binaryBytes(wire);
  conn.bytesIn += inBytes;
  conn.bytesOut += outBytes;
  stats.totals.bytesIn += inBytes;
  stats.totals.bytesOut += outBytes;
  if (req.type === 'segment') {
    conn.segments++;
    stats.totals.segments++;
  }
  return wire;
}

/** The context limit: no session may hold more positions than the model's n_positions. */
function checkContext(req: CloudRequest, nPositions: number): void {
  // a reset that rebuilds `length` positions holds their KV caches: the same bound as a plan change
  const end = req.type === 'segment' ? req.start + req.count : req.type === 'tokens' ? req.start + req.ids.length : (req.length ?? 0);
  if (end > nPositions) throw new ProtocolError('too_large', `the request reaches position ${end}; the model's context is ${nPositions} (n_positions)`);
}
