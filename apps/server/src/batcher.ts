// Continuous batching on the cloud: the one-row decode steps of different sessions that run the
// same whole layer are merged into one set of onnxruntime runs (docs/ARCHITECTURE.md, "Continuous
// batching on the cloud").
//
// A batch of B rows (one per session, each with its own KV cache and length) runs layer l as three
// runs of onnx-graphs' batched layer graphs (batched-layer.ts): front(l) over the B rows (norm and
// query projection, constant prepacked weights), core(B) (per row: the key and value projection
// exactly as a KV rebuild makes it, RoPE, attention over that row's own cache), back(l) over the B
// rows (output projection, residuals, norm and FFN, constant prepacked weights). The
// weight-heavy parts are read once per batch, a row's answer does not depend on who it was
// batched with, and its keys and values are bit for bit those a rebuild from the checkpoint makes.
// Steps of several rows (a prompt) run alone through the weightless `block` graph.
//
// Scheduling is a sweep over the layers (an elevator): the batcher serves the lowest layer at or
// above its position that has waiting steps, all of them that were waiting when it got there (in
// arrival order, at most maxBatch rows a run), then moves up; past the top it starts again from
// the lowest. Sessions that move through the layers together stay in one batch, a newcomer joins
// them at the next sweep, and no one-row step waits for more than (nLayer + 1) x
// ceil(sessions / maxBatch) runs. When a sweep starts, it waits up to maxWaitMs for the sessions
// it served at that layer last time and that have not come back yet (their edges are between
// tokens), so that they are not split into two groups that then alternate.
import {
  ExecutorStateError,
  f32,
  familyOf,
  RuntimeError,
  TensorShapeError,
  type Checkpoint,
  type Feeds,
  type ModelGraph,
  type RuntimeAdapter,
  type RuntimeSession,
  type SplitSessions,
  type TensorLike,
  type WeightBinding,
  type WholeLayerRunner,
} from '@splitwise/core';
import { batchedLayerGraphs, rowValue, type BatchedLayerGraphs } from '@splitwise/runtime-node';

/** The window of runs `sharingCost` reads: the load meter's (load-meter.ts), so the two describe the same seconds. */
const SHARING_WINDOW_MS = 5000;
/** Runs of one row whose median is a lone run's cost. */
const LONE_RUNS = 33;
/** Timed runs kept at most, whatever the run rate (the oldest go first). */
const MAX_RUNS = 4096;

/** A run the batcher timed: rows, milliseconds, and whether it was a prompt (run alone). */
export interface TimedRun {
  rows: number;
  ms: number;
  prompt: boolean;
}

export interface SharingCost {
  /** What each extra row costs a batched run, over a run of one row; undefined without a run of two rows. */
  rowCost?: number;
  /** The prompts' time per one-row step, over a run of one row (0 without prompts). */
  promptShare: number;
  /** rowCost + promptShare, at most 1; undefined with rowCost. */
  contention?: number;
}

/**
 * What sharing the batcher costs a session, from runs it timed and the time of a run of one row
 * (`lone`, ms). rowCost is the slope gamma of T(B) = T(1) (1 + gamma (B - 1)), fitted through T(1)
 * by least squares over the batches of two or more rows, clamped to [0, 1]: a session that shares
 * its runs with k others waits 1 + gamma k as long for each step. Prompts run alone, so every
 * session's prompts delay the others' steps; promptShare is their time per one-row step. Each
 * other session then slows a batched session's step by about contention = gamma + promptShare
 * (at most 1). Calls outside the batcher (layers split by units, quantized sessions) and the
 * server's own work per request are not in it.
 */
