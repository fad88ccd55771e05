// createCloudServer: one HTTP server carrying both express (page, model files, API) and
// socket.io (the edge<->cloud protocol), over one model loaded once.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpath } from 'node:fs/promises';
import express from 'express';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { attachmentsFor, wireParser } from '@splitwise/link-socketio/parser';
import { createApp } from './http/app.ts';
import { Connection } from './connection.ts';
import { ModelHost } from './model-host.ts';
import { resolveOptions, type CloudServerOptions } from './options.ts';
import { originPolicy } from './origin.ts';
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
  model: ModelHost;
}

export async function createCloudServer(options: CloudServerOptions): Promise<CloudServer> {
  const opts = resolveOptions(options);
  const log = pino({ level: opts.logLevel, base: { service: 'splitwise-server' } });
  const model = await ModelHost.load(await realpath(opts.modelDir), { threads: opts.threads, ffnChunks: opts.ffnChunks });
  const connections = new Map<string, Connection>();
  const book = new StatsBook();
  const stats = (): ServerStats => book.snapshot(connections.values());
  const allowed = originPolicy(opts.allowedOrigins);

  const app = createApp({ model, webDist: opts.webDist, allowed, stats, log });
  const http = createServer(app);
  const io = new Server(http, {
    serveClient: false,
    maxHttpBufferSize: opts.maxMessageBytes,
    parser: wireParser({ maxAttachments: attachmentsFor(model.graph.config.nLayer), maxMessageBytes: opts.maxMessageBytes }),
    // CORS does not cover WebSockets: check the page's origin at the handshake; and bound the
    // connections (each costs a socket and buffers even before it says hello)
    allowRequest: (req, cb) => {
      if (!allowed(req.headers.origin, req.headers.host)) return cb('origin not allowed', false);
      if (io.engine.clientsCount >= opts.maxConnections) {
        book.error('too_many_connections');
        return cb('too many connections', false);
      }
      cb(null, true);
    },
    cors: { origin: (origin, cb) => cb(null, allowed(origin, undefined)) },
  });
  attachSockets(io, { model, opts, log, stats: book, connections });

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
  log.info({ event: 'listening', url, model: opts.modelDir, nLayer: c.nLayer, nEmbd: c.nEmbd, ffnChunks: model.graph.ffnChunks, threads: opts.threads });

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    stats,
    io,
    app,
    model,
    close: () =>
      (closing ??= (async () => {
        const live = [...connections.values()];
        const done = io.close(); // disconnects every socket, then closes the HTTP server
        http.closeAllConnections();
        await done;
        // a request already running finishes before its sessions are released under it
        await Promise.all(live.map((c) => c.queue.run(async () => undefined)));
        await model.close();
        log.info({ event: 'closed' });
      })()),
  };
}
