// The messages of protocol version 3 and their schemas. Every message crossing the boundary is
// parsed here first: a malformed one becomes a ProtocolError('malformed'), never an exception deep
// in the executor. Tensors are WireTensors whose bytes socket.io sends as binary attachments.
import { z } from 'zod';
// Plans are passed through as received: the CloudExecutor validates them against its own model.
import { FAMILIES, QUANT_ACTIVATIONS, WEIGHT_PRECISIONS, WIRE_PRECISIONS, type CloudReply, type CloudRequest, type ModelGraph, type PartitionPlan, type WirePrecision } from '@splitwise/core';
import { ProtocolError, type WireError } from './errors.ts';
import { decodeRows, encodeRows, type WireTensor } from './wire-codec.ts';

// 2: hello names the model family and its KV heads (LLaMA), plans may place KV groups.
// 3: API cloud-only: `tokens` requests (token ids up, logits down), a reset that replays ids.
export const PROTOCOL_VERSION = 3;
/**
 * Versions a server accepts at hello. Version 3 only adds messages, so a version-2 edge (a page
 * cached from before an upgrade) still speaks a subset the server understands.
 */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [2, 3];

// Node's socket.io hands binary over as Buffer (a Uint8Array); browsers as ArrayBuffer.
const Binary = z
  .custom<Uint8Array | ArrayBuffer>((v) => v instanceof Uint8Array || v instanceof ArrayBuffer, 'expected binary data')
  .transform((b): Uint8Array => (b instanceof Uint8Array ? b : new Uint8Array(b)));
const Int = z.number().int().nonnegative();

export const WireTensorSchema = z.strictObject({
  dtype: z.enum(WIRE_PRECISIONS),
  rows: Int,
  cols: z.number().int().positive(),
  data: Binary,
  scales: Binary.optional(),
});

/**
 * Token ids as a binary attachment of little-endian int32 (4 bytes a token). The dtype is named so
 * that a client sending another one hears which it must use.
 */
export const WireTokenIdsSchema = z.strictObject({ dtype: z.string().max(16), data: Binary });
export interface WireTokenIds {
  dtype: 'int32';
  data: Uint8Array;
}

export function encodeTokenIds(ids: readonly number[]): WireTokenIds {
  const a = Int32Array.from(ids);
  return { dtype: 'int32', data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) };
}

/** Decode token ids (range against the vocabulary is the executor's check). */
export function decodeTokenIds(t: { dtype: string; data: Uint8Array }, expectCount?: number): number[] {
  if (t.dtype !== 'int32') throw new ProtocolError('bad_tensor', `token ids must be int32, got ${JSON.stringify(t.dtype.slice(0, 16))}`);
  if (t.data.byteLength % 4 !== 0) throw new ProtocolError('bad_tensor', `int32 token ids need a multiple of 4 bytes, got ${t.data.byteLength}`);
  const ids = Array.from(new Int32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength) as ArrayBuffer));
  if (expectCount !== undefined && ids.length !== expectCount) throw new ProtocolError('bad_tensor', `expected ${expectCount} token ids, got ${ids.length}`);
  return ids;
}

const Rows = z.strictObject({ layer: Int, x: WireTensorSchema });
/** Row counts of the edge's forward passes, for a KV rebuild (the executor checks they sum to length). */
const Groups = z.array(z.number().int().positive()).max(1 << 16);

export const HelloSchema = z.strictObject({
  protocol: z.number().int(),
  /** What the edge believes the model is: the server refuses a mismatch (see modelDescriptor). */
  model: z.strictObject({ family: z.enum(FAMILIES), nLayer: Int, nHead: Int, nKvHead: Int, nEmbd: Int, vocabSize: Int, ffnChunks: Int }),
  token: z.string().max(512).optional(),
  /** Which of the server's models (GET /api/models); absent: its default. */
  modelId: z.string().max(64).optional(),
  /**
   * The weight precision the cloud's share of this session runs at (each side picks its own; the
   * server quantizes its checkpoint on the first session that asks). Absent: the model's own
   * (fp32, or what a quantized model folder holds).
   */
  weights: z.enum(WEIGHT_PRECISIONS).optional(),
  /** What the cloud's quantized products compute in (QuantActivations). Absent: fp32. */
  activations: z.enum(QUANT_ACTIVATIONS).optional(),
});
export type Hello = z.infer<typeof HelloSchema>;