export function sharingCost(runs: readonly TimedRun[], lone: number): SharingCost {
  let xy = 0, xx = 0, promptMs = 0, rows = 0;
  for (const r of runs) {
    if (r.prompt) {
      promptMs += r.ms;
      continue;
    }
    rows += r.rows;
    if (r.rows < 2) continue;
    xy += (r.ms / lone - 1) * (r.rows - 1);
    xx += (r.rows - 1) ** 2;
  }
  const promptShare = rows > 0 ? promptMs / (rows * lone) : 0;
  if (xx === 0) return { promptShare };
  const rowCost = Math.min(1, Math.max(0, xy / xx));
  return { rowCost, promptShare, contention: Math.min(1, rowCost + promptShare) };
}

export interface BatchingOptions {
  /** Most one-row steps (sessions) one run takes. @defaultValue 16 */
  maxBatch?: number;
  /** How long a new sweep waits for the sessions it served last time. @defaultValue 2 */
  maxWaitMs?: number;
}

export interface BatcherStats {
  /** Runs made: batches of one-row steps, and prompts run alone. */
  runs: number;
  /** One-row steps run, and the batches (runs of one-row steps) that carried them. */
  rows: number;
  batches: number;
  /** Mean rows per batch. */
  meanBatch: number;
  /** Batches by their number of rows. */
  sizes: Record<string, number>;
  /** Multi-row steps (prompts), each run alone. */
  prompts: number;
  sweeps: number;
  /** The most runs any step waited for after it was queued: at most (nLayer + 1) x ceil(sessions / maxBatch) for one-row steps, plus one per prompt run meanwhile. */
  maxWaitedRuns: number;
  /** Time sweeps spent waiting for sessions to come back, and how often they waited. */
  waits: number;
  waitedMs: number;
  /** Batches whose run failed and were run again row by row (each row then failed or not on its own). */
  splitAfterFailure: number;
  /** Over the last 5 s (`sharingCost`): what each extra row cost a batched run, as a share of a run of one row (`rowCost`); the prompts' time per one-row step in the same unit (`promptShare`); and their sum, at most 1, the contention factor batched sessions are told (`contention`). Absent before they are known. */
  rowCost?: number;
  promptShare?: number;
  contention?: number;
  /** Milliseconds spent in each kind of run: the batched graphs' three stages, and prompts. */
  ms: { front: number; core: number; back: number; prompt: number };
  /** Steps queued now, and live lanes (sessions). */
  queued: number;
  lanes: number;
  maxBatch: number;
  maxWaitMs: number;
}

interface Step {
  lane: BatchLane;
  layer: number;
  feeds: Record<string, TensorLike>;
  rows: number;
  /** Arrival order. */
  seq: number;
  runsAtArrival: number;
  resolve: (r: Record<string, TensorLike>) => void;
  reject: (e: unknown) => void;
}

type Next = { type: 'run'; layer: number; steps: Step[] } | { type: 'wait'; expected: Set<BatchLane> } | undefined;

const output = (r: Record<string, TensorLike>, name: string): Float32Array => {
  const t = r[name];
  if (!t || t.dtype !== 'float32') throw new RuntimeError(`batched graph output "${name}" is missing or not float32`);
  return t.data;
};

/** One session's way into the batcher: the cloud executor's WholeLayerRunner. */
export class BatchLane implements WholeLayerRunner {
  /** Steps of this lane queued now (0 or 1: a session's requests run one at a time). */
  queued = 0;
  closed = false;

  constructor(private readonly batcher: LayerBatcher) {}

  layer(l: number, feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
    return this.batcher.enqueue(this, l, feeds);
  }

  /** The session ended: its queued steps are refused, and no sweep waits for it. */
  close(): void {
    this.batcher.closeLane(this);
  }
}

export interface LayerBatcherParts {
  ckpt: Checkpoint;
  graph: ModelGraph;
  runtime: RuntimeAdapter;
  /** The model's shared sessions (their weightless `block` graph runs prompts). */
  sessions: SplitSessions;
}

