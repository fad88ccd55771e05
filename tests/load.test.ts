// The load test's short form in CI (scripts/load.ts; `npm run load` for 8 clients x 20 s, `--long`
// for 32 clients x 5 min, `--ramp` to find the breaking point): 8 headless edges generating at once
// against one server process. Every answer equals the reference, no call fails, and every session
// is freed when its client disconnects.
import { describe, expect, it } from 'vitest';
import { runLoad, SHORT_LOAD } from '../scripts/load.ts';

describe('load (short form)', () => {
  it('8 edge clients x 15 s: exact answers, no errors, sessions freed on disconnect', async () => {
    const report = await runLoad({ ...SHORT_LOAD, steps: [8], stepSeconds: 15, log: () => undefined });
    const s = report.steps[0]!;
    console.log(`load figures: ${JSON.stringify({ step: s, sessions: report.sessions, rssMiB: report.memory.map((m) => m.rssMiB) })}`);
    expect(report.failures).toEqual([]);
    expect(s.tokens).toBeGreaterThan(100);
    expect(s.answers).toBeGreaterThan(0);
    expect(s.wrong).toBe(0);
    expect(s.errors).toEqual({});
    expect(report.sessions.atEnd).toBe(0);
    expect(report.sessions.closed).toBe(report.sessions.opened);
  });
});