/** The model as hello describes it: both sides compute this from their own graph and compare. */
export function modelDescriptor(graph: ModelGraph): Hello['model'] {
  const c = graph.config;
  return { family: c.family, nLayer: c.nLayer, nHead: c.nHead, nKvHead: c.nKvHead, nEmbd: c.nEmbd, vocabSize: c.vocabSize, ffnChunks: graph.ffnChunks };
}

export interface ServerLimits {
  /** Most positions a session may hold (the model's context). */
  maxContext: number;
  /** Largest message, bytes. */
  maxMessageBytes: number;
  /** Requests per second per connection. */
  maxRequestsPerSecond: number;
}

export type HelloReply = { ok: true; session: string; limits: ServerLimits; worker: string } | { ok: false; error: WireError };

export const WireRequestSchema = z.discriminatedUnion('type', [
  z.strictObject({
    session: z.string().max(64),
    type: z.literal('reset'),
    plan: z.unknown(),
    length: Int.optional(),
    rebuild: z.array(Rows).max(4096).optional(),
    groups: Groups.optional(),
    /** API cloud-only: the `length` token ids so far, replayed in `groups`. */
    ids: WireTokenIdsSchema.optional(),
  }),
  z.strictObject({ session: z.string().max(64), type: z.literal('plan'), plan: z.unknown(), length: Int, rebuild: z.array(Rows).max(4096), groups: Groups.optional() }),
  z.strictObject({
    session: z.string().max(64),
    type: z.literal('segment'),
    seq: Int,
    start: Int,
    count: z.number().int().positive(),
    from: Int,
    to: Int,
    x: WireTensorSchema,
  }),
  /** API cloud-only: token ids at [start, start + count); the reply carries logits (topK > 0: the K largest). */
  z.strictObject({ session: z.string().max(64), type: z.literal('tokens'), seq: Int, start: Int, ids: WireTokenIdsSchema, topK: Int.optional() }),
]);
export type WireRequest = z.input<typeof WireRequestSchema>;

export const WireReplySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ok') }),
  z.strictObject({
    type: z.literal('segment'),
    seq: Int,
    x: WireTensorSchema,
    partial: WireTensorSchema.optional(),
    checkpoints: z.array(Rows),
    /** Milliseconds the cloud computed: lets the edge tell network time from compute time. */
    computeMs: z.number().nonnegative(),
  }),
  z.strictObject({
    type: z.literal('logits'),
    seq: Int,
    /** One row at fp32 whatever the link's precision: the sampler's input stays exact. */
    values: WireTensorSchema,
    /** With topK: whose logits `values` are, largest first. */
    ids: WireTokenIdsSchema.optional(),
    computeMs: z.number().nonnegative(),
  }),
  z.strictObject({ type: z.literal('error'), error: z.strictObject({ code: z.string(), message: z.string() }) }),
]);
export type WireReply = z.input<typeof WireReplySchema>;

export const ProbeSchema = z.strictObject({
  t: z.number(),
  pad: Binary.optional(),
  /**
   * Whether this session prices the delay its requests add to the others' (a congestion toll, as
   * the page's Policy mode does). The server counts its requests from then on as priced, and
   * reports the share (CloudLoadReport.pricingShare). Absent: as the session last said (at first, no).
   */
  pricing: z.boolean().optional(),
});
export type Probe = z.input<typeof ProbeSchema>;
/**
 * The server's load, as a probe's reply reports it (issue 10: one cloud serves many edges, and its
 * service time grows with its load), over the last `windowMs`: the share of it in which the server
 * had cloud requests in hand, from any session (`all`) and from sessions other than the asking one
 * (`others`); and the mean number of other sessions' requests in hand (`concurrency`). The server
 * shares its compute between the requests it holds, so this edge's cloud work takes about
 * 1 + concurrency times as long (measured: docs/contention-measured.md).
 */
