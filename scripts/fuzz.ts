// Fuzz the cloud server over its real socket: thousands of malformed, truncated, oversized,
// out-of-order and replayed messages, random events, messages without acks, and rapid
// connect/disconnect, from several connections at once, while a well-behaved edge generates
// alongside. Asserts that the server stays up (/api/health), that every acknowledged message is
// answered with a well-formed reply or a typed error whose code is on the protocol's list (never
// 'internal'), that an oversized message closes only its own connection, that the bystander's
// answer equals the greedy reference, that sessions are freed, and that the server's RSS stays
// bounded. Prints its figures as JSON.
//
//   npm run fuzz                      # short form: 20 s (or 60,000 messages)
//   npm run fuzz -- --long            # long form: 1,000,000 messages or 10 minutes, 16 connections
//   npx tsx scripts/fuzz.ts --messages 50000 --seconds 120 --clients 16 --seed 7
//   npx tsx scripts/fuzz.ts --url http://127.0.0.1:8080   # against a running server (tiny model)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { buildModelGraph, cloudOnlyPlan, edgeOnlyPlan, generate, halfPlan, randomPlan, type ModelGraph, type PartitionPlan } from '@splitwise/core';
import { loadGpt2FromDir, makeModel } from '@splitwise/checkpoint/node';
import { encodeRows, modelDescriptor, PROTOCOL_VERSION, type Hello } from '@splitwise/protocol';
import { attachmentsFor, wireParser } from '@splitwise/link-socketio/parser';
import { connectRemoteEdge } from '@splitwise/cli/remote-edge';
import { getJson, referenceTokens, spawnServer, type ServerProcess } from '../tests/server-process.ts';

/** Error codes a client may be answered with. Anything else (notably 'internal') is a finding. */
export const KNOWN_CODES = new Set([
  'malformed',
  'bad_tensor',
  'unsupported_version',
  'unknown_session',
  'too_large',
  'out_of_order',
  'rate_limited',
  'busy',
  'unauthorized',
  'model_mismatch',
  'invalid_plan',
]);

export interface FuzzOptions {
  /** Stop after this many fuzz messages... */
  messages: number;
  /** ...or after this many seconds, whichever comes first. */
  seconds: number;
  /** Fuzzing connections at once. */
  clients: number;
  seed: number;
  /** Use a running server (its model must be `tiny` made with --seed 7) instead of spawning one. */
  url?: string;
  /** Server's maxMessageBytes (spawned server): small, so oversized messages are cheap to send. */
  maxMessageBytes: number;
  /** Allowed RSS growth from start to peak, bytes. */
  rssBudget: number;
  log?: (line: string) => void;
}

export const SHORT: FuzzOptions = { messages: 60_000, seconds: 20, clients: 8, seed: 1, maxMessageBytes: 1 << 20, rssBudget: 256 << 20 };
export const LONG: FuzzOptions = { ...SHORT, messages: 1_000_000, seconds: 600, clients: 16 };

export interface FuzzReport {
  ok: boolean;
  failures: string[];
  seconds: number;
  messages: { sent: number; acked: number; answered: number; unanswered: number; withoutAck: number; perSecond: number };
  replies: Record<string, number>;
  byKind: Record<string, number>;
  connections: { opened: number; rapid: number; oversizedClosed: number; oversizedSent: number; refused: number };
  server: { rssStartMiB: number; rssPeakMiB: number; rssEndMiB: number; healthChecks: number; sessionsAtEnd: number; sessionsOpened: number; sessionsClosed: number; errors: Record<string, number> };
  bystander: { tokens: number; matchesReference: boolean };
}

// ------------------------------------------------------------------ randomness

class Rng {
  constructor(private s: number) {}
  next(): number {
    // mulberry32
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (this.next() * 256) | 0;
    return b;
  }
}

const WEIRD_NUMBERS = [NaN, Infinity, -Infinity, -1, -0, 0.5, 2 ** 31, 2 ** 53, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 1e9];

