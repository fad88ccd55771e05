// The browser edge (apps/web). Dev and preview send COOP/COEP so the page is cross-origin
// isolated (SharedArrayBuffer, hence onnxruntime-web threads) and proxy the cloud's endpoints to
// the Node server; in production the server itself serves apps/web/dist with those headers.
import { fileURLToPath } from 'node:url';
import { defineConfig, type ProxyOptions } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};
const server = process.env.SPLITWISE_SERVER ?? 'http://127.0.0.1:8080';
const proxy: Record<string, ProxyOptions> = {
  '/socket.io': { target: server, ws: true },
  '/api': { target: server },
  '/models': { target: server },
};

export default defineConfig({
  root: here('apps/web'),
  publicDir: here('public'),
  build: {
    outDir: here('apps/web/dist'),
    emptyOutDir: true,
    target: 'es2022',
    // onnxruntime-web's glue is one big chunk by nature; it loads on demand (dynamic import)
    chunkSizeWarningLimit: 1500,
  },
  server: { host: '127.0.0.1', port: 5173, headers: isolation, proxy },
  preview: { host: '127.0.0.1', port: 4173, headers: isolation, proxy },
});
