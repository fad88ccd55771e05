// What createCloudServer accepts, and the defaults it fills in (each limit's reason is in README.md).
import os from 'node:os';

export interface CloudServerOptions {
  /** Hugging Face GPT-2 directory: config.json, model.safetensors, tokenizer files. */
  modelDir: string;
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
}

export type ResolvedOptions = Required<Omit<CloudServerOptions, 'webDist' | 'token' | 'allowedOrigins' | 'ffnChunks'>> &
  Pick<CloudServerOptions, 'webDist' | 'token' | 'allowedOrigins' | 'ffnChunks'>;

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
    helloTimeoutMs: o.helloTimeoutMs ?? 10_000,
    maxQueuedRequests: o.maxQueuedRequests ?? 256,
    maxQueuedBytes: o.maxQueuedBytes ?? 2 * (o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
    maxConnections: o.maxConnections ?? 4 * (o.maxSessions ?? 8) + 32,
    logLevel: o.logLevel ?? process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
  };
}
