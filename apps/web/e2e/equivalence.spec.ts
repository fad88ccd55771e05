// Whatever the split, the page's greedy tokens equal the server's monolithic model's, and the
// cloud's own books show what crossed the wire.
import { expect, test } from '@playwright/test';
import type { HookWindow } from '../src/hook-types.ts';
import { PROMPT, collectErrors, expectSameTokens, readState, reference, sessionStats, waitReady, waitRun } from './helpers.ts';

const MAX = 12;
const PLANS = [
  { plan: 'edge', mixed: false },
  { plan: 'cloud', mixed: false },
  { plan: 'half', mixed: true }, // every layer split by heads and FFN chunks
  { plan: 'layers:1', mixed: false },
  { plan: 'random:5', mixed: true },
];

for (const { plan } of PLANS) {
  test(`plan ${plan}: greedy tokens equal the monolithic reference`, async ({ page, request }) => {
    const errors = collectErrors(page);
    await page.goto(`/?plan=${plan}&precision=fp32&max=${MAX}&prompt=${encodeURIComponent(PROMPT)}&autorun=1`);
    await waitReady(page);
    const r = await waitRun(page);
    expect(r.plan).toBe((await readState(page))!.plan);
    expect(r.promptIds.length).toBeGreaterThan(1);
    expect(r.tokens.length).toBeGreaterThan(0);
    expectSameTokens(r.tokens, await reference(request, r.promptIds, MAX), MAX);

    // the server's view of this session
    const s = (await readState(page))!;
    const row = await sessionStats(request, s.session!);
    expect(row, 'the session is live on the server').toBeDefined();
    if (plan === 'edge') {
      expect(row!.segments).toBe(0);
      expect(row!.bytesIn + row!.bytesOut).toBe(0);
      expect(r.bytesUp + r.bytesDown).toBe(0);
    } else {
      expect(row!.segments).toBeGreaterThan(0);
      expect(row!.bytesIn).toBeGreaterThan(0);
      expect(row!.bytesOut).toBeGreaterThan(0);
      // both ends count the same binary payload
      expect(row!.bytesIn).toBe(s.link.bytesUp);
      expect(row!.bytesOut).toBe(s.link.bytesDown);
    }
    expect(errors).toEqual([]);
  });
}

test('a mixed plan crosses the wire every token, and fp16/int8 shrink what crosses', async ({ page, request }) => {
  await page.goto(`/?plan=half&max=${MAX}`);
  await waitReady(page);
  const run = (precision: 'fp32' | 'fp16' | 'int8') =>
    page.evaluate((p) => (globalThis as HookWindow).__splitwise!.run({ prompt: 'Hello world', precision: p }), precision);
  const fp32 = await run('fp32');
  const fp16 = await run('fp16');
  const int8 = await run('int8');
  for (const r of [fp32, fp16, int8]) {
    expect(r.error).toBeUndefined();
    expect(r.tokens).toHaveLength(MAX);
  }
  // half plan on 2 layers: each forward pass is 4 cloud calls (2 mixed blocks per layer) + the reset
  expect(fp32.calls).toBe(1 + 4 * MAX);
  expectSameTokens(fp32.tokens, await reference(request, fp32.promptIds, MAX), MAX);
  // each row costs E*4 bytes in fp32, E*2 in fp16, E+4 in int8 (E = 64 here)
  expect(fp16.bytesUp / fp32.bytesUp).toBeCloseTo(0.5, 5);
  expect(int8.bytesUp / fp32.bytesUp).toBeCloseTo((64 + 4) / 256, 5);
  const row = await sessionStats(request, (await readState(page))!.session!);
  expect(row!.segments).toBe(3 * 4 * MAX);
});
