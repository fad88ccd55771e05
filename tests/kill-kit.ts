// Killing cloud servers mid-answer and comparing the recovered answer with the undisturbed one at
// the same settings (plan, wire precision, plan changes). Shared by tests/recovery-precision.test.ts
// and scripts/chaos.ts. Servers are real processes (server-process.ts); a killed one can be
// started again on the same port, so an edge that only knows that address gets it back.
import { buildModelGraph, planFromSpec, syncPointsPerForward, type CloudReply, type CloudRequest, type PartitionPlan, type RecoveryEvent, type SplitSessions, type WirePrecision } from '@splitwise/core';
import type { Gpt2Checkpoint } from '@splitwise/core';
import { connectRemoteEdge } from '@splitwise/cli/remote-edge';
import { pidOf, spawnServer, type ServerProcess } from './server-process.ts';

/** A server address that outlives its process: `restart` starts a new one on the same port. */
export class ServerSlot {
  private constructor(
    public proc: ServerProcess,
    private readonly args: string[],
  ) {}
  static async start(args: string[]): Promise<ServerSlot> {
    return new ServerSlot(await spawnServer(args), args);
  }
  get url(): string {
    return this.proc.url;
  }
  get pid(): number {
    return this.proc.proc.pid!;
  }
  get alive(): boolean {
    return this.proc.proc.exitCode === null && this.proc.proc.signalCode === null;
  }
  async restart(): Promise<void> {
    if (this.alive) await this.proc.stop();
    // the port was just freed by a killed process: retry briefly if it is not yet reusable
    for (let i = 0; ; i++) {
      try {
        this.proc = await spawnServer([...this.args, '--port', String(this.proc.port)]);
        return;
      } catch (e) {
        if (i >= 4) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
  stop(): Promise<void> {
    return this.proc.stop();
  }
}

export interface AnswerSettings {
  ckpt: Gpt2Checkpoint;
  sessions: SplitSessions;
  prompt: number[];
  newTokens: number;
  plan: string;
  precision: WirePrecision;
  /** A plan change before decode step `at`. */
  planChange?: { at: number; plan: string };
}

export interface Answer {
  tokens: number[];
  /** Logits of every step: a recovered answer must match these bit for bit. */
  logits: Float32Array[];
  events: RecoveryEvent[];
  /** Workers (host:pid) that served the answer, in order. */
  workers: string[];
  /** Cloud calls the answer made (attempts included). */
  calls: number;
  /** ms from each kill to the next cloud reply that succeeded. */
  recoveryMs: number[];
  kills: number;
  /** Kills the edge noticed (a failed call after the kill, before the next one): they landed mid-answer. */
  noticed: number;
}

/** Cloud calls an undisturbed answer makes with these settings (kill points are drawn below it). */
export function callsPerAnswer(s: AnswerSettings): number {
  const graph = buildModelGraph(s.ckpt.config);
  const before = syncPointsPerForward(planFromSpec(s.plan, graph));
  const after = s.planChange ? syncPointsPerForward(planFromSpec(s.planChange.plan, graph)) : before;
  const at = s.planChange?.at ?? s.newTokens;
  return at * before + (s.newTokens - at) * after;
}

/**
 * One greedy answer from the edge of the headless client, against `urls` (failover in that
 * order), with `--fallback wait`. `killAt(n)` is asked after the n-th cloud request is sent (it
 * is in flight): returning a kill function strikes now.
 */
export async function answer(urls: string[], s: AnswerSettings, killAt?: (n: number) => (() => void) | undefined): Promise<Answer> {
  const events: RecoveryEvent[] = [];
  const remote = await connectRemoteEdge({
    server: urls.join(','),
    plan: s.plan,
    precision: s.precision,
    checkpoint: { ckpt: s.ckpt },
    sessions: s.sessions,
    probeEveryMs: 0,
    timeoutMs: 5000,
    fallback: 'wait',
    // enough patience for a server process to start again on the same port
    backoff: { initialMs: 50, maxMs: 500, maxAttempts: 80 },
    onRecoveryEvent: (e) => events.push(e),
  });
  const out: Answer = { tokens: [], logits: [], events, workers: [remote.link.worker], calls: 0, recoveryMs: [], kills: 0, noticed: 0 };
  const killedAt: number[] = []; // events.length at each kill
  const link = remote.link, send = link.request.bind(link);
  let faultAt: number | undefined;
  link.request = (req: CloudRequest): Promise<CloudReply> => {
    const p = send(req);
    const kill = killAt?.(++out.calls);
    if (kill) {
      faultAt = performance.now();
      out.kills++;
      killedAt.push(events.length);
      kill();
    }
    return p.then((r) => {
      if (faultAt !== undefined) {
        out.recoveryMs.push(performance.now() - faultAt);
        faultAt = undefined;
      }
      if (out.workers.at(-1) !== link.worker) out.workers.push(link.worker);
      return r;
    });
  };
  try {
    const edge = remote.recovering, graph = remote.graph;
    await edge.reset();
    let input = s.prompt;
    for (let step = 0; step < s.newTokens; step++) {
      if (s.planChange && step === s.planChange.at) await edge.setPlan(planFromSpec(s.planChange.plan, graph));
      const logits = await edge.forward(input);
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
      out.tokens.push(best);
      out.logits.push(logits.slice());
      input = [best];
    }
  } finally {
    await remote.close();
  }
  out.noticed = killedAt.filter((at, i) => events.slice(at, killedAt[i + 1] ?? events.length).some((e) => e.type === 'failure')).length;
  return out;
}

/** First step whose logits differ from the reference's (bit for bit), or -1. */
export function firstDifference(a: Answer, ref: Answer): number {
  for (let i = 0; i < Math.max(a.logits.length, ref.logits.length); i++) {
    const x = a.logits[i], y = ref.logits[i];
    if (!x || !y || x.length !== y.length) return i;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return i;
  }
  return -1;
}

/** Largest |logit difference| over all steps (0 when bit-identical). */
export function maxLogitDiff(a: Answer, ref: Answer): number {
  let m = 0;
  a.logits.forEach((x, i) => {
    const y = ref.logits[i];
    if (y) for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j]! - y[j]!));
  });
  return m;
}

export { pidOf };
export type { PartitionPlan };