export const CloudLoadReportSchema = z.strictObject({
  others: z.number().min(0).max(1),
  all: z.number().min(0).max(1),
  concurrency: z.number().nonnegative(),
  /** Sessions with requests in the window (the asking one included when it had any). */
  sessions: z.number().int().nonnegative(),
  windowMs: z.number().positive(),
  /**
   * Whether the asking session's whole layers are served with continuous batching (one run serves
   * the one-row steps of several sessions, so the others slow it far less than 1 + concurrency).
   * false: its calls run on their own (batching off, or a session at quantized weights), and a
   * request meets about 1 + concurrency. Absent from servers before this field, and from reports
   * for no session in particular.
   */
  batching: z.boolean().optional(),
  /**
   * How much each request the others hold slows the asking session's, as the server measures it:
   * a request meets about 1 + contention x concurrency. 1 for calls that run on their own; for a
   * batched session, from the batcher's recent run times: what each extra row costs a batched run
   * as a share of a run of one row, plus each step's share of the prompts, which run alone.
   * Absent from servers before this field, for no session in particular, and while no batch of
   * two rows has run lately; the edge then prices with the last factor it heard, or 1.
   */
  contention: z.number().min(0).max(1).optional(),
  /**
   * The share of `concurrency` held by sessions that said they price congestion (ProbeSchema
   * `pricing`); 0 with no other load. The page's toll is in proportion to it: restraint pays its
   * payer back only through the others' (docs/POLICY.md section 12). Absent from older servers.
   */
  pricingShare: z.number().min(0).max(1).optional(),
});
export type CloudLoadReport = z.output<typeof CloudLoadReportSchema>;

export interface ProbeReply {
  t: number;
  serverTime: number;
  /** Servers before this field existed send none. */
  load?: CloudLoadReport;
}

/** socket.io event maps, shared by the server and every client. */
export interface ClientToServerEvents {
  hello(msg: Hello, ack: (r: HelloReply) => void): void;
  cloud(msg: WireRequest, ack: (r: WireReply) => void): void;
  probe(msg: Probe, ack: (r: ProbeReply) => void): void;
}
export type ServerToClientEvents = Record<string, never>;

export function parse<T extends z.ZodType>(schema: T, msg: unknown, what: string): z.output<T> {
  const r = schema.safeParse(msg);
  if (!r.success) {
    const why = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ProtocolError('malformed', `malformed ${what}: ${why}`);
  }
  return r.data;
}

// ---------------------------------------------------------------- CloudRequest <-> wire

export function requestToWire(req: CloudRequest, session: string, precision: WirePrecision, E: number): WireRequest {
  switch (req.type) {
    case 'reset':
      return {
        session,
        type: 'reset',
        plan: req.plan,
        ...(req.length
          ? {
              length: req.length,
              ...(req.ids ? { ids: encodeTokenIds(req.ids) } : { rebuild: (req.rebuild ?? []).map((r) => ({ layer: r.layer, x: encodeRows(r.x, E, 'fp32') })) }),
              ...(req.groups ? { groups: req.groups } : {}),
            }
          : {}),
      };
    case 'plan':
      // checkpoints rebuild KV caches: always exact
      return { session, type: 'plan', plan: req.plan, length: req.length, rebuild: req.rebuild.map((r) => ({ layer: r.layer, x: encodeRows(r.x, E, 'fp32') })), ...(req.groups ? { groups: req.groups } : {}) };
    case 'segment':
      // the edge checkpointed x as rounded at req.precision: it must travel at that precision
      return { session, type: 'segment', seq: req.seq, start: req.start, count: req.count, from: req.from, to: req.to, x: encodeRows(req.x, E, req.precision ?? precision) };
    case 'tokens':
      return { session, type: 'tokens', seq: req.seq, start: req.start, ids: encodeTokenIds(req.ids), ...(req.topK ? { topK: req.topK } : {}) };
  }
}

