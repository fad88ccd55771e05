// One edge-hosting process for scripts/bench-cloud.ts: many headless edges, each its own
// socket.io connection and session (SocketLink, the real protocol and wire codec), all on the
// cloud-only plan. They measure the cloud, so they do not run the LM head or sample: each edge
// feeds the embedding of a fixed token sequence (teacher forcing) and times each decode step's
// round trip. On a deployment the LM head runs on each edge's own device; here 32 edges' LM
// heads would fill this machine's 2 cores and measure the edges instead.
// Each answer: a prompt (one multi-row step), then `answer` one-row decode steps, then a fresh
// sequence (reset), so prompts keep arriving while others decode, as in a chat service.
import { cloudOnlyPlan, buildModelGraph, SplitWeights, type CloudRequest, type WirePrecision } from '@splitwise/core';
import { loadModelFromDir } from '@splitwise/checkpoint/node';
import { SocketLink } from '@splitwise/link-socketio';

export interface EdgesStart {
  type: 'start';
  url: string;
  /** Edges to open (this process's share). */
  count: number;
  /** Index of the first edge (token sequences differ per edge). */
  first: number;
  prompt: number;
  answer: number;
  precision: WirePrecision;
}
export type EdgesCommand = { type: 'load'; modelDir: string } | EdgesStart | { type: 'stop' };

export interface EdgesResult {
  type: 'result';
  /** Each decode step: [end time (ms since the epoch, sub-ms), round trip ms]. */
  steps: Array<[number, number]>;
  /** Prompt steps: [end time, ms]. */
  prompts: Array<[number, number]>;
  errors: Record<string, number>;
  examples: Record<string, string>;
}
export type EdgesReply = { type: 'loaded' } | { type: 'started' } | EdgesResult | { type: 'fatal'; error: string };

const send = (m: EdgesReply): void => void process.send?.(m);
const now = (): number => performance.timeOrigin + performance.now();

let model: { graph: ReturnType<typeof buildModelGraph>; weights: SplitWeights } | undefined;
let stopping = false;
let running: Array<Promise<void>> = [];
let steps: Array<[number, number]> = [], prompts: Array<[number, number]> = [];
let errors: Record<string, number> = {};
let examples: Record<string, string> = {};

function count(code: string, e: unknown): void {
  errors[code] = (errors[code] ?? 0) + 1;
  examples[code] ??= String((e as Error)?.message ?? e).slice(0, 300);
}

async function edge(s: EdgesStart, k: number): Promise<void> {
  const { graph, weights } = model!, V = graph.config.vocabSize, last = 2 * graph.config.nLayer - 1;
  const plan = cloudOnlyPlan(graph);
  let link: SocketLink;
  try {
    link = await SocketLink.connect(graph, { url: s.url, precision: s.precision, probeEveryMs: 0, timeoutMs: 120_000 });
  } catch (e) {
    count(`connect:${(e as { code?: string }).code ?? 'error'}`, e);
    return;
  }
  try {
    let seq = 0, answer = 0;
    while (!stopping) {
      await link.request({ type: 'reset', plan });
      seq = 0;
      const ids = Array.from({ length: s.prompt + s.answer }, (_, i) => (k * 7919 + answer * 104729 + i * 31) % V);
      answer++;
      const step = async (start: number, count: number): Promise<number> => {
        const req: CloudRequest = { type: 'segment', seq: ++seq, start, count, from: 0, to: last, x: weights.embed(ids.slice(start, start + count), start), precision: s.precision };
        const t0 = performance.now();
        const reply = await link.request(req);
        if (reply.type !== 'segment' || reply.x.length !== count * graph.config.nEmbd) throw new Error(`malformed reply to segment ${req.type === 'segment' ? req.seq : ''}`);
        return performance.now() - t0;
      };
      prompts.push([now(), await step(0, s.prompt)]);
      for (let p = s.prompt; p < s.prompt + s.answer && !stopping; p++) steps.push([now(), await step(p, 1)]);
    }
  } catch (e) {
    if (!stopping) count((e as { code?: string }).code ?? 'error', e);
  } finally {
    await link.close();
  }
}

process.on('message', (m: EdgesCommand) => {
  void (async () => {
    try {
      if (m.type === 'load') {
        const ckpt = await loadModelFromDir(m.modelDir), graph = buildModelGraph(ckpt.config);
        model = { graph, weights: new SplitWeights(ckpt, graph) };
        send({ type: 'loaded' });
      } else if (m.type === 'start') {
        stopping = false;
        steps = [];
        prompts = [];
        errors = {};
        examples = {};
        running = Array.from({ length: m.count }, (_, i) => edge(m, m.first + i));
        send({ type: 'started' });
      } else if (m.type === 'stop') {
        stopping = true;
        await Promise.all(running);
        running = [];
        send({ type: 'result', steps, prompts, errors, examples });
      }
    } catch (e) {
      send({ type: 'fatal', error: (e as Error).stack ?? String(e) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