export class LayerBatcher {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  private readonly binding: WeightBinding;
  private readonly E: number;
  private readonly nLayer: number;
  private readonly queues = new Map<number, Step[]>();
  private readonly lanes = new Set<BatchLane>();
  private readonly graphs: BatchedLayerGraphs;
  /** Sessions: front and back per layer (constant weights), core per row count (weight inputs). */
  private readonly sessionsOf = { front: new Map<number, Promise<RuntimeSession>>(), back: new Map<number, Promise<RuntimeSession>>(), core: new Map<number, Promise<RuntimeSession>>() };
  private readonly coreWeights = new Map<number, Feeds>();
  private readonly blockWeights = new Map<number, Feeds>();
  private nextSeq = 0;
  private queuedSteps = 0;
  private pumping = false;
  private closed = false;
  /** The layer being served and the arrivals it serves there (seq below upTo). */
  private visit?: { layer: number; upTo: number };
  /** Where the sweep goes on from when the visit ends. */
  private sweepFrom = 0;
  /** Lanes served at each layer in this sweep. */
  private served = new Map<number, Set<BatchLane>>();
  /** This sweep's start has waited already. */
  private waited = false;
  /** Wakes a waiting sweep when a step arrives or a lane closes. */
  private arrival?: () => void;
  private readonly counts = { runs: 0, rows: 0, batches: 0, prompts: 0, sweeps: 0, maxWaitedRuns: 0, waits: 0, waitedMs: 0, splitAfterFailure: 0 };
  private readonly sizes: Record<string, number> = {};
  private readonly ms = { front: 0, core: 0, back: 0, prompt: 0 };
  /** Decode and prompt runs of the last SHARING_WINDOW_MS (what `sharingCost` reads). */
  private recentRuns: Array<TimedRun & { at: number }> = [];
  /** The last LONE_RUNS runs of one row, ms: a step's cost when nobody shares its run. */
  private loneRuns: number[] = [];