function weirdValue(r: Rng, depth = 0): unknown {
  switch (r.int(0, 11)) {
    case 0:
      return r.pick(WEIRD_NUMBERS);
    case 1:
      return r.int(-5, 300);
    case 2:
      return 'x'.repeat(r.int(0, 200));
    case 3:
      return null;
    case 4:
      return r.chance(0.5);
    case 5:
      return depth > 3 ? [] : Array.from({ length: r.int(0, 5) }, () => weirdValue(r, depth + 1));
    case 6:
      {
      const o: Record<string, unknown> = {};
      if (depth <= 3) for (let i = r.int(0, 4); i > 0; i--) put(o, r.pick(['a', 'x', 'type', 'session', '__proto__', 'constructor', `k${i}`]), weirdValue(r, depth + 1));
      return o;
    }
    case 7:
      return Buffer.from(r.bytes(r.int(0, 512)));
    case 8:
      return undefined;
    case 9:
      return String.fromCharCode(...Array.from({ length: r.int(1, 20) }, () => r.int(0, 0xffff)));
    case 10: {
      // deeply nested, bounded
      let v: unknown = 1;
      for (let i = 0; i < r.int(10, 200); i++) v = [v];
      return v;
    }
    default:
      return r.pick(['fp32', 'fp16', 'int8', 'fp64', 'reset', 'plan', 'segment', '']);
  }
}

// ------------------------------------------------------------------ valid messages to start from

interface SessionState {
  session: string;
  seq: number;
  pos: number;
  plan: PartitionPlan;
  lastSegment?: Record<string, unknown>;
}

const E_OF = (g: ModelGraph): number => g.config.nEmbd;

function validTensor(r: Rng, rows: number, E: number, dtype: 'fp32' | 'fp16' | 'int8' = r.pick(['fp32', 'fp16', 'int8'] as const)): Record<string, unknown> {
  const x = new Float32Array(rows * E);
  for (let i = 0; i < x.length; i++) x[i] = (r.next() - 0.5) * 0.2;
  return encodeRows(x, E, dtype) as unknown as Record<string, unknown>;
}

function validRequest(r: Rng, g: ModelGraph, st: SessionState): Record<string, unknown> {
  const E = E_OF(g), nBlocks = 2 * g.config.nLayer;
  const kind = r.int(0, 9);
  if (kind === 0) {
    const plan = r.pick([halfPlan(g), cloudOnlyPlan(g), edgeOnlyPlan(g), randomPlan(g, r.int(0, 1000))]);
    return { session: st.session, type: 'reset', plan };
  }
  if (kind === 1) {
    const length = r.int(0, 8);
    return { session: st.session, type: 'reset', plan: randomPlan(g, r.int(0, 1000)), length, rebuild: Array.from({ length: g.config.nLayer }, (_, l) => ({ layer: l, x: validTensor(r, length, E, 'fp32') })) };
  }
  if (kind === 2) {
    return { session: st.session, type: 'plan', plan: randomPlan(g, r.int(0, 1000)), length: st.pos, rebuild: Array.from({ length: g.config.nLayer }, (_, l) => ({ layer: l, x: validTensor(r, st.pos, E, 'fp32') })) };
  }
  const count = r.int(1, 4), from = r.int(0, nBlocks - 1);
  return { session: st.session, type: 'segment', seq: st.seq + 1, start: st.pos, count, from, to: r.int(from, nBlocks - 1), x: validTensor(r, count, E) };
}

// ------------------------------------------------------------------ mutations

const FIELDS = ['session', 'type', 'plan', 'length', 'rebuild', 'seq', 'start', 'count', 'from', 'to', 'x'];

