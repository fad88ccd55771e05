// Settings a URL can preset (for tests, benchmarks and shared links), e.g.
//   /?model=stories260K&plan=half&precision=fp32&max=16&prompt=Hello%20world&autorun=1   (plan=policy&memory=MB&ids=send: policy mode)
import { WIRE_PRECISIONS, type WirePrecision } from '@splitwise/core';

export interface Sampling {
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  maxNewTokens: number;
}

export interface PageParams {
  /** Which of the server's models (GET /api/models); absent: its default. */
  model?: string;
  /** Plan spec: edge | cloud | api | half | layers:K | random:SEED | custom:MASK | policy. */
  plan: string;
  precision: WirePrecision;
  sampling: Sampling;
  prompt: string;
  /** Generate once as soon as the page is ready. */
  autorun: boolean;
  preferWebGPU: boolean;
  /** WASM threads (default: all cores when cross-origin isolated). */
  threads?: number;
  /** Keep the model in browser storage. */
  store: boolean;
  /** Policy mode: memory the edge may use for the model, MB (else what the browser reports). */
  memoryMB?: number;
  /** Policy mode: the method may choose API cloud-only, which sends token ids to the server (?ids=send; off by default). */
  sendIds: boolean;
}

// the shipped model writes children's stories (TinyStories); it continues this the way upstream documents
export const DEFAULT_PROMPT = 'Once upon a time';

const num = (v: string | null, fallback: number, ok: (n: number) => boolean): number => {
  if (v === null || v === '') return fallback;
  const n = Number(v);
  return Number.isFinite(n) && ok(n) ? n : fallback;
};

export function readParams(search: string = location.search): PageParams {
  const q = new URLSearchParams(search);
  const precision = q.get('precision');
  const threads = num(q.get('threads'), 0, (n) => Number.isInteger(n) && n > 0);
  return {
    ...(q.get('model') ? { model: q.get('model')! } : {}),
    plan: q.get('plan') ?? 'half',
    precision: (WIRE_PRECISIONS as readonly string[]).includes(precision ?? '') ? (precision as WirePrecision) : 'fp32',
    sampling: {
      temperature: num(q.get('temperature'), 0, (n) => n >= 0),
      topK: num(q.get('topk'), 0, (n) => Number.isInteger(n) && n >= 0),
      topP: num(q.get('topp'), 1, (n) => n > 0 && n <= 1),
      seed: num(q.get('seed'), 0, Number.isSafeInteger),
      maxNewTokens: num(q.get('max'), 32, (n) => Number.isInteger(n) && n > 0),
    },
    prompt: q.get('prompt') ?? DEFAULT_PROMPT,
    autorun: q.get('autorun') === '1',
    preferWebGPU: q.get('backend') === 'webgpu',
    ...(threads > 0 ? { threads } : {}),
    store: q.get('store') !== '0',
    sendIds: q.get('ids') === 'send',
    ...(num(q.get('memory'), 0, (n) => n > 0) > 0 ? { memoryMB: Number(q.get('memory')) } : {}),
  };
}