/** Parse and decode a request; tensor shapes are checked against what the request says. */
export function requestFromWire(msg: unknown, E: number): { session: string; req: CloudRequest; precision: WirePrecision } {
  const w = parse(WireRequestSchema, msg, 'request');
  switch (w.type) {
    case 'reset': {
      const length = w.length ?? 0;
      const rebuild = (w.rebuild ?? []).map((r) => ({ layer: r.layer, x: decodeRows(r.x, { rows: length, cols: E }) }));
      const ids = w.ids ? { ids: decodeTokenIds(w.ids, length) } : {};
      return { session: w.session, precision: 'fp32', req: { type: 'reset', plan: w.plan as PartitionPlan, length, rebuild, ...(w.groups ? { groups: w.groups } : {}), ...ids } };
    }
    case 'plan':
      return {
        session: w.session,
        precision: 'fp32',
        req: {
          type: 'plan',
          plan: w.plan as PartitionPlan,
          length: w.length,
          rebuild: w.rebuild.map((r) => ({ layer: r.layer, x: decodeRows(r.x, { rows: w.length, cols: E }) })),
          ...(w.groups ? { groups: w.groups } : {}),
        },
      };
    case 'segment':
      return {
        session: w.session,
        precision: w.x.dtype,
        req: { type: 'segment', seq: w.seq, start: w.start, count: w.count, from: w.from, to: w.to, x: decodeRows(w.x, { rows: w.count, cols: E }), precision: w.x.dtype },
      };
    case 'tokens':
      return { session: w.session, precision: 'fp32', req: { type: 'tokens', seq: w.seq, start: w.start, ids: decodeTokenIds(w.ids), ...(w.topK !== undefined ? { topK: w.topK } : {}) } };
  }
}

export function replyToWire(reply: CloudReply, precision: WirePrecision, E: number, computeMs = 0): WireReply {
  if (reply.type === 'ok') return { type: 'ok' };
  if (reply.type === 'logits') {
    return { type: 'logits', seq: reply.seq, values: encodeRows(reply.values, reply.values.length, 'fp32'), ...(reply.ids ? { ids: encodeTokenIds(reply.ids) } : {}), computeMs };
  }
  return {
    type: 'segment',
    seq: reply.seq,
    x: encodeRows(reply.x, E, precision),
    ...(reply.partial ? { partial: encodeRows(reply.partial, E, precision) } : {}),
    checkpoints: reply.checkpoints.map((c) => ({ layer: c.layer, x: encodeRows(c.x, E, precision) })),
    computeMs,
  };
}

/** Parse and decode a reply; an error reply becomes a thrown ProtocolError. */
export function replyFromWire(msg: unknown, E: number, rows: number): { reply: CloudReply; computeMs: number } {
  const w = parse(WireReplySchema, msg, 'reply');
  switch (w.type) {
    case 'ok':
      return { reply: { type: 'ok' }, computeMs: 0 };
    case 'error':
      throw new ProtocolError(w.error.code, w.error.message);
    case 'logits':
      return { computeMs: w.computeMs, reply: { type: 'logits', seq: w.seq, values: decodeRows(w.values, { rows: 1 }), ...(w.ids ? { ids: decodeTokenIds(w.ids, w.values.cols) } : {}) } };
    case 'segment':
      return {
        computeMs: w.computeMs,
        reply: {
          type: 'segment',
          seq: w.seq,
          x: decodeRows(w.x, { rows, cols: E }),
          ...(w.partial ? { partial: decodeRows(w.partial, { rows, cols: E }) } : {}),
          checkpoints: w.checkpoints.map((c) => ({ layer: c.layer, x: decodeRows(c.x, { rows, cols: E }) })),
        },
      };
  }
}
