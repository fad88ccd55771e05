// Policy mode in the chat page: the Splitwise policy (ONNX on onnxruntime-web) picks the plan and
// wire precision in the browser before each request, from the network the page measures, and
// decides again mid-answer when the network moves. The page reaches the server through the
// project's network emulator (a real TCP proxy), so the test can move the network under it.
import { copyFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { NetemProxy } from '@splitwise/netem';
import type { HookWindow } from '../src/hook-types.ts';
import { PROMPT, collectErrors, readState, sessionStats, waitReady, waitRun } from './helpers.ts';

const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url));

/** Wait for the policy's first decision (or its error, to fail with the page's own message). */
async function waitDecision(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const p = (globalThis as HookWindow).__splitwise?.state.policy;
    return (p?.decisions ?? 0) >= 1 || p?.error;
  });
  expect((await readState(page))!.policy!.error).toBeUndefined();
}

const origin = (baseURL: string | undefined): { host: string; port: number } => {
  const u = new URL(baseURL!);
  return { host: u.hostname, port: Number(u.port) };
};

test('the policy decides in the browser before each request, and the page shows what it saw', async ({ page, baseURL }) => {
  const errors = collectErrors(page);
  const proxy = await NetemProxy.listen({ target: origin(baseURL) });
  try {
    await page.goto(`${proxy.url}/?plan=policy&max=12`);
    await waitReady(page);
    await waitDecision(page);
    let s = (await readState(page))!;
    expect(s.plan).toBe('policy');
    expect(s.policy!.error).toBeUndefined();
    expect(s.policy!.mapped).toBe(true); // the nearest shipped policy is the page's gpt2 one (12 layers)
    expect(s.policy!.trainedLayers).toBe(12);
    expect(s.policy!.modelLayers).toBe(2);
    const first = s.policy!.last!;
    expect(first.reason).toBe('the policy plan was chosen');
    expect(first.seen.rttMs).toBeGreaterThan(0);
    expect(first.seen.downMbps).toBeGreaterThan(0); // from the page's own timed upload
    expect(first.ms).toBeGreaterThan(0);
    expect(s.precision).toBe(first.precision);
    await expect(page.getByRole('radio', { name: 'Policy' })).toHaveAttribute('aria-checked', 'true');
    await expect(page.getByTestId('policy-box')).toContainText('Chose');
    await expect(page.getByTestId('policy-box')).toContainText('RTT');

    // a request: the policy decides again first, and the virtual queues move after it
    await page.getByRole('textbox', { name: 'Prompt' }).fill(PROMPT);
    await page.getByRole('button', { name: 'Generate' }).click();
    const r = await waitRun(page);
    expect(r.tokens).toHaveLength(12);
    s = (await readState(page))!;
    expect(s.policy!.decisions).toBeGreaterThanOrEqual(2);
    expect(s.policy!.log.map((e) => e.reason)).toContain('before the request');
    expect(s.policy!.last!.seen.prompt).toBe(r.promptIds.length);
    expect(s.policy!.last!.seen.gen).toBe(12);
    expect(s.policy!.lastRequest!.energyJ).toBeGreaterThan(0);
    expect(r.precision).toBe(s.policy!.last!.precision);
    expect(errors).toEqual([]);
  } finally {
    await proxy.close();
  }
});

test('with too little memory the policy must send every layer to the cloud, and it re-decides when the network moves mid-answer', async ({ page, baseURL, request }) => {
  const errors = collectErrors(page);
  const proxy = await NetemProxy.listen({ target: origin(baseURL) });
  const MAX = 64;
  try {
    // 1 MB for the model: no edge share fits, so the memory mask leaves the policy cloud only
    await page.goto(`${proxy.url}/?plan=policy&max=${MAX}&memory=1`);
    await waitReady(page);
    await waitDecision(page);
    void page.evaluate(() => (globalThis as HookWindow).__splitwise!.run({ prompt: 'The network moves' }));
    await page.waitForFunction(() => ((globalThis as HookWindow).__splitwise?.state.last?.tokens.length ?? 0) >= 3);
    let s = (await readState(page))!;
    expect(s.policy!.log.map((e) => e.reason)).toContain('before the request');
    expect(s.policy!.log.every((e) => e.fraction === 1)).toBe(true);
    expect(s.policy!.last!.masked).toBe(16);

    // the network gets slow: 60 ms each way, 4 Mbit/s. RTT probes (each second) and the tensors
    // crossing show it; the page decides again before the answer ends.
    proxy.setSchedule({ phases: [{ at: 0, delayMs: 60, bandwidthBps: 4e6 }] });
    const r = await waitRun(page, 1, 90_000);
    expect(r.tokens).toHaveLength(MAX);
    s = (await readState(page))!;
    const moved = s.policy!.log.filter((e) => e.reason.startsWith('the network moved mid-answer'));
    expect(moved.length).toBeGreaterThanOrEqual(1);
    expect(moved.every((e) => e.fraction === 1)).toBe(true); // memory still rules
    await expect(page.getByTestId('policy-box')).toContainText('the network moved mid-answer');
    // the split card as a person sees it after the move: kept for the docs
    const shot = test.info().outputPath('policy-mode.png');
    await page.locator('.split-card').screenshot({ path: shot });
    await copyFile(shot, `${DOCS}screenshot-policy.png`);
    expect((await sessionStats(request, s.session!))!.segments).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  } finally {
    await proxy.close();
  }
});
