// The JSON API: health, live stats, the model's shape and files, and the reference continuation
// (the monolithic graph's greedy tokens) that end-to-end tests compare the page's output with.
import { Router, type Request, type Response } from 'express';
import { QUANT_ACTIVATIONS, WEIGHT_PRECISIONS, type QuantActivations, type WeightPrecision } from '@splitwise/core';
import { ProtocolError } from '@splitwise/protocol';
import type { CloudWeights, ModelHost, ModelHosts } from '../model-host.ts';
import type { ServerStats } from '../stats.ts';
import { listModelFiles } from './model-files.ts';

/** Most tokens one /api/reference call generates (each is a forward pass of the whole model). */
export const MAX_REFERENCE_TOKENS = 256;

const bad = (code: string, message: string): ProtocolError => new ProtocolError(code, message);

function intParam(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n) || n < 1) throw bad('malformed', `${name} must be a whole number >= 1`);
  return n;
}

function checkLength(model: ModelHost, promptLength: number, n: number): void {
  const ctx = model.graph.config.nPositions;
  if (promptLength < 1) throw bad('malformed', 'the prompt has no tokens');
  if (n > MAX_REFERENCE_TOKENS) throw bad('too_large', `n must be at most ${MAX_REFERENCE_TOKENS}`);
  if (promptLength + n > ctx) throw bad('too_large', `${promptLength} prompt tokens + ${n} new ones exceed the context of ${ctx}`);
}

/** ?model=<id> picks one of the server's models; absent: the default. */
const modelOf = (models: ModelHosts, req: Request): ModelHost => {
  const id = req.query.model;
  if (id !== undefined && typeof id !== 'string') throw bad('malformed', 'model must be given once');
  return models.get(id);
};

/** ?weights=fp32|int8|q4 (&activations=fp32|int8): the reference at that weight precision; absent: the model's own. */
function weightsOf(req: Request): CloudWeights {
  const { weights, activations } = req.query;
  if (weights !== undefined && !(typeof weights === 'string' && (WEIGHT_PRECISIONS as readonly string[]).includes(weights))) {
    throw bad('malformed', `weights must be one of ${WEIGHT_PRECISIONS.join(', ')}`);
  }
  if (activations !== undefined && !(typeof activations === 'string' && (QUANT_ACTIVATIONS as readonly string[]).includes(activations))) {
    throw bad('malformed', `activations must be one of ${QUANT_ACTIVATIONS.join(', ')}`);
  }
  return { ...(weights ? { weights: weights as WeightPrecision } : {}), ...(activations ? { activations: activations as QuantActivations } : {}) };
}

export function apiRouter(models: ModelHosts, stats: () => ServerStats): Router {
  const r = Router();

  r.get('/health', (_req, res) => {
    const s = stats();
    res.json({ ok: true, worker: s.worker, uptime: s.uptime, sessions: s.totals.sessions });
  });

  r.get('/stats', (_req, res) => {
    res.json(stats());
  });

  r.get('/models', (_req, res) => {
    res.json({ default: models.default.id, models: models.list.map((m) => m.summary()) });
  });

  r.get('/model', async (req, res) => {
    const model = modelOf(models, req);
    res.json({ id: model.id, config: model.graph.config, attnUnits: model.graph.attnUnits, ffnChunks: model.graph.ffnChunks, files: await listModelFiles(model.dir) });
  });

  r.get('/reference', async (req: Request, res: Response) => {
    const model = modelOf(models, req), c = model.graph.config;
    const raw = req.query.ids;
    if (typeof raw !== 'string' || !/^\d+(,\d+)*$/.test(raw)) throw bad('malformed', 'ids must be a comma-separated list of token ids');
    const ids = raw.split(',').map(Number);
    const bad_id = ids.find((id) => id >= c.vocabSize);
    if (bad_id !== undefined) throw bad('malformed', `token id ${bad_id} is outside [0, ${c.vocabSize})`);
    const n = intParam(req.query.n, 'n', 16);
    checkLength(model, ids.length, n);
    res.json({ tokens: await model.reference(ids, n, weightsOf(req)) });
  });

  // the monolithic graph's logits at the last of `ids`: what a split must equal to float tolerance
  r.get('/reference/logits', async (req: Request, res: Response) => {
    const model = modelOf(models, req), c = model.graph.config;
    const raw = req.query.ids;
    if (typeof raw !== 'string' || !/^\d+(,\d+)*$/.test(raw)) throw bad('malformed', 'ids must be a comma-separated list of token ids');
    const ids = raw.split(',').map(Number);
    if (ids.some((id) => id >= c.vocabSize)) throw bad('malformed', `token ids must be in [0, ${c.vocabSize})`);
    checkLength(model, ids.length, 1);
    res.json({ logits: Array.from(await model.referenceLogits(ids, weightsOf(req))) });
  });

  r.get('/reference/text', async (req: Request, res: Response) => {
    const model = modelOf(models, req);
    const prompt = req.query.prompt;
    if (typeof prompt !== 'string') throw bad('malformed', 'prompt must be given once, as text');
    const n = intParam(req.query.n, 'n', 16);
    const tok = await model.tokenizer();
    const promptIds = tok.encodePrompt(prompt); // as the page encodes it (LLaMA: with BOS)
    checkLength(model, promptIds.length, n);
    const tokens = await model.reference(promptIds, n);
    const stream = tok.stream(promptIds);
    res.json({ promptIds, tokens, text: tokens.map((t) => stream.push(t)).join('') });
  });

  return r;
}