function mutateTensor(r: Rng, t: Record<string, unknown>): Record<string, unknown> {
  if (!t || typeof t !== 'object') throw new Error('not a tensor');
  const m = { ...t };
  if (!(m.data instanceof Uint8Array)) m.data = Buffer.from(r.bytes(r.int(0, 64)));
  switch (r.int(0, 8)) {
    case 0: {
      const d = m.data as Uint8Array;
      m.data = d.subarray(0, r.int(0, Math.max(0, d.byteLength - 1))); // truncated
      break;
    }
    case 1:
      m.data = Buffer.concat([m.data as Uint8Array, Buffer.from(r.bytes(r.int(1, 64)))]); // too long
      break;
    case 2:
      m.rows = r.pick([...WEIRD_NUMBERS, (m.rows as number) + 1, 0]);
      break;
    case 3:
      m.cols = r.pick([...WEIRD_NUMBERS, 63, 65, 0]);
      break;
    case 4:
      m.dtype = weirdValue(r);
      break;
    case 5: {
      // NaN / Inf payload of the right length
      const d = new Uint8Array(m.data as Uint8Array);
      if (d.byteLength < 4) break;
      new DataView(d.buffer).setUint32(0, r.pick([0x7fc00000, 0x7f800000, 0xff800000]), true);
      if (m.dtype === 'fp16') new DataView(d.buffer).setUint16(0, 0x7e00, true);
      m.data = d;
      break;
    }
    case 6:
      if (m.dtype === 'int8') delete m.scales;
      else m.scales = Buffer.from(r.bytes(r.int(0, 16)));
      break;
    case 7:
      m.data = Buffer.from(r.bytes((m.data as Uint8Array).byteLength)); // random bytes (fp16/fp32 may hold NaN)
      break;
    default:
      put(m, r.pick(['extra', 'shape', '__proto__']), weirdValue(r));
  }
  return m;
}

function mutatePlan(r: Rng, p: PartitionPlan): unknown {
  // a plan an earlier mutation already broke is replaced outright
  if (!p || typeof p !== 'object' || !Array.isArray(p.layers) || p.layers.length === 0 || typeof p.layers[0] !== 'object') return weirdValue(r);
  const q = structuredClone(p) as unknown as Record<string, unknown> & { layers: Array<Record<string, unknown>> };
  switch (r.int(0, 6)) {
    case 0:
      q.layers[r.int(0, q.layers.length - 1)]!.cloudHeads = [r.pick([-1, 99, 2 ** 31, NaN, 0.5])];
      break;
    case 1:
      q.layers[0]!.cloudFfnChunks = [0, 0];
      break;
    case 2:
      q.layers.push({ cloudHeads: [], cloudFfnChunks: [] });
      break;
    case 3:
      put(q, 'nHead', weirdValue(r));
      break;
    case 4:
      q.layers = Array.from({ length: r.int(0, 3000) }, () => ({ cloudHeads: [0], cloudFfnChunks: [] }));
      break;
    case 5:
      q.layers[0]!.cloudHeads = Array.from({ length: r.int(0, 5000) }, (_, i) => i);
      break;
    default:
      return weirdValue(r);
  }
  return q;
}

function mutate(r: Rng, m: Record<string, unknown>, other: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m };
  for (let k = r.int(1, 3); k > 0; k--) {
    try {
      mutateOnce(r, out, other);
    } catch {
      // a field an earlier mutation already broke: break another one instead
      put(out, r.pick(FIELDS), weirdValue(r));
    }
  }
  return out;
}

function mutateOnce(r: Rng, out: Record<string, unknown>, other: string[]): void {
  {
    switch (r.int(0, 9)) {
      case 0:
        put(out, r.pick(FIELDS), weirdValue(r)); // wrong type
        break;
      case 1:
        delete out[r.pick(Object.keys(out))]; // missing field
        break;
      case 2:
        put(out, r.pick(['extra', 'admin', '__proto__', 'constructor', 'prototype']), weirdValue(r)); // unknown field
        break;
      case 3:
        put(out, r.pick(['seq', 'start', 'count', 'from', 'to', 'length']), r.pick(WEIRD_NUMBERS)); // NaN, huge, negative
        break;
      case 4:
        out.session = r.chance(0.5) && other.length ? r.pick(other) : r.pick(['', 'x'.repeat(65), 'x'.repeat(64), crypto.randomUUID()]); // another's or a made-up session
        break;
      case 5:
        if (out.x && typeof out.x === 'object') out.x = mutateTensor(r, out.x as Record<string, unknown>);
        else if (Array.isArray(out.rebuild) && out.rebuild.length) {
          const rb = [...(out.rebuild as Array<Record<string, unknown>>)];
          const i = r.int(0, rb.length - 1);
          rb[i] = r.chance(0.7) ? { ...rb[i], x: mutateTensor(r, rb[i]!.x as Record<string, unknown>) } : { ...rb[i], layer: r.pick([...WEIRD_NUMBERS, 99]) };
          out.rebuild = rb;
        }
        break;
      case 6:
        if (out.plan !== undefined) out.plan = mutatePlan(r, out.plan as PartitionPlan);
        break;
      case 7:
        out.type = r.pick(['reset', 'plan', 'segment', 'hello', 'probe', 'error', 'ok', '', 'SEGMENT']);
        break;
      case 8:
        if (out.type === 'segment') out.start = (out.start as number) + r.pick([-1, 1, 5, 127, 128]); // out of order positions
        break;
      default:
        if (out.type === 'segment') out.count = (out.count as number) + r.pick([1, -1, 200]);
    }
  }
}

