// What createCloudServer accepts, and the defaults it fills in (each limit's reason is in README.md).
import os from 'node:os';

export interface CloudServerOptions {
  /** Hugging Face model directory (any supported family): config.json, model.safetensors, tokenizer files. The default model, id "default" unless `models` names it. */
  modelDir: string;
  /**
   * More models to host beside it, each under its id (/models/<id>/..., hello's modelId). With
   * this set, the default model's id is the basename of modelDir.
   */
  models?: Array<{ id: string; dir: string }>;
  /** 0 = an ephemeral port. @defaultValue 8080 */
  port?: number;
  /** Interface to listen on. @defaultValue '127.0.0.1' */
  host?: string;
  /** Built page (apps/web/dist) served at `/`. */
  webDist?: string;
  /** Sessions (connected edges that said hello) at once. @defaultValue 8 */
  maxSessions?: number;
  /** Messages per second per connection (token bucket; burst of the same size). @defaultValue 2000 */
  maxRequestsPerSecond?: number;
  /** Largest message: each socket.io frame and the sum of one message's binary attachments. @defaultValue 64 MiB */
  maxMessageBytes?: number;
  /** If set, hello must carry this token. */
  token?: string;
  /** Page origins allowed to connect and fetch; ['*'] = any. Default: same origin and loopback origins. */
  allowedOrigins?: string[];
  /** onnxruntime intra-op threads per graph call. @defaultValue os.availableParallelism() */
  threads?: number;
  /** FFN chunks per layer of the server's graph (hello must match). @defaultValue n_head */
  ffnChunks?: number;
  /**
   * Continuous batching: the one-row steps of different sessions that run the same whole layer are
   * merged into one onnxruntime run (src/batcher.ts). Off: each session's layers run on their own,
   * one call at a time. Answers are the same either way (README.md, "Concurrency"). @defaultValue true
   */
  batching?: boolean;
  /** Most sessions' rows one batched run takes. @defaultValue 16 */
  maxBatch?: number;
  /** How long a new sweep over the layers waits for the sessions it served last time (ms). @defaultValue 2 */
  batchWaitMs?: number;
  /** Milliseconds a connection may stay without saying hello. @defaultValue 10000 */
  helloTimeoutMs?: number;
  /** Requests queued on one connection before more are refused. @defaultValue 256 */
  maxQueuedRequests?: number;
  /**
   * Binary bytes of requests queued (or running) on one connection before more are refused: the
   * memory one client's backlog can pin. @defaultValue 2 × maxMessageBytes
   */
  maxQueuedBytes?: number;
  /** Socket.io connections at once, with or without a session (sockets that never say hello included). @defaultValue 4 × maxSessions + 32 */
  maxConnections?: number;
  /** pino level. @defaultValue LOG_LEVEL, else 'silent' under vitest, else 'info' */
  logLevel?: string;

  // --- hostile clients (README.md, "Limits and why") ---
  /** A request's headers must arrive within this (slow-loris); Node answers 408 and closes. @defaultValue 10000 */
  headersTimeoutMs?: number;
  /** A whole request, body included, must arrive within this. @defaultValue 30000 */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this. @defaultValue 5000 */
  keepAliveTimeoutMs?: number;
  /** Request line plus headers; more is answered 431 and the connection closed. @defaultValue 16384 */
  maxHeaderBytes?: number;
  /** Longest request target (path and query); longer is answered 414. @defaultValue 8192 */
  maxUrlBytes?: number;
  /** TCP connections and socket.io connections at once from one client address. @defaultValue ceil(maxConnections / 4) */
  maxConnectionsPerAddress?: number;
  /** Sessions at once from one client address. @defaultValue ceil(maxSessions / 2) */
  maxSessionsPerAddress?: number;
  /**
   * Client addresses the per-address connection and session caps do not apply to. Loopback by
   * default: local tools (load tests, a proxy on this host that is not trusted) would otherwise
   * share one address's allowance. The access-token guard applies to every address.
   * @defaultValue ['127.0.0.1', '::1']
   */
  perAddressExempt?: string[];
  /** Peers (exact addresses) whose X-Forwarded-For names the client: the load balancer. @defaultValue [] */
  trustProxy?: string[];
  /** Failed access-token hellos allowed per address in `authFailureWindowMs`; then `rate_limited`. @defaultValue 10 */
  maxAuthFailures?: number;
  /** @defaultValue 60000 */
  authFailureWindowMs?: number;
  /**
   * Bytes of replies queued for one socket that the client has not read yet (socket.io's write
   * buffer plus the WebSocket's). A socket over it is disconnected: a client that never reads
   * cannot make the server hold its answers. It must exceed the largest reply.
   * @defaultValue maxMessageBytes
   */
  maxOutgoingBytes?: number;
}

export type ResolvedOptions = Required<Omit<CloudServerOptions, 'webDist' | 'token' | 'allowedOrigins' | 'ffnChunks' | 'models'>> &
  Pick<CloudServerOptions, 'webDist' | 'token' | 'allowedOrigins' | 'ffnChunks' | 'models'>;

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export function resolveOptions(o: CloudServerOptions): ResolvedOptions {
  return {
    ...o,
    port: o.port ?? 8080,
    host: o.host ?? '127.0.0.1',
    maxSessions: o.maxSessions ?? 8,
    maxRequestsPerSecond: o.maxRequestsPerSecond ?? 2000,
    maxMessageBytes: o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    threads: o.threads ?? os.availableParallelism(),
    batching: o.batching ?? true,
    maxBatch: o.maxBatch ?? 16,
    batchWaitMs: o.batchWaitMs ?? 2,
    helloTimeoutMs: o.helloTimeoutMs ?? 10_000,
    maxQueuedRequests: o.maxQueuedRequests ?? 256,
    maxQueuedBytes: o.maxQueuedBytes ?? 2 * (o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
    maxConnections: o.maxConnections ?? 4 * (o.maxSessions ?? 8) + 32,
    logLevel: o.logLevel ?? process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
    headersTimeoutMs: o.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    keepAliveTimeoutMs: o.keepAliveTimeoutMs ?? 5_000,
    maxHeaderBytes: o.maxHeaderBytes ?? 16_384,
    maxUrlBytes: o.maxUrlBytes ?? 8_192,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress ?? Math.ceil((o.maxConnections ?? 4 * (o.maxSessions ?? 8) + 32) / 4),
    maxSessionsPerAddress: o.maxSessionsPerAddress ?? Math.ceil((o.maxSessions ?? 8) / 2),
    perAddressExempt: o.perAddressExempt ?? ['127.0.0.1', '::1'],
    trustProxy: o.trustProxy ?? [],
    maxAuthFailures: o.maxAuthFailures ?? 10,
    authFailureWindowMs: o.authFailureWindowMs ?? 60_000,
    maxOutgoingBytes: o.maxOutgoingBytes ?? o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
  };
}
