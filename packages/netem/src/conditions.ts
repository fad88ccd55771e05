// Network conditions over time: a schedule of phases, or a bandwidth trace (seconds, Mbit/s)
// as in the FCC and Norway 3G trace sets.

export interface Conditions {
  /** One-way delay added to every chunk, each direction, ms. */
  delayMs: number;
  /** Extra random one-way delay, uniform in [0, jitterMs] (order is kept). */
  jitterMs: number;
  /** Throughput limit per direction, bits/s; Infinity = none. */
  bandwidthBps: number;
  /** Hold all data (nothing delivered) while true: a stall window. */
  stall: boolean;
  /** Close every connection and refuse new ones while true: a cut. */
  cut: boolean;
}

export const UNLIMITED: Conditions = { delayMs: 0, jitterMs: 0, bandwidthBps: Infinity, stall: false, cut: false };

export interface Phase extends Partial<Conditions> {
  /** Milliseconds from the start of the schedule when this phase begins. */
  at: number;
}

export interface Schedule {
  phases: Phase[];
  /** Start again from the first phase after this many ms (0/undefined = hold the last phase). */
  loopMs?: number;
}

/** The conditions in force at `t` ms: each phase overrides what it names, on top of the previous. */
export function conditionsAt(s: Schedule, t: number): Conditions {
  const time = s.loopMs ? t % s.loopMs : t;
  let c = { ...UNLIMITED };
  for (const p of [...s.phases].sort((a, b) => a.at - b.at)) {
    if (p.at > time) break;
    const { at: _at, ...rest } = p;
    c = { ...c, ...rest };
  }
  return c;
}

/**
 * A schedule from a bandwidth trace: lines "seconds<TAB or space>Mbit/s". `base` supplies the
 * delay and jitter (traces carry no RTT).
 */
export function scheduleFromTrace(text: string, base: Partial<Conditions> = {}): Schedule {
  const phases: Phase[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2) continue;
    const [t, mbps] = [Number(f[0]), Number(f[1])];
    if (!Number.isFinite(t) || !Number.isFinite(mbps) || mbps < 0) throw new Error(`bad trace line "${line}"`);
    phases.push({ ...base, at: t * 1000, bandwidthBps: mbps * 1e6 });
  }
  if (phases.length === 0) throw new Error('trace has no samples');
  const first = phases[0]!.at;
  for (const p of phases) p.at -= first;
  return { phases, loopMs: phases.at(-1)!.at + 1000 };
}