// ------------------------------------------------------------------ clients

interface Tally {
  sent: number;
  acked: number;
  answered: number;
  unanswered: number;
  withoutAck: number;
  replies: Map<string, number>;
  byKind: Map<string, number>;
  failures: string[];
  oversizedSent: number;
  oversizedClosed: number;
  rapid: number;
  opened: number;
  refused: number;
}

/** An own, enumerable property even for "__proto__" (which plain assignment would turn into a prototype change). */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

const bump = (m: Map<string, number>, k: string, n = 1): void => void m.set(k, (m.get(k) ?? 0) + n);

const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

function rawSocket(url: string, g: ModelGraph): Socket {
  return io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    parser: wireParser({ maxAttachments: Math.max(attachmentsFor(g.config.nLayer), 64), maxMessageBytes: Infinity }),
  });
}

async function opened(s: Socket): Promise<boolean> {
  if (s.connected) return true;
  return new Promise((resolve) => {
    s.once('connect', () => resolve(true));
    s.once('connect_error', () => resolve(false));
  });
}

function helloMsg(g: ModelGraph): Hello {
  const c = g.config;
  return { protocol: PROTOCOL_VERSION, model: modelDescriptor(g) };
}

/** Check one answer: a well-formed success, or a typed error with a known code. */
function judge(t: Tally, event: string, reply: unknown): void {
  const r = reply as { type?: unknown; ok?: unknown; error?: { code?: unknown; message?: unknown }; t?: unknown };
  const err = r && typeof r === 'object' ? r.error : undefined;
  if (err !== undefined) {
    const code = typeof err?.code === 'string' ? err.code : '(no code)';
    bump(t.replies, `error:${code}`);
    if (!KNOWN_CODES.has(code) || typeof err?.message !== 'string') {
      if (t.failures.length < 50) t.failures.push(`"${event}" answered with an untyped or unknown error ${JSON.stringify(err).slice(0, 300)}`);
    }
    return;
  }
  const ok =
    (event === 'hello' && r?.ok === true) || (event === 'cloud' && (r?.type === 'ok' || r?.type === 'segment')) || (event === 'probe' && typeof r?.t === 'number');
  bump(t.replies, ok ? `ok:${event}` : 'unexpected');
  if (!ok && t.failures.length < 50) t.failures.push(`"${event}" answered with ${JSON.stringify(reply).slice(0, 300)}`);
}

async function ask(t: Tally, s: Socket, event: string, kind: string, ...args: unknown[]): Promise<unknown> {
  t.sent++;
  t.acked++;
  bump(t.byKind, kind);
  try {
    const reply = await s.timeout(10_000).emitWithAck(event, ...args);
    t.answered++;
    judge(t, event, reply);
    return reply;
  } catch (e) {
    // a connection the server closed (oversized message, hello timeout) leaves nothing to answer
    if (s.connected) {
      t.unanswered++;
      if (t.failures.length < 50) t.failures.push(`"${event}" (${kind}) got no answer in 10 s: ${(e as Error).message}`);
    }
    return undefined;
  }
}

