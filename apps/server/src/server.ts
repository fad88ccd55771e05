// createCloudServer: one HTTP server carrying both express (page, model files, API) and
// socket.io (the edge<->cloud protocol), over its models, each loaded once.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket as TcpSocket } from 'node:net';
import { realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { attachmentsFor, wireParser } from '@splitwise/link-socketio/parser';
import { createApp } from './http/app.ts';
import { AddressCounts, addressResolver, AuthFailures, normalizeAddress } from './client-address.ts';
import { Connection } from './connection.ts';
import { MODEL_ID, ModelHost, ModelHosts } from './model-host.ts';
import { resolveOptions, type CloudServerOptions } from './options.ts';
import { originPolicy } from './origin.ts';
import { LoadMeter } from './load-meter.ts';
import { attachSockets } from './sockets.ts';
import { StatsBook, type ServerStats } from './stats.ts';

export { WORKER_ID } from './worker-id.ts';

export interface CloudServer {
  /** http://host:port */
  url: string;
  port: number;
  stats(): ServerStats;
  close(): Promise<void>;
  io: Server;
  app: express.Express;
  /** The default model (the first of `models`). */
  model: ModelHost;
  models: ModelHosts;
}

/** Load every model the options name: the default first. */
async function loadModels(opts: { modelDir: string; models?: Array<{ id: string; dir: string }>; threads: number; ffnChunks?: number; batching: boolean; maxBatch: number; batchWaitMs: number }): Promise<ModelHosts> {
  const list = [{ id: opts.models?.length ? basename(opts.modelDir) : 'default', dir: opts.modelDir }, ...(opts.models ?? [])];
  const batching = opts.batching && { maxBatch: opts.maxBatch, maxWaitMs: opts.batchWaitMs };
  const hosts: ModelHost[] = [];
  for (const m of list) {
    if (!MODEL_ID.test(m.id)) throw new Error(`model id "${m.id}" must be 1-64 letters, digits, ".", "_" or "-"`);
    hosts.push(await ModelHost.load(await realpath(m.dir), { id: m.id, threads: opts.threads, ffnChunks: opts.ffnChunks, batching }));
  }
  return new ModelHosts(hosts);
}

export async function createCloudServer(options: CloudServerOptions): Promise<CloudServer> {
  const opts = resolveOptions(options);
  const log = pino({ level: opts.logLevel, base: { service: 'splitwise-server' } });
  const models = await loadModels(opts), model = models.default;
  const connections = new Map<string, Connection>();
  const book = new StatsBook();
  const load = new LoadMeter();
  const stats = (): ServerStats => ({
    ...book.snapshot(connections.values()),
    // how busy the cloud has been over the last window (what probes report, for no session in particular)
    load: load.report(),
    // the continuous batcher's figures, per model (absent with batching off)
    batching: Object.fromEntries(models.list.flatMap((m) => (m.batchStats() ? [[m.id, m.batchStats()!]] : []))),
  });
  const allowed = originPolicy(opts.allowedOrigins);

  const app = createApp({ models, webDist: opts.webDist, allowed, stats, log });
  const clientAddress = addressResolver(opts.trustProxy);
  const exempt = new Set([...opts.perAddressExempt, ...opts.trustProxy].map(normalizeAddress));
  const addressOf = (req: IncomingMessage): string => clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);

  // Slow-loris and oversized requests (README.md, "Limits and why"): headers must arrive within
  // headersTimeoutMs (Node answers 408 and closes), the whole request within requestTimeoutMs;
  // Node checks both every connectionsCheckingInterval, so that is set well under them. Request
  // line + headers over maxHeaderBytes are answered 431 by Node's parser.
  const http = createServer(
    {
      headersTimeout: opts.headersTimeoutMs,
      requestTimeout: opts.requestTimeoutMs,
      maxHeaderSize: opts.maxHeaderBytes,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(opts.headersTimeoutMs, opts.requestTimeoutMs) / 4))),
    },
    (req: IncomingMessage, res: ServerResponse) => {
      if ((req.url?.length ?? 0) > opts.maxUrlBytes) {
        book.error('uri_too_long');
        res.writeHead(414, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ error: { code: 'too_large', message: `the request target is over ${opts.maxUrlBytes} bytes` } }));
        return;
      }
      app(req, res);
    },
  );
  http.keepAliveTimeout = opts.keepAliveTimeoutMs;
  // TCP connections per peer address (a trusted proxy's and exempt addresses are not counted: the
  // proxy carries many clients, whose socket.io connections are counted by forwarded address below)
  const tcpByAddress = new AddressCounts();
  http.on('connection', (sock: TcpSocket) => {
    const peer = normalizeAddress(sock.remoteAddress);
    if (exempt.has(peer)) return;
    if (tcpByAddress.get(peer) >= opts.maxConnectionsPerAddress) {
      book.error('too_many_connections_per_address');
      sock.destroy();
      return;
    }
    tcpByAddress.add(peer);
    sock.once('close', () => tcpByAddress.remove(peer));
  });
  const ioByAddress = new AddressCounts();
  const authFailures = new AuthFailures(opts.maxAuthFailures, opts.authFailureWindowMs);

  const io = new Server(http, {
    serveClient: false,
    maxHttpBufferSize: opts.maxMessageBytes,
    parser: wireParser({ maxAttachments: attachmentsFor(Math.max(...models.list.map((m) => m.graph.config.nLayer))), maxMessageBytes: opts.maxMessageBytes }),
    // CORS does not cover WebSockets: check the page's origin at the handshake; and bound the
    // connections (each costs a socket and buffers even before it says hello)
    allowRequest: (req, cb) => {
      if (!allowed(req.headers.origin, req.headers.host)) return cb('origin not allowed', false);
      if ((req.url?.length ?? 0) > opts.maxUrlBytes) {
        book.error('uri_too_long');
        return cb('request target too long', false);
      }
      if (io.engine.clientsCount >= opts.maxConnections) {
        book.error('too_many_connections');
        return cb('too many connections', false);
      }
      const addr = addressOf(req);
      if (!exempt.has(addr) && ioByAddress.get(addr) >= opts.maxConnectionsPerAddress) {
        book.error('too_many_connections_per_address');
        return cb('too many connections from this address', false);
      }
      cb(null, true);
    },
    cors: { origin: (origin, cb) => cb(null, allowed(origin, undefined)) },
  });
  io.engine.on('connection', (conn: { request: IncomingMessage; once(ev: 'close', f: () => void): void }) => {
    const addr = addressOf(conn.request);
    ioByAddress.add(addr);
    conn.once('close', () => ioByAddress.remove(addr));
  });
  attachSockets(io, { models, opts, log, stats: book, connections, addressOf, exempt, authFailures, load });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const { port, address, family } = http.address() as AddressInfo;
  const url = `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  const c = model.graph.config;
  for (const m of models.list) if (m.batchingOff) log.warn({ event: 'batching_off', model: m.id, why: m.batchingOff });
  log.info({ event: 'listening', url, model: opts.modelDir, models: models.list.map((m) => m.id), family: c.family, nLayer: c.nLayer, nEmbd: c.nEmbd, ffnChunks: model.graph.ffnChunks, threads: opts.threads, batching: opts.batching ? { maxBatch: opts.maxBatch, waitMs: opts.batchWaitMs } : false });

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    stats,
    io,
    app,
    model,
    models,
    close: () =>
      (closing ??= (async () => {
        const live = [...connections.values()];
        const done = io.close(); // disconnects every socket, then closes the HTTP server
        http.closeAllConnections();
        await done;
        // a request already running finishes before its sessions are released under it
        await Promise.all(live.map((c) => c.queue.run(async () => undefined)));
        await models.close();
        log.info({ event: 'closed' });
      })()),
  };
}
