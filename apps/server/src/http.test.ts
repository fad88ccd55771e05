// The HTTP side: model files byte for byte with Content-Length and ETag, nothing else from disk
// (no path escapes, no symlinks), cross-origin isolation headers everywhere, the API.
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudServer, type CloudServer } from './index.ts';
import { TINY, tinyModelDir } from './test-support.ts';

let model: Awaited<ReturnType<typeof tinyModelDir>>;
let server: CloudServer;
const SECRET = 'not for the web\n';

/** A GET with the path sent exactly as written (fetch would normalise "..", "%2e%2e"). */
function rawGet(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  model = await tinyModelDir(5);
  await writeFile(join(model.root, 'secret.txt'), SECRET); // next to the model folder, not in it
  await writeFile(join(model.dir, 'notes.txt'), SECRET); // in it, but not a model file
  await rm(join(model.dir, 'merges.txt'));
  await symlink(join(model.root, 'secret.txt'), join(model.dir, 'merges.txt')); // an allowed name pointing outside
  await rm(join(model.dir, 'special_tokens_map.json'));
  await mkdir(join(model.dir, 'special_tokens_map.json')); // an allowed name that is a folder
  const web = join(model.root, 'web');
  await mkdir(web);
  await writeFile(join(web, 'index.html'), '<!doctype html><title>splitwise</title>');
  server = await createCloudServer({ modelDir: model.dir, port: 0, webDist: web, logLevel: 'silent' });
});

afterAll(async () => {
  await server?.close();
  await model?.cleanup();
});

describe('model files', () => {
  it('are served byte for byte, with Content-Length and an ETag that revalidates', async () => {
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'vocab.json']) {
      const r = await rawGet(`/models/default/${f}`);
      const disk = await readFile(join(model.dir, f));
      expect(r.status, f).toBe(200);
      expect(r.body.equals(disk), f).toBe(true);
      expect(Number(r.headers['content-length'])).toBe(disk.byteLength);
      expect(r.headers.etag).toMatch(/^"[0-9a-f-]+"$/);
      const again = await rawGet(`/models/default/${f}`, { 'If-None-Match': String(r.headers.etag) });
      expect(again.status).toBe(304);
      expect(again.body.byteLength).toBe(0);
    }
    const head = await rawGet('/models/default/model.safetensors', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(1_000_000);
  });

  it('nothing else: no path escapes, no symlinks, no folders, no other files', async () => {
    const refused = [
      '/models/default/../secret.txt',
      '/models/default/..%2Fsecret.txt',
      '/models/default/%2e%2e%2fsecret.txt',
      '/models/default/%2E%2E/secret.txt',
      '/models/default/..%5csecret.txt',
      '/models/default/%2Fetc%2Fpasswd',
      '/models/default//etc/passwd',
      '/models/default/' + encodeURIComponent(join(model.root, 'secret.txt')),
      '/models/default/notes.txt',
      '/models/default/merges.txt', // symlink to ../secret.txt
      '/models/default/special_tokens_map.json', // a folder
      '/models/default/',
      '/models/default/%',
      '/models/other/config.json',
      '/models/default/config.json%00.txt',
    ];
    for (const p of refused) {
      const r = await rawGet(p);
      expect([400, 403, 404], p).toContain(r.status);
      expect(r.body.toString(), p).not.toContain(SECRET.trim());
    }
  });

  it('/api/model lists the servable files with their sizes', async () => {
    const r = (await (await fetch(`${server.url}/api/model`)).json()) as { config: typeof TINY; ffnChunks: number; files: Array<{ name: string; bytes: number }> };
    expect(r.config.nEmbd).toBe(TINY.nEmbd);
    expect(r.ffnChunks).toBe(TINY.nHead);
    const names = r.files.map((f) => f.name);
    expect(names).toContain('model.safetensors');
    expect(names).not.toContain('merges.txt');
    expect(names).not.toContain('notes.txt');
    expect(names).not.toContain('special_tokens_map.json');
    const st = r.files.find((f) => f.name === 'model.safetensors')!;
    expect(st.bytes).toBe((await readFile(join(model.dir, 'model.safetensors'))).byteLength);
  });
});

describe('headers and the page', () => {
  it('every response is cross-origin isolated', async () => {
    for (const p of ['/', '/api/health', '/models/default/config.json', '/nope']) {
      const r = await rawGet(p);
      expect(r.headers['cross-origin-opener-policy'], p).toBe('same-origin');
      expect(r.headers['cross-origin-embedder-policy'], p).toBe('require-corp');
      expect(r.headers['cross-origin-resource-policy'], p).toBeDefined();
    }
    const page = await rawGet('/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('<title>splitwise</title>');
  });

  it('CORS only for allowed origins', async () => {
    const local = await rawGet('/api/health', { Origin: 'http://localhost:5173' });
    expect(local.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    const foreign = await rawGet('/api/health', { Origin: 'https://evil.example' });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('API', () => {
  it('reference continuations, and refusals of bad parameters', async () => {
    const r = (await (await fetch(`${server.url}/api/reference?ids=1,2,3&n=5`)).json()) as { tokens: number[] };
    expect(r.tokens).toHaveLength(5);
    expect(r.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < TINY.vocabSize)).toBe(true);
    const t = (await (await fetch(`${server.url}/api/reference/text?prompt=${encodeURIComponent('Hello world')}&n=3`)).json()) as { promptIds: number[]; tokens: number[]; text: string };
    expect(t.promptIds).toEqual([15496, 995]);
    const same = (await (await fetch(`${server.url}/api/reference?ids=15496,995&n=3`)).json()) as { tokens: number[] };
    expect(t.tokens).toEqual(same.tokens);
    expect(typeof t.text).toBe('string');
    for (const [q, status] of [
      ['ids=&n=2', 400],
      ['ids=1,x&n=2', 400],
      [`ids=${TINY.vocabSize}`, 400],
      ['ids=1&n=0', 400],
      ['ids=1&n=1.5', 400],
      [`ids=1&n=${TINY.nPositions}`, 413],
    ] as const) {
      const res = await fetch(`${server.url}/api/reference?${q}`);
      expect(res.status, q).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/malformed|too_large/);
    }
  });

  it('stats', async () => {
    const s = (await (await fetch(`${server.url}/api/stats`)).json()) as { sessions: unknown[]; totals: { sessions: number }; uptime: number; rssBytes: number };
    expect(s.sessions).toEqual([]);
    expect(s.totals.sessions).toBe(0);
    expect(s.rssBytes).toBeGreaterThan(0);
  });
});