/** One fuzzing connection's life: hello (usually), then a burst of mutated traffic, then gone. */
async function fuzzConnection(url: string, g: ModelGraph, r: Rng, t: Tally, budget: () => boolean, sessions: string[], maxMessageBytes: number): Promise<void> {
  const s = rawSocket(url, g);
  t.opened++;
  // rapid connect/disconnect: some leave before, during or right after the handshake
  if (r.chance(0.08)) {
    t.rapid++;
    if (r.chance(0.5)) await opened(s);
    if (r.chance(0.3)) s.emit('hello', helloMsg(g));
    s.disconnect();
    return;
  }
  if (!(await opened(s))) {
    t.refused++;
    s.close();
    return;
  }
  try {
    const st: SessionState = { session: '', seq: 0, pos: 0, plan: halfPlan(g) };
    if (r.chance(0.9)) {
      const hello = r.chance(0.15) ? mutate(r, helloMsg(g) as unknown as Record<string, unknown>, []) : helloMsg(g);
      const reply = (await ask(t, s, 'hello', r.chance(0.15) ? 'hello-mutated' : 'hello', hello)) as { ok?: boolean; session?: string } | undefined;
      if (reply?.ok && reply.session) {
        st.session = reply.session;
        sessions.push(st.session);
        if (sessions.length > 64) sessions.shift();
        const plan = r.pick([halfPlan(g), cloudOnlyPlan(g)]);
        if (((await ask(t, s, 'cloud', 'valid', { session: st.session, type: 'reset', plan })) as { type?: string })?.type === 'ok') st.plan = plan;
      }
    }
    const n = r.int(20, 120);
    const inflight: Array<Promise<unknown>> = [];
    for (let i = 0; i < n && budget() && s.connected; i++) {
      const roll = r.next();
      let p: Promise<unknown> | undefined;
      if (roll < 0.45) {
        // a valid request with 1-3 mutations: wrong types, NaN, huge or negative numbers, bad tensors, missing fields
        p = ask(t, s, 'cloud', 'mutated', mutate(r, validRequest(r, g, st), sessions));
      } else if (roll < 0.6) {
        // valid-looking requests, in or out of order; each success moves the session on
        const req = validRequest(r, g, st);
        p = ask(t, s, 'cloud', 'valid', req).then((rep) => {
          const x = rep as { type?: string };
          if (x?.type === 'segment' && req.type === 'segment') {
            st.seq = req.seq as number;
            st.pos += req.count as number;
            st.lastSegment = req;
          } else if (x?.type === 'ok' && req.type === 'reset') {
            st.seq = 0;
            st.pos = (req.length as number | undefined) ?? 0;
          }
        });
      } else if (roll < 0.67) {
        // replayed: the last segment that succeeded, sent again verbatim
        p = st.lastSegment ? ask(t, s, 'cloud', 'replayed', st.lastSegment) : ask(t, s, 'cloud', 'garbage', weirdValue(r));
      } else if (roll < 0.77) {
        // garbage: random values, random binary, several arguments
        const args = Array.from({ length: r.int(0, 3) }, () => (r.chance(0.3) ? Buffer.from(r.bytes(r.int(0, 4096))) : weirdValue(r)));
        p = ask(t, s, r.pick(['cloud', 'hello', 'probe']), 'garbage', ...args);
      } else if (roll < 0.83) {
        // random event names, with an ack
        let ev = Math.random().toString(36).slice(2, 2 + r.int(1, 10));
        if (RESERVED.has(ev)) ev = `x${ev}`;
        p = ask(t, s, ev, 'random-event', weirdValue(r));
      } else if (roll < 0.9) {
        // no ack callback: the server must drop it, not apply it unseen
        t.sent++;
        t.withoutAck++;
        bump(t.byKind, 'no-ack');
        s.emit(r.pick(['cloud', 'hello', 'probe', 'zzz']), r.chance(0.5) ? validRequest(r, g, st) : weirdValue(r));
      } else if (roll < 0.95) {
        p = ask(t, s, 'probe', 'probe', r.chance(0.7) ? { t: performance.now() } : { t: weirdValue(r), pad: Buffer.from(r.bytes(r.int(0, 2048))) });
      } else if (roll < 0.96 && t.oversizedSent < 40) {
        // oversized: over maxMessageBytes; the transport closes this connection before any handler
        t.oversizedSent++;
        t.sent++;
        bump(t.byKind, 'oversized');
        const closed = new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 10_000);
          s.once('disconnect', () => (clearTimeout(timer), resolve(true)));
        });
        s.emit('cloud', { session: st.session, type: 'segment', x: { data: Buffer.alloc(maxMessageBytes + 1024) } }, () => undefined);
        if (await closed) t.oversizedClosed++;
        else if (t.failures.length < 50) t.failures.push('an oversized message did not close its connection');
        break;
      } else {
        // a burst without waiting: requests queue on the server and race each other
        const burst = Array.from({ length: r.int(2, 12) }, () => ask(t, s, 'cloud', 'burst', r.chance(0.5) ? validRequest(r, g, st) : mutate(r, validRequest(r, g, st), sessions)));
        p = Promise.all(burst);
      }
      if (p) inflight.push(p);
      // usually wait for the answer; sometimes keep going with it in flight
      if (p && r.chance(0.7)) await p;
      if (inflight.length > 16) await Promise.all(inflight.splice(0));
    }
    await Promise.all(inflight);
  } finally {
    s.disconnect();
  }
}

