#!/usr/bin/env node
// tsx apps/server/src/main.ts --model DIR [--model DIR2 ...] [--port 8080] [--host 127.0.0.1] [--web apps/web/dist] [--token T] [--workers N]
//   [--no-batching | --max-batch 16 --batch-wait-ms 2]
// With --workers N the process is a cluster primary: it holds the port, forks N workers (each runs
// this file, loads the model and serves), and restarts any that dies. See cluster.ts.
import cluster from 'node:cluster';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { SplitwiseError } from '@splitwise/core';
import { reportListening, startPrimary, workerPort } from './cluster.ts';
import { createCloudServer, WORKER_ID } from './server.ts';

const { values: a } = parseArgs({
  options: {
    // repeat to host several models: the first is the default, each is served under its folder's name
    model: { type: 'string', multiple: true },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    web: { type: 'string' },
    token: { type: 'string', default: process.env.SPLITWISE_TOKEN },
    threads: { type: 'string' },
    'max-sessions': { type: 'string' },
    'max-connections': { type: 'string' },
    'max-message-bytes': { type: 'string' },
    'allowed-origin': { type: 'string', multiple: true },
    'log-level': { type: 'string' },
    workers: { type: 'string' },
    // hostile clients (README.md, "Limits and why")
    'trust-proxy': { type: 'string', multiple: true },
    'max-connections-per-address': { type: 'string' },
    'max-sessions-per-address': { type: 'string' },
    'per-address-exempt': { type: 'string', multiple: true },
    'max-auth-failures': { type: 'string' },
    'headers-timeout-ms': { type: 'string' },
    'request-timeout-ms': { type: 'string' },
    'max-header-bytes': { type: 'string' },
    'max-url-bytes': { type: 'string' },
    'max-outgoing-bytes': { type: 'string' },
    // continuous batching (README.md, "Concurrency"): on unless --no-batching
    'no-batching': { type: 'boolean' },
    'max-batch': { type: 'string' },
    'batch-wait-ms': { type: 'string' },
  },
});

const int = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new SplitwiseError('bad_argument', `--${name} must be a whole number`);
  return n;
};

try {
  if (!a.model?.length) throw new SplitwiseError('bad_argument', '--model DIR is required (a Hugging Face model folder, e.g. models/stories260K; make others with `splitwise make-model`)');
  const workers = int(a.workers, 'workers');
  if (workers !== undefined && workers < 1) throw new SplitwiseError('bad_argument', '--workers must be at least 1');
  if (workers !== undefined && cluster.isPrimary) {
    const log = pino({ level: a['log-level'] ?? process.env.LOG_LEVEL ?? 'info', base: { service: 'splitwise-cluster' } });
    const primary = await startPrimary({ workers, port: int(a.port, 'port')!, host: a.host!, log });
    console.log(`splitwise server: ${primary.url} (cluster of ${workers}, primary ${process.pid})`);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void primary.close().then(() => process.exit(0)));
  } else {
    const server = await createCloudServer({
      modelDir: a.model[0]!,
      ...(a.model.length > 1 ? { models: a.model.slice(1).map((dir) => ({ id: basename(dir.replace(/\/+$/, '')), dir })) } : {}),
      port: workerPort() ?? int(a.port, 'port'),
      host: a.host,
      webDist: a.web,
      token: a.token || undefined,
      threads: int(a.threads, 'threads'),
      maxSessions: int(a['max-sessions'], 'max-sessions'),
      maxConnections: int(a['max-connections'], 'max-connections'),
      maxMessageBytes: int(a['max-message-bytes'], 'max-message-bytes'),
      allowedOrigins: a['allowed-origin'],
      logLevel: a['log-level'],
      trustProxy: a['trust-proxy'],
      maxConnectionsPerAddress: int(a['max-connections-per-address'], 'max-connections-per-address'),
      maxSessionsPerAddress: int(a['max-sessions-per-address'], 'max-sessions-per-address'),
      // `--per-address-exempt none` caps loopback clients too
      perAddressExempt: a['per-address-exempt']?.filter((x) => x !== 'none'),
      maxAuthFailures: int(a['max-auth-failures'], 'max-auth-failures'),
      headersTimeoutMs: int(a['headers-timeout-ms'], 'headers-timeout-ms'),
      requestTimeoutMs: int(a['request-timeout-ms'], 'request-timeout-ms'),
      maxHeaderBytes: int(a['max-header-bytes'], 'max-header-bytes'),
      maxUrlBytes: int(a['max-url-bytes'], 'max-url-bytes'),
      maxOutgoingBytes: int(a['max-outgoing-bytes'], 'max-outgoing-bytes'),
      batching: !a['no-batching'],
      maxBatch: int(a['max-batch'], 'max-batch'),
      batchWaitMs: int(a['batch-wait-ms'], 'batch-wait-ms'),
    });
    if (cluster.isWorker) reportListening(server.url, WORKER_ID);
    else console.log(`splitwise server: ${server.url}`);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void server.close().then(() => process.exit(0)));
  }
} catch (e) {
  console.error(e instanceof SplitwiseError ? `splitwise-server: ${e.code}: ${e.message}` : e);
  process.exit(1);
}
