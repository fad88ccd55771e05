// One load-generating process for scripts/load.ts: hosts many headless edge clients (each its own
// SocketLink, session and EdgeExecutor with RecoveringEdge; the onnxruntime-node sessions, which
// hold no per-sequence state, are shared within the process). Each client generates greedy answers
// back to back and checks each against the server's reference. Figures go to the parent over IPC
// every 500 ms.
import { generate, SplitSessions, type SplitwiseError } from '@splitwise/core';
import { loadGpt2FromDir } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';

export interface LoadClientStart {
  type: 'start';
  url: string;
  modelDir: string;
  plan: string;
  prompts: number[][];
  reference: number[][];
  tokens: number;
  timeoutMs: number;
}
export type ParentMessage = LoadClientStart | { type: 'add'; count: number } | { type: 'stop' };

export interface LoadSample {
  type: 'sample';
  /** Decode-step latencies (ms) since the last sample. */
  tokenMs: number[];
  /** Cloud call round trips (ms) since the last sample. */
  callMs: number[];
  answers: number;
  wrong: number;
  /** Failed cloud calls and connects, by error code. */
  errors: Record<string, number>;
  /** One message per error code, for the report. */
  examples: Record<string, string>;
  clients: number;
  connected: number;
}
export type ChildMessage = LoadSample | { type: 'ready' } | { type: 'stopped' } | { type: 'fatal'; error: string };

const send = (m: ChildMessage): void => void process.send?.(m);

let start: LoadClientStart | undefined;
let sessions: SplitSessions | undefined;
let ckpt: Awaited<ReturnType<typeof loadGpt2FromDir>> | undefined;
let stopping = false;
const running: Array<Promise<void>> = [];
const edges = new Set<RemoteEdge>();
let tokenMs: number[] = [], callMs: number[] = [];
let answers = 0, wrong = 0, clients = 0;
let errors: Record<string, number> = {};
const examples: Record<string, string> = {};
function count(code: string, e?: unknown): void {
  errors[code] = (errors[code] ?? 0) + 1;
  if (e !== undefined && !(code in examples)) examples[code] = String((e as Error).message ?? e).slice(0, 300);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function client(k: number): Promise<void> {
  const s = start!;
  while (!stopping) {
    let r: RemoteEdge;
    try {
      r = await connectRemoteEdge({
        server: s.url,
        plan: s.plan,
        checkpoint: { ckpt: ckpt! },
        sessions,
        probeEveryMs: 0,
        timeoutMs: s.timeoutMs,
        fallback: 'wait',
        backoff: { initialMs: 100, maxMs: 2000, maxAttempts: 5 },
      });
    } catch (e) {
      count(`connect:${(e as SplitwiseError).code ?? 'error'}`, e);
      await sleep(500 + Math.random() * 500);
      continue;
    }
    edges.add(r);
    const link = r.link, req = link.request.bind(link);
    link.request = async (m) => {
      const t = performance.now();
      try {
        const reply = await req(m);
        callMs.push(performance.now() - t);
        return reply;
      } catch (e) {
        count((e as SplitwiseError).code ?? 'error', e);
        throw e;
      }
    };
    try {
      for (let a = k; !stopping; a++) {
        const i = a % s.prompts.length, out: number[] = [];
        for await (const t of generate(r.recovering, s.prompts[i]!, { maxNewTokens: s.tokens })) {
          if (out.length > 0) tokenMs.push(t.ms);
          out.push(t.id);
          if (stopping) break;
        }
        if (out.length === s.tokens) {
          answers++;
          if (out.join() !== s.reference[i]!.join()) wrong++;
        }
      }
    } catch (e) {
      count(`gave_up:${(e as SplitwiseError).code ?? 'error'}`, e);
    } finally {
      edges.delete(r);
      await r.close();
    }
  }
}

const timer = setInterval(() => {
  send({ type: 'sample', tokenMs, callMs, answers, wrong, errors, examples, clients, connected: edges.size });
  tokenMs = [];
  callMs = [];
  answers = 0;
  wrong = 0;
  errors = {};
}, 500);

process.on('message', (m: ParentMessage) => {
  void (async () => {
    try {
      if (m.type === 'start') {
        start = m;
        ckpt = await loadGpt2FromDir(m.modelDir);
        sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
        send({ type: 'ready' });
      } else if (m.type === 'add') {
        for (let i = 0; i < m.count; i++) running.push(client(clients++));
      } else if (m.type === 'stop') {
        stopping = true;
        await Promise.race([Promise.all(running), sleep(15_000)]);
        for (const e of edges) await e.close();
        clearInterval(timer);
        send({ type: 'sample', tokenMs, callMs, answers, wrong, errors, examples, clients, connected: 0 });
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
