// One process of edges for scripts/soak.ts. Each edge is a real headless edge (SocketLink +
// onnxruntime-node + RecoveringEdge) given only the balancer's URL, with its own plan and wire
// precision. It keeps its connection across answers (as a chat does), generates greedy answers
// back to back, and checks each against the undisturbed run of its plan and precision. An answer
// that throws (retries exhausted) is lost; the edge then connects afresh. Figures go to the parent
// over IPC every second.
import { generate, SplitSessions, type SplitwiseError, type WirePrecision } from '@splitwise/core';
import { loadGpt2FromDir } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';

export interface SoakVariant {
  plan: string;
  precision: WirePrecision;
  /** The undisturbed answer to each prompt with this plan and precision. */
  reference: number[][];
}

export interface SoakClientStart {
  type: 'start';
  url: string;
  modelDir: string;
  prompts: number[][];
  tokens: number;
  timeoutMs: number;
}
export type SoakParentMessage = SoakClientStart | { type: 'add'; variant: SoakVariant; index: number } | { type: 'stop' };

export interface SoakSample {
  type: 'sample';
  /** Decode-step latencies (ms) since the last sample. */
  tokenMs: number[];
  /** Answers finished since the last sample, by variant key ("plan/precision"). */
  answers: Record<string, { ok: number; wrong: number; lost: number }>;
  /** Failures seen by the edges' recovery (by error code), reconnections, fallbacks. */
  failures: Record<string, number>;
  reconnects: number;
  examples: Record<string, string>;
  rssBytes: number;
}
export type SoakChildMessage = SoakSample | { type: 'ready' } | { type: 'stopped' } | { type: 'fatal'; error: string };

const send = (m: SoakChildMessage): void => void process.send?.(m);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let start: SoakClientStart | undefined;
let sessions: SplitSessions | undefined;
let ckpt: Awaited<ReturnType<typeof loadGpt2FromDir>> | undefined;
let stopping = false;
const running: Array<Promise<void>> = [];
const edges = new Set<RemoteEdge>();
let tokenMs: number[] = [];
let answers: SoakSample['answers'] = {};
let failures: Record<string, number> = {};
let reconnects = 0;
const examples: Record<string, string> = {};
const note = (code: string, e?: unknown): void => {
  failures[code] = (failures[code] ?? 0) + 1;
  if (e !== undefined && !(code in examples)) examples[code] = String((e as Error).message ?? e).slice(0, 300);
};
const tally = (key: string, what: 'ok' | 'wrong' | 'lost'): void => void ((answers[key] ??= { ok: 0, wrong: 0, lost: 0 })[what]++);

async function edgeLoop(v: SoakVariant, index: number): Promise<void> {
  const s = start!, key = `${v.plan}/${v.precision}`;
  let a = index;
  while (!stopping) {
    let r: RemoteEdge;
    try {
      r = await connectRemoteEdge({
        server: s.url,
        plan: v.plan,
        precision: v.precision,
        checkpoint: { ckpt: ckpt! },
        sessions,
        probeEveryMs: 0,
        timeoutMs: s.timeoutMs,
        fallback: 'wait',
        // enough for HAProxy to route around a dead backend; a lost answer means these ran out
        backoff: { initialMs: 50, maxMs: 1000, maxAttempts: 12 },
        onRecoveryEvent: (e) => {
          if (e.type === 'failure') note('failure', e.error);
          else if (e.type === 'reconnected') reconnects++;
          else note(e.type, e.type === 'gave-up' ? e.error : e.type === 'fallback' ? e.reason : undefined);
        },
      });
    } catch (e) {
      note(`connect:${(e as SplitwiseError).code ?? 'error'}`, e);
      await sleep(250 + Math.random() * 250);
      continue;
    }
    edges.add(r);
    try {
      for (; !stopping; a++) {
        const i = a % s.prompts.length, out: number[] = [];
        try {
          for await (const t of generate(r.recovering, s.prompts[i]!, { maxNewTokens: s.tokens })) {
            if (out.length > 0) tokenMs.push(t.ms);
            out.push(t.id);
            if (stopping) break;
          }
        } catch (e) {
          tally(key, 'lost');
          note(`lost:${(e as SplitwiseError).code ?? 'error'}`, e);
          break; // connect afresh
        }
        if (out.length === s.tokens) tally(key, out.join() === v.reference[i]!.join() ? 'ok' : 'wrong');
      }
    } finally {
      edges.delete(r);
      await r.close();
    }
  }
}

const timer = setInterval(() => {
  send({ type: 'sample', tokenMs, answers, failures, reconnects, examples, rssBytes: process.memoryUsage.rss() });
  tokenMs = [];
  answers = {};
  failures = {};
  reconnects = 0;
}, 1000);

process.on('message', (m: SoakParentMessage) => {
  void (async () => {
    try {
      if (m.type === 'start') {
        start = m;
        ckpt = await loadGpt2FromDir(m.modelDir);
        sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
        send({ type: 'ready' });
      } else if (m.type === 'add') {
        running.push(edgeLoop(m.variant, m.index));
      } else if (m.type === 'stop') {
        stopping = true;
        await Promise.race([Promise.all(running), sleep(15_000)]);
        for (const e of edges) await e.close();
        clearInterval(timer);
        send({ type: 'sample', tokenMs, answers, failures, reconnects, examples, rssBytes: process.memoryUsage.rss() });
        send({ type: 'stopped' });
        await sessions?.release();
        process.exit(0);
      }
    } catch (e) {
      send({ type: 'fatal', error: (e as Error).stack ?? String(e) });
    }
  })();
});
process.on('disconnect', () => process.exit(0)); // the parent is gone
