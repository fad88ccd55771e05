// `splitwise netem`: the network emulator from the command line. A TCP proxy between the edge and
// the cloud that adds delay, jitter and a bandwidth limit, with stall and cut windows from a
// schedule file or a bandwidth trace. Point the client (or the page) at the proxy's port.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';
import { NetemProxy, scheduleFromTrace, type Conditions, type Phase, type Schedule } from '@splitwise/netem';

export interface NetemCliOptions {
  listen: string;
  target: string;
  host: string;
  delay?: number;
  jitter?: number;
  bandwidth?: number;
  schedule?: string;
  trace?: string;
  statsEvery: number;
}

const PHASE_KEYS = new Set(['at', 'delayMs', 'jitterMs', 'bandwidthBps', 'bandwidthMbps', 'stall', 'cut']);

/**
 * A schedule file: `{"phases": [{"at": ms, "delayMs"?, "jitterMs"?, "bandwidthMbps"? | "bandwidthBps"?,
 * "stall"?, "cut"?}, ...], "loopMs"?: ms}`. Each phase overrides what it names from `at` on.
 */
export function parseScheduleJson(text: string, base: Partial<Conditions> = {}): Schedule {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`schedule is not JSON: ${(e as Error).message}`);
  }
  const o = json as { phases?: unknown; loopMs?: unknown };
  if (!o || typeof o !== 'object' || !Array.isArray(o.phases)) throw new InvalidArgumentError('schedule needs a "phases" array');
  const num = (v: unknown, what: string, min = 0): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new InvalidArgumentError(`schedule: ${what} must be a number >= ${min}`);
    return v;
  };
  const phases: Phase[] = o.phases.map((p: unknown, i: number) => {
    if (!p || typeof p !== 'object') throw new InvalidArgumentError(`schedule: phase ${i} is not an object`);
    const q = p as Record<string, unknown>;
    for (const k of Object.keys(q)) if (!PHASE_KEYS.has(k)) throw new InvalidArgumentError(`schedule: phase ${i} has an unknown field "${k}"`);
    const out: Phase = { at: num(q.at, `phase ${i} at`) };
    if (q.delayMs !== undefined) out.delayMs = num(q.delayMs, `phase ${i} delayMs`);
    if (q.jitterMs !== undefined) out.jitterMs = num(q.jitterMs, `phase ${i} jitterMs`);
    if (q.bandwidthMbps !== undefined) out.bandwidthBps = num(q.bandwidthMbps, `phase ${i} bandwidthMbps`) * 1e6;
    if (q.bandwidthBps !== undefined) out.bandwidthBps = num(q.bandwidthBps, `phase ${i} bandwidthBps`);
    for (const k of ['stall', 'cut'] as const) {
      if (q[k] === undefined) continue;
      if (typeof q[k] !== 'boolean') throw new InvalidArgumentError(`schedule: phase ${i} ${k} must be true or false`);
      out[k] = q[k];
    }
    return out;
  });
  const loopMs = o.loopMs === undefined ? undefined : num(o.loopMs, 'loopMs', 1);
  // the command-line conditions hold from 0 unless a phase says otherwise
  return { phases: [{ at: 0, ...base }, ...phases], ...(loopMs ? { loopMs } : {}) };
}

export function parseTarget(spec: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError('--target must be HOST:PORT');
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export async function runNetem(o: NetemCliOptions): Promise<void> {
  const port = Number(o.listen);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('--listen must be a port (0 = any free one)');
  if (o.schedule && o.trace) throw new InvalidArgumentError('give --schedule or --trace, not both');
  const base: Partial<Conditions> = {
    ...(o.delay !== undefined ? { delayMs: o.delay } : {}),
    ...(o.jitter !== undefined ? { jitterMs: o.jitter } : {}),
    ...(o.bandwidth !== undefined ? { bandwidthBps: o.bandwidth * 1e6 } : {}),
  };
  const schedule: Schedule = o.trace
    ? scheduleFromTrace(await readFile(o.trace, 'utf8'), base)
    : o.schedule
      ? parseScheduleJson(await readFile(o.schedule, 'utf8'), base)
      : { phases: [{ at: 0, ...base }] };
  const target = parseTarget(o.target);
  const proxy = await NetemProxy.listen({ target, port, host: o.host, schedule });
  console.log(`splitwise netem: ${proxy.url} -> ${target.host}:${target.port}`);
  const show = (): void => {
    const c = proxy.conditions();
    console.error(JSON.stringify({ t: new Date().toISOString(), conditions: { ...c, bandwidthBps: Number.isFinite(c.bandwidthBps) ? c.bandwidthBps : null }, stats: proxy.stats }));
  };
  const timer = o.statsEvery > 0 ? setInterval(show, o.statsEvery * 1000) : undefined;
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  if (timer) clearInterval(timer);
  show();
  await proxy.close();
}
