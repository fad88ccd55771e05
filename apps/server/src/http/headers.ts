// Headers on every response. COOP + COEP make the page crossOriginIsolated, which onnxruntime-web
// needs for SharedArrayBuffer and so WASM threads. Under COEP require-corp every subresource must
// opt in: model files and the API say CORP cross-origin (they are public and read-only, and a page
// served by a dev server on another port may fetch them); everything else is same-origin.
// CORS (fetch from another origin) follows the origin policy.
import type { NextFunction, Request, Response } from 'express';
import type { OriginCheck } from '../origin.ts';

const SHARED = /^\/(models|api)\//;

export function isolationHeaders(allowed: OriginCheck) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    const shared = SHARED.test(req.path);
    res.setHeader('Cross-Origin-Resource-Policy', shared ? 'cross-origin' : 'same-origin');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const origin = req.headers.origin;
    if (shared && origin !== undefined && allowed(origin, req.headers.host)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', 'Content-Length, ETag');
      res.append('Vary', 'Origin');
    }
    next();
  };
}
