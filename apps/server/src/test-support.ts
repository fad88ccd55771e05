// Shared by the server tests: a tiny model folder on disk, raw socket.io clients that can send
// anything, and well-formed messages to start from.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { buildModelGraph, PRESETS, type GPT2Config, type ModelGraph } from '@splitwise/core';
import { makeModel } from '@splitwise/checkpoint/node';
import { PROTOCOL_VERSION, encodeRows, modelDescriptor, type Hello, type WireRequest } from '@splitwise/protocol';
import { attachmentsFor, wireParser } from '@splitwise/link-socketio/parser';

export const TINY: GPT2Config = PRESETS.tiny;
export const tinyGraph = (): ModelGraph => buildModelGraph(TINY);

/** A tiny random model written to a fresh temp folder. */
export async function tinyModelDir(seed = 7): Promise<{ dir: string; root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'splitwise-server-'));
  const dir = join(root, 'model');
  await makeModel({ config: 'tiny', seed, outDir: dir });
  return { dir, root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** A socket.io client with no protocol logic: tests send whatever they like through it. */
export async function rawClient(url: string): Promise<Socket> {
  const s = io(url, {
    transports: ['websocket'],
    reconnection: false,
    parser: wireParser({ maxAttachments: attachmentsFor(TINY.nLayer), maxMessageBytes: Infinity }),
  });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('connect_error', reject);
  });
  return s;
}

export function helloFor(graph: ModelGraph, over: Partial<Hello> = {}): Hello {
  const c = graph.config;
  return {
    protocol: PROTOCOL_VERSION,
    model: modelDescriptor(graph),
    ...over,
  };
}

/** emitWithAck with a deadline: a handler that never answers fails the test instead of hanging it. */
export const ask = <T = any>(s: Socket, event: string, ...args: unknown[]): Promise<T> => s.timeout(5000).emitWithAck(event, ...args);

/** A raw client that said hello; returns its session. */
export async function helloClient(url: string, graph: ModelGraph, token?: string): Promise<{ s: Socket; session: string }> {
  const s = await rawClient(url);
  const r = await ask(s, 'hello', helloFor(graph, token ? { token } : {}));
  if (!r.ok) throw new Error(`hello refused: ${JSON.stringify(r.error)}`);
  return { s, session: r.session };
}

/** A well-formed segment request of `count` rows (values deterministic, small). */
export function segment(session: string, o: { seq: number; start: number; count: number; from: number; to: number }): WireRequest {
  const E = TINY.nEmbd, x = new Float32Array(o.count * E).map((_, i) => Math.sin(i) * 0.1);
  return { session, type: 'segment', ...o, x: encodeRows(x, E, 'fp32') };
}

export const closed = (s: Socket): Promise<void> => (s.disconnected ? Promise.resolve() : new Promise((r) => s.once('disconnect', () => r())));

/** Polls until `f` holds (server-side effects of a disconnect arrive asynchronously). */
export async function until(f: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
