// Getting a model into the page: config.json, model.safetensors and the tokenizer files from the
// server, streamed with progress, and kept in the Cache Storage API so that the next visit reads
// no model bytes from the network. Each stored file carries the model version it belongs to
// (from the tiny /api/model answer), so a new model on the server invalidates the stored copy.

export const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'] as const;
export type ModelFileName = (typeof MODEL_FILES)[number];

const CACHE_NAME = 'splitwise-model-v1';
const VERSION_HEADER = 'x-splitwise-model-version';

export interface ModelFiles {
  config: unknown;
  tokenizer: object;
  /** tokenizer_config.json: special tokens, and whether a prompt starts with BOS. */
  tokenizerConfig: object;
  safetensors: Uint8Array;
  /** Every file came from browser storage: no model bytes crossed the network. */
  fromCache: boolean;
  /** Bytes of all the files. */
  bytes: number;
  /** The version they were stored under. */
  version: string;
  /** Why the files could not be kept in browser storage, if they could not. */
  storeError?: string;
}

export interface LoadProgress {
  phase: 'checking' | 'downloading' | 'reading-storage' | 'storing';
  loaded: number;
  /** Bytes expected (NaN until the sizes are known). */
  total: number;
}

export interface LoadOptions {
  /** Which of the server's models. @defaultValue 'default' */
  model?: string;
  /** Where the files live. @defaultValue '/models/<model>/' */
  base?: string;
  /** Keep downloaded files in Cache Storage. @defaultValue true */
  store?: boolean;
  onProgress?: (p: LoadProgress) => void;
}

/**
 * The version of the server's model: what /api/model says about the files' sizes and ETags.
 * Only the file facts are hashed, so live fields in that answer never invalidate the cache.
 */
export async function modelVersion(model = 'default'): Promise<string> {
  const res = await fetch(`/api/model?model=${encodeURIComponent(model)}`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`GET /api/model?model=${model}: HTTP ${res.status}`);
  const info = (await res.json()) as unknown;
  return stableHash(JSON.stringify(fileFacts(info)));
}

/** Pull {name, size, etag}-like facts out of /api/model, whatever its exact shape. */
function fileFacts(info: unknown): unknown {
  if (info && typeof info === 'object' && 'files' in info) return (info as { files: unknown }).files;
  return info;
}

function stableHash(s: string): string {
  // FNV-1a, 2 x 32 bits: a cache key, not a security boundary
  let a = 0x811c9dc5, b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    a = Math.imul(a ^ s.charCodeAt(i), 0x01000193);
    b = Math.imul(b ^ s.charCodeAt(i), 0x5bd1e995);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** Read a response body into one buffer, reporting bytes as they arrive. */
async function readBody(res: Response, onBytes: (n: number) => void): Promise<Uint8Array> {
  const length = Number(res.headers.get('content-length'));
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    onBytes(b.byteLength);
    return b;
  }
  const reader = res.body.getReader();
  // With a known length, fill one buffer (the safetensors file is hundreds of MB: no concat copy).
  if (Number.isFinite(length) && length > 0) {
    const out = new Uint8Array(length);
    let at = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.byteLength > length) throw new Error(`${res.url}: body is longer than its Content-Length ${length}`);
      out.set(value, at);
      at += value.byteLength;
      onBytes(value.byteLength);
    }
    if (at !== length) throw new Error(`${res.url}: got ${at} of ${length} bytes`);
    return out;
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.byteLength;
    onBytes(value.byteLength);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function sizeOf(res: Response): number {
  const n = Number(res.headers.get('content-length'));
  return Number.isFinite(n) && n >= 0 ? n : NaN;
}

async function openCache(): Promise<Cache | undefined> {
  // Cache Storage exists only in secure contexts (https, or localhost / 127.0.0.1)
  if (!('caches' in globalThis)) return undefined;
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return undefined;
  }
}

/** The stored copies of all files for `version`, or undefined if any is missing or stale. */
async function storedResponses(cache: Cache, urls: string[], version: string): Promise<Response[] | undefined> {
  const hits = await Promise.all(urls.map((u) => cache.match(u)));
  if (hits.some((r) => !r || r.headers.get(VERSION_HEADER) !== version)) return undefined;
  return hits as Response[];
}

function decodeFiles(bytes: Uint8Array[]): { config: unknown; safetensors: Uint8Array; tokenizer: object; tokenizerConfig: object } {
  const text = new TextDecoder();
  return {
    config: JSON.parse(text.decode(bytes[0])) as unknown,
    safetensors: bytes[1]!,
    tokenizer: JSON.parse(text.decode(bytes[2])) as object,
    tokenizerConfig: JSON.parse(text.decode(bytes[3])) as object,
  };
}

export async function loadModelFiles(o: LoadOptions = {}): Promise<ModelFiles> {
  const model = o.model ?? 'default';
  const base = o.base ?? `/models/${encodeURIComponent(model)}/`;
  const urls = MODEL_FILES.map((f) => new URL(base + f, location.href).href);
  const report = o.onProgress ?? (() => undefined);
  report({ phase: 'checking', loaded: 0, total: NaN });

  const version = await modelVersion(model);
  const cache = o.store === false ? undefined : await openCache();
  const stored = cache ? await storedResponses(cache, urls, version) : undefined;

  let loaded = 0;
  if (stored) {
    const total = stored.reduce((a, r) => a + sizeOf(r), 0);
    const bytes = await Promise.all(stored.map((r) => readBody(r, (n) => report({ phase: 'reading-storage', loaded: (loaded += n), total }))));
    return { ...decodeFiles(bytes), fromCache: true, bytes: total, version };
  }

  // Start them all; the sizes are known once their headers are in, before most bytes arrive.
  const responses = await Promise.all(urls.map((u) => fetch(u, { cache: 'no-store' })));
  responses.forEach((r, i) => {
    if (!r.ok) throw new Error(`GET ${urls[i]}: HTTP ${r.status}`);
  });
  const total = responses.reduce((a, r) => a + sizeOf(r), 0);
  const bytes = await Promise.all(responses.map((r) => readBody(r, (n) => report({ phase: 'downloading', loaded: (loaded += n), total }))));
  const files = { ...decodeFiles(bytes), fromCache: false, bytes: bytes.reduce((a, b) => a + b.byteLength, 0), version };

  if (!cache) return o.store === false ? files : { ...files, storeError: 'browser storage needs a secure origin (https, or localhost)' };
  report({ phase: 'storing', loaded: files.bytes, total: files.bytes });
  try {
    await Promise.all(
      urls.map((u, i) => {
        const headers = { 'content-length': String(bytes[i]!.byteLength), 'content-type': responses[i]!.headers.get('content-type') ?? 'application/octet-stream', [VERSION_HEADER]: version };
        return cache.put(u, new Response(bytes[i]! as Uint8Array<ArrayBuffer>, { headers }));
      }),
    );
    return files;
  } catch (e) {
    // e.g. QuotaExceededError: the page still works, it just downloads again next time
    await Promise.all(urls.map((u) => cache.delete(u))).catch(() => undefined);
    return { ...files, storeError: (e as Error).message || String(e) };
  }
}

/** Forget the stored model (the next load downloads it again). */
export async function clearStoredModel(): Promise<void> {
  if ('caches' in globalThis) await caches.delete(CACHE_NAME);
}
