#!/usr/bin/env node
// tsx apps/server/src/main.ts --model DIR [--port 8080] [--host 127.0.0.1] [--web apps/web/dist] [--token T]
import { parseArgs } from 'node:util';
import { SplitwiseError } from '@splitwise/core';
import { createCloudServer } from './server.ts';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    web: { type: 'string' },
    token: { type: 'string', default: process.env.SPLITWISE_TOKEN },
    threads: { type: 'string' },
    'max-sessions': { type: 'string' },
    'allowed-origin': { type: 'string', multiple: true },
    'log-level': { type: 'string' },
  },
});

const int = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new SplitwiseError('bad_argument', `--${name} must be a whole number`);
  return n;
};

try {
  if (!a.model) throw new SplitwiseError('bad_argument', '--model DIR is required (a Hugging Face GPT-2 folder; make one with `splitwise make-model`)');
  const server = await createCloudServer({
    modelDir: a.model,
    port: int(a.port, 'port'),
    host: a.host,
    webDist: a.web,
    token: a.token || undefined,
    threads: int(a.threads, 'threads'),
    maxSessions: int(a['max-sessions'], 'max-sessions'),
    allowedOrigins: a['allowed-origin'],
    logLevel: a['log-level'],
  });
  console.log(`splitwise server: ${server.url}`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void server.close().then(() => process.exit(0)));
} catch (e) {
  console.error(e instanceof SplitwiseError ? `splitwise-server: ${e.code}: ${e.message}` : e);
  process.exit(1);
}
