// The Node side of the transformers.js peer in `npm run bench:e2e`: export the benchmark's model
// folder to transformers.js's layout (onnx/model.onnx, fp32), build ./main.ts with Vite, and serve
// the page, the model and transformers.js's own onnxruntime-web WASM files from one local HTTP
// server with COOP/COEP (cross-origin isolated: SharedArrayBuffer, hence WASM threads), so the
// page fetches nothing from a CDN or the hub. Also: what a page holds in memory, read the same way
// for our edge page and the peer's.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { basename, dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { build } from 'vite';
import { exportTransformersJs, type TransformersJsExport } from '@splitwise/cli/export-transformersjs';

const PAGE_DIR = fileURLToPath(new URL('.', import.meta.url));

/** The onnxruntime-web build that transformers.js imports in the browser ('onnxruntime-web/webgpu': the asyncify WASM). */
export const PEER_ORT_WASM = { mjs: 'ort-wasm-simd-threaded.asyncify.mjs', wasm: 'ort-wasm-simd-threaded.asyncify.wasm' };

export interface TransformersJsPeer {
  /** The page's URL (the server's root). */
  url: string;
  /** The model's folder name under /models/ (PeerLoadRequest.model). */
  model: string;
  exported: TransformersJsExport;
  /** PeerLoadRequest.wasmPaths. */
  wasmPaths: { mjs: string; wasm: string };
  /** @huggingface/transformers and the onnxruntime-web it depends on, from their package.json. */
  version: string;
  ortVersion: string;
  close(): Promise<void>;
}

/** The onnxruntime-web folder that @huggingface/transformers resolves (its own copy when npm nested one). */
async function transformersPackages(): Promise<{ version: string; ortDist: string; ortVersion: string }> {
  const require = createRequire(import.meta.url);
  let root = dirname(require.resolve('@huggingface/transformers'));
  while (!existsSync(join(root, 'package.json'))) root = dirname(root);
  const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const ortDist = dirname(createRequire(join(root, 'package.json')).resolve('onnxruntime-web'));
  const ortVersion = (JSON.parse(await readFile(join(ortDist, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return { version, ortDist, ortVersion };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.css': 'text/css',
};

/**
 * Export `modelDir` for transformers.js into `workDir`, build the page there, and serve both.
 * Each call re-exports, so the peer always runs the weights the edge page runs.
 */
export async function startTransformersJsPeer(modelDir: string, workDir: string): Promise<TransformersJsPeer> {
  const model = basename(modelDir).replace(/[^\w.-]/g, '_') || 'model';
  const modelsDir = join(workDir, 'models'), pageDist = join(workDir, 'page');
  const exported = await exportTransformersJs(modelDir, join(modelsDir, model));
  await build({
    configFile: false,
    root: PAGE_DIR,
    logLevel: 'warn',
    build: { outDir: pageDist, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
  });
  const { version, ortDist, ortVersion } = await transformersPackages();

  const routes: Array<[prefix: string, dir: string]> = [
    ['/models/', modelsDir],
    ['/ort/', ortDist],
    ['/', pageDist],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [prefix, dir] = routes.find(([p]) => path.startsWith(p))!;
    const file = normalize(join(dir, path === '/' ? 'index.html' : path.slice(prefix.length)));
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' };
    if (!(file + sep).startsWith(normalize(dir + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    model,
    exported,
    wasmPaths: { mjs: `/ort/${PEER_ORT_WASM.mjs}`, wasm: `/ort/${PEER_ORT_WASM.wasm}` },
    version,
    ortVersion,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

export interface PageMemory {
  /**
   * performance.measureUserAgentSpecificMemory() after a forced GC: everything the page holds in
   * JS heaps and ArrayBuffers, WASM memories (onnxruntime-web's weights, arena and KV cache) and
   * its workers included. Needs cross-origin isolation; undefined if the browser refused.
   */
  bytes?: number;
  /** The main thread's V8 heap in use (CDP Performance.getMetrics JSHeapUsedSize), after the same GC. */
  jsHeapUsedBytes?: number;
  error?: string;
}

/** What `page` holds in memory now (Chromium; launch it with --enable-blink-features=ForceEagerMeasureMemory so the answer does not wait for a GC). */
export async function pageMemory(page: Page): Promise<PageMemory> {
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('Performance.enable');
    const { metrics } = await cdp.send('Performance.getMetrics');
    const jsHeapUsedBytes = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value;
    const measured = await page.evaluate(async () => {
      const p = performance as unknown as { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> };
      if (!p.measureUserAgentSpecificMemory) return { error: 'performance.measureUserAgentSpecificMemory is unavailable' };
      try {
        return { bytes: (await p.measureUserAgentSpecificMemory()).bytes };
      } catch (e) {
        return { error: String(e) };
      }
    });
    return { ...measured, ...(jsHeapUsedBytes !== undefined ? { jsHeapUsedBytes } : {}) };
  } finally {
    await cdp.detach();
  }
}