// ------------------------------------------------------------------ the run

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const log = o.log ?? ((l: string) => console.error(l));
  let root: string | undefined;
  let server: ServerProcess | undefined;
  const t0 = performance.now();
  try {
    let url = o.url;
    root = await mkdtemp(join(tmpdir(), 'splitwise-fuzz-'));
    const dir = join(root, 'tiny');
    await makeModel({ config: 'tiny', seed: 7, outDir: dir });
    if (!url) {
      server = await spawnServer(['--model', dir, '--threads', '1', '--max-sessions', String(o.clients + 8), '--max-message-bytes', String(o.maxMessageBytes)], { env: { LOG_LEVEL: 'silent' } });
      url = server.url;
    }
    const ckpt = await loadGpt2FromDir(dir);
    const g = buildModelGraph(ckpt.config);
    const r = new Rng(o.seed);
    const t: Tally = { sent: 0, acked: 0, answered: 0, unanswered: 0, withoutAck: 0, replies: new Map(), byKind: new Map(), failures: [], oversizedSent: 0, oversizedClosed: 0, rapid: 0, opened: 0, refused: 0 };

    // memory and liveness, sampled throughout
    const rss: number[] = [];
    let healthChecks = 0, sampling = true;
    const sample = async (): Promise<void> => {
      const st = await getJson<{ rssBytes: number }>(`${url}/api/stats`);
      rss.push(st.rssBytes);
      const h = await getJson<{ ok: boolean }>(`${url}/api/health`);
      if (!h.ok) throw new Error('health says not ok');
      healthChecks++;
    };
    await sample();
    const sampler = (async () => {
      while (sampling) {
        await new Promise((res) => setTimeout(res, 250));
        try {
          await sample();
        } catch (e) {
          if (t.failures.length < 50) t.failures.push(`the server stopped answering /api/health or /api/stats: ${(e as Error).message}`);
        }
      }
    })();

    // the bystander: a real edge generating throughout must get the reference answer
    const prompt = [464, 5044, 290, 262, 6279];
    const reference = await referenceTokens(url, prompt, 100);
    const bystander = await connectRemoteEdge({ server: url, plan: 'half', checkpoint: { ckpt }, probeEveryMs: 0, fallback: 'wait', backoff: { initialMs: 50, maxAttempts: 10 } });
    const bystanderTokens: number[] = [];
    const deadline = t0 + o.seconds * 1000;
    const budget = (): boolean => t.sent < o.messages && performance.now() < deadline;
    const bystanderRun = (async () => {
      do {
        bystanderTokens.length = 0;
        for await (const tok of generate(bystander.recovering, prompt, { maxNewTokens: 100 })) bystanderTokens.push(tok.id);
        if (bystanderTokens.join() !== reference.join()) break;
      } while (budget());
    })();

    const sessions: string[] = [];
    let lastLog = performance.now();
    await Promise.all(
      Array.from({ length: o.clients }, async (_, k) => {
        const rk = new Rng(o.seed * 1000 + k);
        while (budget()) {
          await fuzzConnection(url, g, rk, t, budget, sessions, o.maxMessageBytes);
          if (k === 0 && performance.now() - lastLog > 5000) {
            lastLog = performance.now();
            log(`fuzz: ${t.sent} messages, ${t.opened} connections, rss ${(rss.at(-1)! / 2 ** 20).toFixed(0)} MiB`);
          }
        }
      }),
    );
    await bystanderRun;
    const matches = bystanderTokens.join() === reference.join();
    if (!matches) t.failures.push(`the bystander's answer differs from the reference: ${bystanderTokens.slice(0, 20).join(',')} vs ${reference.slice(0, 20).join(',')}`);
    await bystander.close();

    // every session is freed once its connection is gone
    let stats = await getJson<{ totals: { sessions: number; sessionsOpened: number; sessionsClosed: number; errors: Record<string, number> }; rssBytes: number }>(`${url}/api/stats`);
    for (let i = 0; i < 50 && stats.totals.sessions > 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      stats = await getJson(`${url}/api/stats`);
    }
    if (stats.totals.sessions !== 0) t.failures.push(`${stats.totals.sessions} sessions still open after every client left`);
    sampling = false;
    await sampler;
    await sample();
    const seconds = (performance.now() - t0) / 1000;
    const mib = (b: number): number => +(b / 2 ** 20).toFixed(1);
    const start = rss[0]!, peak = Math.max(...rss), end = rss.at(-1)!;
    if (peak - start > o.rssBudget) t.failures.push(`server RSS grew by ${mib(peak - start)} MiB (budget ${mib(o.rssBudget)} MiB)`);
    if (t.oversizedSent > 0 && t.oversizedClosed !== t.oversizedSent) t.failures.push(`${t.oversizedSent - t.oversizedClosed} oversized messages did not close their connection`);
    if (t.unanswered > 0 && t.failures.every((f) => !f.includes('no answer'))) t.failures.push(`${t.unanswered} acknowledged messages got no answer`);
    return {
      ok: t.failures.length === 0,
      failures: t.failures,
      seconds: +seconds.toFixed(1),
      messages: { sent: t.sent, acked: t.acked, answered: t.answered, unanswered: t.unanswered, withoutAck: t.withoutAck, perSecond: Math.round(t.sent / seconds) },
      replies: Object.fromEntries([...t.replies].sort((a, b) => b[1] - a[1])),
      byKind: Object.fromEntries([...t.byKind].sort((a, b) => b[1] - a[1])),
      connections: { opened: t.opened, rapid: t.rapid, oversizedSent: t.oversizedSent, oversizedClosed: t.oversizedClosed, refused: t.refused },
      server: {
        rssStartMiB: mib(start),
        rssPeakMiB: mib(peak),
        rssEndMiB: mib(end),
        healthChecks,
        sessionsAtEnd: stats.totals.sessions,
        sessionsOpened: stats.totals.sessionsOpened,
        sessionsClosed: stats.totals.sessionsClosed,
        errors: stats.totals.errors,
      },
      bystander: { tokens: bystanderTokens.length, matchesReference: matches },
    };
  } finally {
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      long: { type: 'boolean', default: false },
      messages: { type: 'string' },
      seconds: { type: 'string' },
      clients: { type: 'string' },
      seed: { type: 'string' },
      url: { type: 'string' },
    },
  });
  const base = a.long ? LONG : SHORT;
  const o: FuzzOptions = {
    ...base,
    ...(a.messages ? { messages: Number(a.messages) } : {}),
    ...(a.seconds ? { seconds: Number(a.seconds) } : {}),
    ...(a.clients ? { clients: Number(a.clients) } : {}),
    ...(a.seed ? { seed: Number(a.seed) } : {}),
    ...(a.url ? { url: a.url } : {}),
  };
  const report = await runFuzz(o);
  console.log(JSON.stringify(report, null, 2));
  if (!report.ok) {
    console.error(`fuzz: FAILED\n  ${report.failures.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.error(`fuzz: ok: ${report.messages.sent} messages in ${report.seconds} s, server RSS ${report.server.rssStartMiB} -> peak ${report.server.rssPeakMiB} -> ${report.server.rssEndMiB} MiB`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
