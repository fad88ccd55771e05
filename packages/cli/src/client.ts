// `splitwise client`: generate with the edge here and the cloud on a splitwise server. Tokens go
// to stdout as they come; one JSON line of statistics goes to stderr at the end.
import { InvalidArgumentError } from 'commander';
import { generate, SplitwiseError, syncPointsPerForward, WIRE_PRECISIONS, type BackoffOptions, type Fallback, type QuantActivations, type RecoveryEvent, type WeightPrecision, type WirePrecision } from '@splitwise/core';
import { connectRemoteEdge } from './remote-edge.ts';
import { median, percentile, round } from './stats.ts';

export interface ClientOptions {
  server: string;
  /** Which of the server's models; absent: its default. */
  model?: string;
  prompt: string;
  plan: string;
  precision: string;
  maxNewTokens: number;
  threads?: number;
  token?: string;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  fallback: string;
  retries?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  retryFactor?: number;
  retryJitter?: number;
  timeoutMs?: number;
  /** Weight precision of the edge (quantized at load) and of the cloud (--cloud-weights, default the same). */
  weights?: WeightPrecision;
  cloudWeights?: WeightPrecision;
  activations?: QuantActivations;
}

export const FALLBACKS: readonly Fallback[] = ['edge-now', 'edge-after-retries', 'wait'];

/** One line per recovery event, for stderr. */
export function describeRecovery(e: RecoveryEvent): string {
  switch (e.type) {
    case 'failure':
      return e.retryInMs > 0
        ? `cloud call failed (attempt ${e.attempt}): ${e.error}; retrying in ${Math.round(e.retryInMs)} ms`
        : `cloud call failed (attempt ${e.attempt}): ${e.error}`;
    case 'reconnected':
      return `reconnected${e.worker ? ` to worker ${e.worker}` : ''}`;
    case 'fallback':
      return `running the cloud's share on the edge: ${e.reason}`;
    case 'restored':
      return 'the cloud is back: its share rebuilt from the partition checkpoint';
    case 'gave-up':
      return `gave up: ${e.error}`;
  }
}

export async function runClient(o: ClientOptions): Promise<void> {
  if (!(WIRE_PRECISIONS as readonly string[]).includes(o.precision)) throw new InvalidArgumentError(`--precision must be one of ${WIRE_PRECISIONS.join(', ')}`);
  if (!(FALLBACKS as readonly string[]).includes(o.fallback)) throw new InvalidArgumentError(`--fallback must be one of ${FALLBACKS.join(', ')}`);
  const backoff: BackoffOptions = {
    ...(o.retries !== undefined ? { maxAttempts: o.retries } : {}),
    ...(o.retryInitialMs !== undefined ? { initialMs: o.retryInitialMs } : {}),
    ...(o.retryMaxMs !== undefined ? { maxMs: o.retryMaxMs } : {}),
    ...(o.retryFactor !== undefined ? { factor: o.retryFactor } : {}),
    ...(o.retryJitter !== undefined ? { jitter: o.retryJitter } : {}),
  };
  const recovery: RecoveryEvent[] = [];
  const t0 = performance.now();
  let shown = -1;
  const r = await connectRemoteEdge({
    server: o.server,
    ...(o.model ? { model: o.model } : {}),
    plan: o.plan,
    precision: o.precision as WirePrecision,
    threads: o.threads,
    ...(o.weights ? { weights: o.weights } : {}),
    ...(o.cloudWeights ? { cloudWeights: o.cloudWeights } : {}),
    ...(o.activations ? { activations: o.activations } : {}),
    token: o.token,
    timeoutMs: o.timeoutMs,
    fallback: o.fallback as Fallback,
    backoff,
    onRecoveryEvent: (e) => {
      recovery.push(e);
      process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}[recovery +${((performance.now() - t0) / 1000).toFixed(2)}s] ${describeRecovery(e)}\n`);
    },
    onProgress: (file, got, total) => {
      const pct = Math.floor((100 * got) / total);
      if (process.stderr.isTTY && pct !== shown) process.stderr.write(`\rdownloading ${file}: ${(shown = pct)}%`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  // the one plan under which the prompt's and the answer's token ids leave this machine
  if (r.edge.plan.apiCloudOnly) process.stderr.write(`API cloud-only: token ids leave this device; ${o.server} sees every token of the prompt and the answer\n`);
  try {
    if (!r.tokenizer) throw new SplitwiseError('no_tokenizer', `${o.server} serves no tokenizer.json`);
    const prompt = r.tokenizer.encodePrompt(o.prompt), text = r.tokenizer.stream(prompt);
    process.stdout.write(o.prompt);
    const ms: number[] = [];
    let afterPrefill = { ...r.link.stats };
    for await (const t of generate(r.recovering, prompt, { ...o, eosTokenId: r.graph.config.eosTokenId })) {
      if (ms.length === 0) afterPrefill = { ...r.link.stats };
      ms.push(t.ms);
      process.stdout.write(text.push(t.id));
    }
    process.stdout.write('\n');
    const decode = ms.slice(1), n = Math.max(decode.length, 1), s = r.link.stats, net = r.link.snapshot();
    console.error(
      JSON.stringify({
        server: o.server,
        plan: o.plan,
        precision: o.precision,
        promptTokens: prompt.length,
        newTokens: ms.length,
        prefillMs: round(ms[0] ?? NaN, 1),
        decodeMsMedian: round(median(decode)),
        decodeMsP95: round(percentile(decode, 0.95)),
        syncPointsPerToken: syncPointsPerForward(r.edge.plan),
        bytesUpPerToken: round((s.bytesUp - afterPrefill.bytesUp) / n, 0),
        bytesDownPerToken: round((s.bytesDown - afterPrefill.bytesDown) / n, 0),
        rttMs: round(net.rttMs, 3),
        minRttMs: round(net.minRttMs, 3),
        bandwidthMbps: round(net.bandwidthBps / 1e6, 1),
        link: s,
        worker: r.link.worker,
        reconnects: r.link.reconnects,
        recoveryEvents: recovery.length,
        // the partition checkpoint: residual rows at every layer input, bounded by n_positions
        checkpointBytes: r.edge.checkpointBytes(),
        edgeKvBytes: r.edge.runner.kvBytes(),
        download: { bytes: r.download.bytes, ms: round(r.download.ms, 0) },
      }),
    );
  } finally {
    await r.close();
  }
}
