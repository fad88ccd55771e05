// What GET /api/stats reports: one row per live session, totals since start, process figures.
import { WORKER_ID } from './worker-id.ts';
import { summarizePlan, type Connection, type PlanSummary } from './connection.ts';
import type { BatcherStats } from './batcher.ts';
import type { CloudLoadReport } from '@splitwise/protocol';

export interface SessionStats {
  session: string;
  remote: string;
  connectedAt: string;
  requests: number;
  segments: number;
  /** Binary payload bytes received from / sent to this edge. */
  bytesIn: number;
  bytesOut: number;
  errors: number;
  plan: PlanSummary;
  /** KV cache the cloud holds for this session. */
  kvBytes: number;
}

export interface ServerTotals {
  connections: number;
  sessions: number;
  sessionsOpened: number;
  sessionsClosed: number;
  requests: number;
  segments: number;
  bytesIn: number;
  bytesOut: number;
  /** KV bytes released when sessions ended. */
  freedKvBytes: number;
  /** Error replies (and dropped messages) by code. */
  errors: Record<string, number>;
}

export interface ServerStats {
  /** The worker that answered (host:pid): with --workers, each has its own figures. */
  worker: string;
  sessions: SessionStats[];
  totals: ServerTotals;
  uptime: number;
  rssBytes: number;
  /** The continuous batcher's figures by model id (models without batching are absent). */
  batching?: Record<string, BatcherStats>;
  /** Share of the last window with cloud requests in hand (`others` = `all` here: no session asks). */
  load?: CloudLoadReport;
}

export class StatsBook {
  readonly totals: Omit<ServerTotals, 'connections' | 'sessions'> = {
    sessionsOpened: 0,
    sessionsClosed: 0,
    requests: 0,
    segments: 0,
    bytesIn: 0,
    bytesOut: 0,
    freedKvBytes: 0,
    errors: {},
  };
  private readonly started = performance.now();

  error(code: string): void {
    this.totals.errors[code] = (this.totals.errors[code] ?? 0) + 1;
  }

  snapshot(connections: Iterable<Connection>): ServerStats {
    const all = [...connections];
    const sessions = all
      .filter((c): c is Connection & { session: string } => c.session !== undefined && c.executor !== undefined)
      .map((c) => ({
        session: c.session,
        remote: c.remote,
        connectedAt: new Date(c.connectedAt).toISOString(),
        requests: c.requests,
        segments: c.segments,
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
        errors: c.errors,
        plan: summarizePlan(c.executor!.runner.currentPlan),
        kvBytes: c.kvBytes(),
      }));
    return {
      worker: WORKER_ID,
      sessions,
      totals: { connections: all.length, sessions: sessions.length, ...this.totals, errors: { ...this.totals.errors } },
      uptime: (performance.now() - this.started) / 1000,
      rssBytes: process.memoryUsage().rss,
    };
  }
}
