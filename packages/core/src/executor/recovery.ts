// Losing no token when the cloud fails mid-answer. A failed pass leaves no trace on the edge
// (EdgeExecutor restores its KV and checkpoint); this controller then retries with exponential
// backoff and jitter, reconnecting the link (to the same or another worker), and the edge
// rebuilds the cloud's KV caches from its partition checkpoint before going on. When the retry
// budget is spent (or at once, if so configured) the edge runs the cloud's sub-blocks itself,
// and moves them back when the cloud answers again. The split is exact, so the answer is the
// same token for token.
import { ContextLengthError, InvalidConfigError, InvalidPlanError, TensorShapeError } from '../errors.ts';
import { edgeOnlyPlan, type PartitionPlan } from '../plan/partition-plan.ts';
import type { EdgeExecutor, ForwardOptions } from './edge-executor.ts';

export interface BackoffOptions {
  /** First retry delay, ms. @defaultValue 100 */
  initialMs?: number;
  /** Growth per attempt. @defaultValue 2 */
  factor?: number;
  /** Cap on one delay, ms. @defaultValue 2000 */
  maxMs?: number;
  /** Retries before the fallback. @defaultValue 5 */
  maxAttempts?: number;
  /** Each delay is drawn from [d*(1-jitter), d] ("equal jitter"), so clients do not retry in step. @defaultValue 0.5 */
  jitter?: number;
}

/** Delay before retry `attempt` (1-based). */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = o.initialMs ?? 100, factor = o.factor ?? 2, max = o.maxMs ?? 2000, jitter = o.jitter ?? 0.5;
  const d = Math.min(max, initial * factor ** (attempt - 1));
  return d * (1 - jitter * random());
}

export type Fallback =
  /** Run the cloud's sub-blocks on the edge as soon as the cloud fails; keep retrying in the background. */
  | 'edge-now'
  /** Retry first; run on the edge when the retry budget is spent. */
  | 'edge-after-retries'
  /** Only retry (no edge fallback): for edges whose memory cannot hold the cloud's share. */
  | 'wait';

export type RecoveryEvent =
  | { type: 'failure'; attempt: number; error: string; retryInMs: number }
  | { type: 'reconnected'; worker?: string }
  | { type: 'fallback'; reason: string }
  | { type: 'restored'; plan: PartitionPlan }
  | { type: 'gave-up'; error: string };

export interface RecoveryOptions {
  backoff?: BackoffOptions;
  /** @defaultValue 'edge-after-retries' */
  fallback?: Fallback;
  /** Reconnect the link (same or another worker). Without it, retries reuse the link as it is. */
  reconnect?: () => Promise<string | void>;
  onEvent?: (e: RecoveryEvent) => void;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Errors about the input itself: retrying cannot help. */
export const isInputError = (e: unknown): boolean =>
  e instanceof InvalidPlanError || e instanceof ContextLengthError || e instanceof InvalidConfigError || e instanceof TensorShapeError;

export class RecoveringEdge {
  /** The plan wanted when the cloud is healthy (the edge may be running a fallback). */
  wanted: PartitionPlan;
  degraded = false;
  private nextRestore = 0;
  private restoreAttempt = 0;

  constructor(
    readonly edge: EdgeExecutor,
    private readonly o: RecoveryOptions = {},
  ) {
    this.wanted = edge.plan;
  }

  get graph(): EdgeExecutor['graph'] {
    return this.edge.graph;
  }
  get length(): number {
    return this.edge.length;
  }

  private emit(e: RecoveryEvent): void {
    this.o.onEvent?.(e);
  }

  private sleep(ms: number): Promise<void> {
    return this.o.sleep ? this.o.sleep(ms) : new Promise((r) => setTimeout(r, ms));
  }

  async reset(plan: PartitionPlan = this.wanted): Promise<void> {
    this.wanted = plan;
    this.degraded = false;
    await this.withRetries(() => this.edge.reset(plan), async () => {
      await this.edge.reset(edgeOnlyPlan(this.graph));
      this.degrade('cloud unreachable at the start of a sequence');
    });
  }

  async setPlan(plan: PartitionPlan): Promise<void> {
    this.wanted = plan;
    if (this.degraded) return; // adopted when the cloud is back
    await this.withRetries(() => this.edge.setPlan(plan), async () => {
      await this.edge.setPlan(edgeOnlyPlan(this.graph), { cloud: false });
      this.degrade('cloud unreachable at a plan change');
    });
  }

  async forward(ids: number[], o: ForwardOptions = {}): Promise<Float32Array> {
    if (this.degraded) await this.tryRestore();
    return this.withRetries(() => this.edge.forward(ids, o), async () => {
      // from API cloud-only too: the edge first replays the ids it kept (EdgeExecutor.setPlan)
      await this.edge.setPlan(edgeOnlyPlan(this.graph), { cloud: false });
      this.degrade('cloud unreachable mid-answer');
      return this.edge.forward(ids, o);
    });
  }

  private degrade(reason: string): void {
    this.degraded = true;
    this.restoreAttempt = 0;
    this.nextRestore = Date.now() + backoffDelay(1, this.o.backoff, this.o.random);
    this.emit({ type: 'fallback', reason });
  }

  /** While degraded, try (on the backoff schedule) to give the cloud its share back. */
  private async tryRestore(): Promise<void> {
    if (Date.now() < this.nextRestore) return;
    try {
      const worker = await this.o.reconnect?.();
      if (this.o.reconnect) this.emit({ type: 'reconnected', ...(worker ? { worker } : {}) });
      await this.edge.resync(); // the cloud restarts at the edge's position under the edge-only plan
      await this.edge.setPlan(this.wanted); // ...and its heads' KV caches are rebuilt from the checkpoint
      this.degraded = false;
      this.emit({ type: 'restored', plan: this.wanted });
    } catch {
      this.restoreAttempt++;
      this.nextRestore = Date.now() + backoffDelay(this.restoreAttempt + 1, this.o.backoff, this.o.random);
    }
  }

  private async withRetries<T>(op: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
    const mode = this.o.fallback ?? 'edge-after-retries', max = this.o.backoff?.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (e) {
        if (isInputError(e)) throw e;
        const error = e instanceof Error ? e.message : String(e);
        if (mode === 'edge-now' || (mode === 'edge-after-retries' && attempt > max)) {
          this.emit({ type: 'failure', attempt, error, retryInMs: 0 });
          return fallback();
        }
        if (attempt > max) {
          this.emit({ type: 'gave-up', error });
          throw e;
        }
        const wait = backoffDelay(attempt, this.o.backoff, this.o.random);
        this.emit({ type: 'failure', attempt, error, retryInMs: wait });
        await this.sleep(wait);
        try {
          const worker = await this.o.reconnect?.();
          if (this.o.reconnect) this.emit({ type: 'reconnected', ...(worker ? { worker } : {}) });
        } catch {
          // the next attempt fails fast and backs off further
        }
      }
    }
  }
}
