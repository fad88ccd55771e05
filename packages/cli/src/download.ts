// Fetching the model from a splitwise server, as the page does: /api/model for the shape and
// file sizes, then the files from /models/<id>/, each streamed into one buffer of the size
// Content-Length announced (no chunk list, no second copy of a 500 MB file).
import { loadGpt2Checkpoint, Gpt2Tokenizer, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint';
import { LinkError } from '@splitwise/core';

export type Progress = (file: string, received: number, total: number) => void;

export interface ServerModelInfo {
  ffnChunks: number;
  files: Array<{ name: string; bytes: number }>;
}

export interface DownloadedModel {
  ckpt: LoadedGpt2Checkpoint;
  tokenizer?: Gpt2Tokenizer;
  info: ServerModelInfo;
  bytes: number;
  ms: number;
}

async function get(url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new LinkError(`cannot fetch ${url}: ${(e as Error).message}`, 'connect_failed');
  }
  if (!res.ok) {
    // the server's typed error says why (an unknown model id, a missing file)
    const why = await res.json().then((b: unknown) => (b as { error?: { message?: string } }).error?.message, () => undefined);
    throw new LinkError(`${url} answered ${res.status} ${res.statusText}${why ? `: ${why}` : ''}`, 'download_failed');
  }
  return res;
}

/** One file into memory; progress after every chunk. */
export async function fetchBytes(url: string, onProgress?: Progress): Promise<Uint8Array> {
  const res = await get(url);
  const name = url.split('/').at(-1)!;
  const announced = Number(res.headers.get('content-length'));
  if (!res.body || !Number.isSafeInteger(announced) || announced < 0) return new Uint8Array(await res.arrayBuffer());
  const out = new Uint8Array(announced);
  let at = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.byteLength > announced) throw new LinkError(`${url} sent more than its Content-Length of ${announced}`, 'download_failed');
    out.set(value, at);
    at += value.byteLength;
    onProgress?.(name, at, announced);
  }
  if (at !== announced) throw new LinkError(`${url} ended at ${at} of ${announced} bytes`, 'download_failed');
  return out;
}

const json = async (url: string): Promise<unknown> => JSON.parse(new TextDecoder().decode(await fetchBytes(url)));

/** config.json + model.safetensors (+ the tokenizer when the server has one). */
export async function downloadModel(server: string, onProgress?: Progress, model = 'default'): Promise<DownloadedModel> {
  const base = server.replace(/\/+$/, ''), id = encodeURIComponent(model);
  const t0 = performance.now();
  const info = (await json(`${base}/api/model?model=${id}`)) as ServerModelInfo;
  const has = (f: string): boolean => info.files.some((x) => x.name === f);
  if (!has('model.safetensors')) throw new LinkError(`${base} serves no model.safetensors (sharded models are not downloaded by the client)`, 'download_failed');
  const [config, weights, tokJson, tokConfig] = await Promise.all([
    json(`${base}/models/${id}/config.json`),
    fetchBytes(`${base}/models/${id}/model.safetensors`, onProgress),
    has('tokenizer.json') ? json(`${base}/models/${id}/tokenizer.json`) : undefined,
    has('tokenizer_config.json') ? json(`${base}/models/${id}/tokenizer_config.json`) : undefined,
  ]);
  const ckpt = loadGpt2Checkpoint(config, weights);
  const tokenizer = tokJson ? new Gpt2Tokenizer(tokJson as object, (tokConfig as object | undefined) ?? undefined) : undefined;
  return { ckpt, tokenizer, info, bytes: weights.byteLength, ms: performance.now() - t0 };
}
