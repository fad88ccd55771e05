// The express app: isolation headers on everything, the API, the model files, the page.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { ProtocolError } from '@splitwise/protocol';
import { SplitwiseError } from '@splitwise/core';
import type { ModelHosts } from '../model-host.ts';
import type { OriginCheck } from '../origin.ts';
import type { ServerStats } from '../stats.ts';
import { apiRouter } from './api.ts';
import { isolationHeaders } from './headers.ts';
import { sendModelFile } from './model-files.ts';

const STATUS: Record<string, number> = { malformed: 400, too_large: 413, not_found: 404, unknown_model: 404, busy: 503 };

export function createApp(o: { models: ModelHosts; webDist?: string; allowed: OriginCheck; stats: () => ServerStats; log: Logger }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // JSON answers are live figures; model files set their own ETag
  app.use(isolationHeaders(o.allowed));
  app.use('/api', apiRouter(o.models, o.stats));
  // each model's files under its id; "default" is the first model
  app.get('/models/:model/:file', (req, res) => sendModelFile(o.models.get(String(req.params.model)).dir, req, res));
  if (o.webDist) app.use(express.static(o.webDist, { index: 'index.html' }));

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'not_found', message: `no route for ${req.method} ${req.path.slice(0, 200)}` } });
  });
  app.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const typed = e instanceof SplitwiseError;
    // express's own client errors (a bad %-escape in the path, ...) carry a 4xx status
    const status = (e as { status?: unknown }).status;
    const clientError = typeof status === 'number' && status >= 400 && status < 500;
    if (!typed && !clientError) o.log.error({ event: 'http_error', path: req.path, err: e });
    if (res.headersSent) return void res.destroy();
    const code = typed ? e.code : clientError ? 'malformed' : 'internal';
    res.status(e instanceof ProtocolError ? (STATUS[code] ?? 400) : typed ? 400 : clientError ? status : 500).json({
      error: { code, message: typed ? e.message : clientError ? 'bad request' : 'internal error' },
    });
  });
  return app;
}
