// The fuzz test's short form in CI (scripts/fuzz.ts; `npm run fuzz` for ~20 s, `--long` for the
// long form): 2,000 malformed, truncated, oversized, out-of-order and replayed messages against a
// server process. It must stay up, answer every acknowledged message with a well-formed reply or
// a typed error from the protocol's list, close only the connection of an oversized message, free
// every session, keep its RSS bounded, and keep serving a well-behaved edge the exact answer.
import { describe, expect, it } from 'vitest';
import { runFuzz, SHORT } from '../scripts/fuzz.ts';

describe('fuzz (short form)', () => {
  it('2,000 hostile messages: the server stays up, answers each with a typed error, memory bounded', async () => {
    const report = await runFuzz({ ...SHORT, messages: 2000, seconds: 60, seed: 42, log: () => undefined });
    console.log(`fuzz figures: ${JSON.stringify({ seconds: report.seconds, messages: report.messages, connections: report.connections, server: report.server, replies: report.replies })}`);
    expect(report.failures).toEqual([]);
    expect(report.messages.sent).toBeGreaterThanOrEqual(2000);
    expect(report.messages.unanswered).toBe(0);
    expect(report.replies['error:internal'] ?? 0).toBe(0);
    expect(report.server.sessionsAtEnd).toBe(0);
    expect(report.bystander.matchesReference).toBe(true);
  });
});