  constructor(
    private readonly parts: LayerBatcherParts,
    o: BatchingOptions = {},
  ) {
    this.maxBatch = o.maxBatch ?? 16;
    this.maxWaitMs = o.maxWaitMs ?? 2;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1 || this.maxBatch > 256) throw new RangeError(`maxBatch must be a whole number in [1, 256], got ${this.maxBatch}`);
    if (!Number.isFinite(this.maxWaitMs) || this.maxWaitMs < 0 || this.maxWaitMs > 1000) throw new RangeError(`maxWaitMs must be in [0, 1000] ms, got ${this.maxWaitMs}`);
    const c = parts.ckpt.config;
    this.binding = familyOf(c).bind(parts.ckpt as never, parts.graph);
    this.graphs = batchedLayerGraphs(parts.ckpt, parts.graph);
    this.E = c.nEmbd;
    this.nLayer = c.nLayer;
  }

  /** Why this model's layers cannot be batched (its weights are not float32, e.g. quantized), or undefined. */
  static unsupported(ckpt: Checkpoint, graph: ModelGraph): string | undefined {
    try {
      const g = batchedLayerGraphs(ckpt, graph);
      g.coreWeights(0);
      g.front(0);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** A lane for one session. */
  lane(): BatchLane {
    if (this.closed) throw new RuntimeError('the batcher is closed');
    const lane = new BatchLane(this);
    this.lanes.add(lane);
    return lane;
  }

  /** Build every layer's front and back graphs and the core of every size a batch is cut into now, so no answer waits for them. */
  async warm(): Promise<void> {
    for (let rows = 1; rows <= this.maxBatch; rows *= 2) await this.session('core', rows);
    for (let l = 0; l < this.nLayer; l++) {
      await this.session('front', l);
      await this.session('back', l);
    }
  }

  stats(): BatcherStats {
    const sharing = this.sharing();
    return {
      ...(sharing?.contention !== undefined ? { rowCost: sharing.rowCost!, promptShare: sharing.promptShare, contention: sharing.contention } : {}),
      ...this.counts,
      meanBatch: this.counts.batches > 0 ? this.counts.rows / this.counts.batches : 0,
      sizes: { ...this.sizes },
      ms: { ...this.ms },
      queued: this.queuedSteps,
      lanes: this.lanes.size,
      maxBatch: this.maxBatch,
      maxWaitMs: this.maxWaitMs,
    };
  }

  /** How much each other session's request slows a batched session's, over the last 5 s (`sharingCost`); undefined until known. */
  contention(): number | undefined {
    return this.sharing()?.contention;
  }

  private sharing(): SharingCost | undefined {
    const lone = this.loneMs();
    return lone === undefined ? undefined : sharingCost(this.recentRuns, lone);
  }

  /** The median of the last runs of one row, ms; undefined before one. */
  private loneMs(): number | undefined {
    this.pruneRuns();
    if (this.loneRuns.length === 0) return undefined;
    const lone = [...this.loneRuns].sort((a, b) => a - b)[this.loneRuns.length >> 1]!;
    return lone > 0 ? lone : undefined;
  }

  private noteRun(rows: number, ms: number, prompt = false): void {
    this.recentRuns.push({ at: performance.now(), rows, ms, prompt });
    if (rows === 1 && !prompt) {
      this.loneRuns.push(ms);
      if (this.loneRuns.length > LONE_RUNS) this.loneRuns.shift();
    }
    // pruned in bulk, at twice the cap, so that a run costs O(1) however fast runs come
    if (this.recentRuns.length > 2 * MAX_RUNS) this.pruneRuns();
  }

  private pruneRuns(): void {
    const since = performance.now() - SHARING_WINDOW_MS;
    if (this.recentRuns.length && this.recentRuns[0]!.at < since) this.recentRuns = this.recentRuns.filter((r) => r.at >= since);
    if (this.recentRuns.length > MAX_RUNS) this.recentRuns = this.recentRuns.slice(-MAX_RUNS);
  }

  enqueue(lane: BatchLane, layer: number, feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
    if (this.closed) return Promise.reject(new RuntimeError('the batcher is closed'));
    if (lane.closed) return Promise.reject(new ExecutorStateError('the session has ended'));
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.nLayer) return Promise.reject(new ExecutorStateError(`layer ${layer} is not within [0, ${this.nLayer})`));
    const x = feeds.x;
    if (!x || x.dtype !== 'float32' || x.dims.length !== 2 || x.dims[1] !== this.E || x.dims[0]! < 1 || x.data.length !== x.dims[0]! * this.E) {
      return Promise.reject(new TensorShapeError(`a whole-layer step needs x of [rows, ${this.E}] float32`));
    }
    return new Promise((resolve, reject) => {
      const step: Step = { lane, layer, feeds, rows: x.dims[0]!, seq: this.nextSeq++, runsAtArrival: this.counts.runs, resolve, reject };
      let q = this.queues.get(layer);
      if (!q) this.queues.set(layer, (q = []));
      q.push(step);
      lane.queued++;
      this.queuedSteps++;
      this.kick();
    });
  }

  closeLane(lane: BatchLane): void {
    if (lane.closed) return;
    lane.closed = true;
    this.lanes.delete(lane);
    for (const q of this.queues.values()) {
      for (let i = q.length - 1; i >= 0; i--) {
        if (q[i]!.lane !== lane) continue;
        const [s] = q.splice(i, 1);
        this.dequeued(s!);
        s!.reject(new ExecutorStateError('the session has ended'));
      }
    }
    this.arrival?.();
  }

  /** Refuse every queued step; runs already started finish. */
  close(): void {
    this.closed = true;
    for (const lane of [...this.lanes]) this.closeLane(lane);
  }

  async release(): Promise<void> {
    this.close();
    const all = await Promise.allSettled(Object.values(this.sessionsOf).flatMap((m) => [...m.values()]));
    await Promise.all(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.release()] : [])));
  }

  private dequeued(s: Step): void {
    s.lane.queued--;
    this.queuedSteps--;
  }

  private kick(): void {
    this.arrival?.();
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => void this.pump());
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const next = this.next();
        if (!next) return;
        if (next.type === 'wait') await this.waitFor(next.expected);
        else await this.run(next.layer, next.steps);
        // let the sessions just served queue their next layer (microtasks) and sockets be read
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.pumping = false;
      if (this.queuedSteps > 0 && !this.closed) this.kick();
    }
  }

  /** The steps at `layer` that arrived before the visit began. */
  private waitingAt(layer: number, upTo: number): Step[] {
    return (this.queues.get(layer) ?? []).filter((s) => s.seq < upTo);
  }

  /** A run from the steps waiting at one layer: a prompt alone, or up to maxBatch one-row steps. */
  private form(steps: Step[]): Step[] {
    if (steps[0]!.rows > 1) return [steps[0]!];
    return steps.filter((s) => s.rows === 1).slice(0, this.maxBatch);
  }

  private next(): Next {
    if (this.visit) {
      const left = this.waitingAt(this.visit.layer, this.visit.upTo);
      if (left.length > 0) return { type: 'run', layer: this.visit.layer, steps: this.form(left) };
      this.sweepFrom = this.visit.layer + 1;
      this.visit = undefined;
    }
    const layers = [...this.queues].filter(([, q]) => q.length > 0).map(([l]) => l).sort((a, b) => a - b);
    if (layers.length === 0) return undefined;
    let layer = layers.find((l) => l >= this.sweepFrom);
    if (layer === undefined) {
      // past the top: a new sweep from the lowest layer anyone waits at
      layer = layers[0]!;
      if (!this.waited && this.maxWaitMs > 0 && this.queues.get(layer)!.length < this.maxBatch) {
        const expected = new Set([...(this.served.get(layer) ?? [])].filter((lane) => !lane.closed && lane.queued === 0));
        if (expected.size > 0) return { type: 'wait', expected };
      }
      this.served = new Map();
      this.waited = false;
      this.counts.sweeps++;
    }
    this.visit = { layer, upTo: this.nextSeq };
    return { type: 'run', layer, steps: this.form(this.waitingAt(layer, this.visit.upTo)) };
  }

  private async waitFor(expected: Set<BatchLane>): Promise<void> {
    const t0 = performance.now();
    this.counts.waits++;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.arrival = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.maxWaitMs);
      this.arrival = () => {
        if ([...expected].every((lane) => lane.closed || lane.queued > 0)) done();
      };
    });
    this.waited = true;
    this.counts.waitedMs += performance.now() - t0;
  }

  private async run(layer: number, steps: Step[]): Promise<void> {
    const q = this.queues.get(layer)!;
    for (const s of steps) {
      q.splice(q.indexOf(s), 1);
      this.dequeued(s);
      this.counts.maxWaitedRuns = Math.max(this.counts.maxWaitedRuns, this.counts.runs - s.runsAtArrival);
      let lanes = this.served.get(layer);
      if (!lanes) this.served.set(layer, (lanes = new Set()));
      lanes.add(s.lane);
    }
    this.counts.runs++;
    if (steps[0]!.rows > 1) {
      this.counts.prompts++;
      try {
        const t0 = performance.now();
        const out = await this.prompt(layer, steps[0]!);
        this.noteRun(steps[0]!.rows, performance.now() - t0, true);
        steps[0]!.resolve(out);
      } catch (e) {
        steps[0]!.reject(e);
      }
      return;
    }
    this.counts.batches++;
    this.counts.rows += steps.length;
    this.sizes[steps.length] = (this.sizes[steps.length] ?? 0) + 1;
    try {
      const t0 = performance.now();
      const results = await this.decode(layer, steps);
      this.noteRun(steps.length, performance.now() - t0);
      steps.forEach((s, i) => s.resolve(results[i]!));
    } catch (e) {
      if (steps.length === 1) return steps[0]!.reject(e);
      // one bad row must not fail the others: each runs again alone and fails or not on its own
      this.counts.splitAfterFailure++;
      for (const s of steps) {
        try {
          s.resolve((await this.decode(layer, [s]))[0]!);
        } catch (e1) {
          s.reject(e1);
        }
      }
    }
  }

  /** A multi-row step (a prompt) through the weightless whole-layer graph. */
  private async prompt(layer: number, s: Step): Promise<Record<string, TensorLike>> {
    let w = this.blockWeights.get(layer);
    if (!w) this.blockWeights.set(layer, (w = this.binding.block(layer)));
    return this.timed('prompt', this.parts.sessions.block.run({ ...s.feeds, ...w }));
  }

  private async timed<T>(kind: 'front' | 'core' | 'back' | 'prompt', run: Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await run;
    } finally {
      this.ms[kind] += performance.now() - t0;
    }
  }

  /**
   * One-row steps of B sessions at layer l: front and back over the B rows, each row's attention
   * in core. core runs in chunks of powers of two (13 rows: 8, 4, 1), so that a few graphs, built
   * when the server starts, serve every batch size; rows are independent in core, so the chunks
   * change no bit.
   */
  private async decode(layer: number, steps: Step[]): Promise<Array<Record<string, TensorLike>>> {
    const B = steps.length, E = this.E;
    const x = new Float32Array(B * E);
    steps.forEach((s, i) => x.set(s.feeds.x!.data as Float32Array, i * E));
    const front = await this.session('front', layer), back = await this.session('back', layer);
    const q = output(await this.timed('front', front.run({ x: f32(x, [B, E]) })), 'q'), mq = q.length / B;
    const ctx = new Float32Array(B * mq), presents: Array<Record<string, TensorLike>> = [];
    for (let at = 0; at < B; ) {
      const rows = 2 ** Math.floor(Math.log2(B - at)), feeds: Record<string, TensorLike> = { ...this.coreWeightsOf(layer) };
      for (let i = 0; i < rows; i++) {
        for (const [name, t] of Object.entries(steps[at + i]!.feeds)) feeds[rowValue(name, i)] = t;
        feeds[rowValue('q', i)] = f32(q.subarray((at + i) * mq, (at + i + 1) * mq), [1, mq]);
      }
      const coreSession = await this.session('core', rows);
      const core = await this.timed('core', coreSession.run(feeds));
      ctx.set(output(core, 'ctx'), at * mq);
      for (let i = 0; i < rows; i++) presents.push({ present_k: core[rowValue('present_k', i)]!, present_v: core[rowValue('present_v', i)]! });
      at += rows;
    }
    const xOut = output(await this.timed('back', back.run({ x: f32(x, [B, E]), ctx: f32(ctx, [B, mq]) })), 'x_out');
    return presents.map((p, i) => ({ x_out: f32(xOut.slice(i * E, (i + 1) * E), [1, E]), ...p }));
  }

  private coreWeightsOf(layer: number): Feeds {
    let w = this.coreWeights.get(layer);
    if (!w) this.coreWeights.set(layer, (w = this.graphs.coreWeights(layer)));
    return w;
  }

  /** front(l) and back(l) hold their weights as constants (prepacked: the labels do not start with "layer."); core(B) takes them as inputs. */
  private session(kind: 'front' | 'back' | 'core', key: number): Promise<RuntimeSession> {
    const map = this.sessionsOf[kind];
    let s = map.get(key);
    if (!s) {
      const label = kind === 'core' ? `batch.core.x${key}` : `batch.${kind}.${key}`;
      const bytes = kind === 'core' ? this.graphs.core(key) : kind === 'front' ? this.graphs.front(key) : this.graphs.back(key);
      s = this.parts.runtime.createSession(bytes, label);
      s.catch(() => map.delete(key)); // a failed build is tried again next time
      map.set(key, s);
    }
    return s;
  }
}
