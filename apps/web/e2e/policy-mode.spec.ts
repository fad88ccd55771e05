// Policy mode in the chat page: the best measured method (the Lyapunov DPP rule over layer cuts x
// wire precisions, with switching costs; the learned ONNX policies lose to it, docs/POLICY.md) picks
// the plan and wire precision in the browser before each request, from the network the page
// measures, names itself, and decides again mid-answer when the network moves. The page reaches the server through the
// project's network emulator (a real TCP proxy), so the test can move the network under it.
import { copyFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { NetemProxy } from '@splitwise/netem';
import type { HookWindow } from '../src/hook-types.ts';
import { PROMPT, collectErrors, readState, sessionStats, waitReady, waitRun } from './helpers.ts';
import { freePort, startServer } from './server.ts';

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

test('the named method decides in the browser before each request, and the page shows what it saw', async ({ page, baseURL }) => {
  const errors = collectErrors(page);
  const proxy = await NetemProxy.listen({ target: origin(baseURL) });
  try {
    await page.goto(`${proxy.url}/?plan=policy&max=12`);
    await waitReady(page);
    await waitDecision(page);
    let s = (await readState(page))!;
    expect(s.plan).toBe('policy');
    expect(s.policy!.error).toBeUndefined();
    // the learned policy loses to the DPP rule, so the page uses the rule and says so
    expect(s.policy!.method).toContain('Lyapunov DPP, exact over heads, FFN chunks and layer cuts × precision');
    expect(s.policy!.method).toContain('token ids stay on this device');
    expect(s.policy!.method).toContain('learned policy not used');
    expect(s.policy!.mapped).toBe(false);
    expect(s.policy!.modelLayers).toBe(2);
    const first = s.policy!.last!;
    expect(first.reason).toBe('the policy plan was chosen');
    expect(first.seen.rttMs).toBeGreaterThan(0);
    expect(first.seen.downMbps).toBeGreaterThan(0); // from the page's own timed upload
    expect(first.ms).toBeGreaterThanOrEqual(0);
    expect(first.edgeLayers).toBeGreaterThanOrEqual(0);
    expect(first.edgeLayers).toBeLessThanOrEqual(2);
    expect(first.switched).toBe(false); // nothing was in place before the first decision
    // the server reports its load in every probe's reply, and the method prices it
    expect(first.seen.cloudLoad).toBeGreaterThanOrEqual(0);
    expect(first.seen.cloudLoad).toBeLessThanOrEqual(0.95);
    expect(first.seen.cloudSlowdown).toBeCloseTo(1 / (1 - first.seen.cloudLoad!), 9);
    // this server batches and says so: no congestion toll
    expect(first.seen.cloudBatching).toBe(true);
    expect(first.seen.cloudToll).toBe(0);
    expect(first.seen.cloudPricedSlowdown).toBe(first.seen.cloudSlowdown);
    expect(s.precision).toBe(first.precision);
    await expect(page.getByRole('radio', { name: 'Policy' })).toHaveAttribute('aria-checked', 'true');
    await expect(page.getByTestId('policy-box')).toContainText('Chose');
    await expect(page.getByTestId('policy-box')).toContainText('RTT');
    await expect(page.getByTestId('policy-box')).toContainText('cloud load');
    await expect(page.getByTestId('policy-box')).not.toContainText('server does not batch');
    await expect(page.getByTestId('policy-box')).toContainText('Lyapunov DPP, exact over heads, FFN chunks and layer cuts × precision, with switching costs');
    expect(first.api).toBe(false);
    await expect(page.locator('[data-notice="token-ids-leave"]')).toBeHidden();

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

test('with too little memory the method must send every layer to the cloud, and it re-decides when the network moves mid-answer', async ({ page, baseURL, request }) => {
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
    expect(s.policy!.last!.masked).toBe(s.policy!.modelLayers); // no edge cut fits
    expect(s.policy!.last!.edgeLayers).toBe(0);

    // the network gets slow: 60 ms each way, 4 Mbit/s. RTT probes (each second) and the tensors
    // crossing show it; the page decides again before the answer ends.
    proxy.setSchedule({ phases: [{ at: 0, delayMs: 60, bandwidthBps: 4e6 }] });
    const r = await waitRun(page, 1, 90_000);
    expect(r.tokens).toHaveLength(MAX);
    s = (await readState(page))!;
    const moved = s.policy!.log.filter((e) => e.reason.startsWith('the network moved mid-answer'));
    expect(moved.length).toBeGreaterThanOrEqual(1);
    expect(moved.every((e) => e.fraction === 1)).toBe(true); // memory still rules
    expect(s.policy!.last!.switched).toBe(false); // the plan in place is kept: nothing to rebuild
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

test('on the shipped LLaMA story model (stories260K: 5 layers, 4 KV groups) the method decides from its own graph and the answer runs under its plan', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?model=stories260K&plan=policy&max=12');
  await waitReady(page);
  await waitDecision(page);
  let s = (await readState(page))!;
  expect(s.policy!.modelLayers).toBe(5);
  expect(s.policy!.method).toContain('Lyapunov DPP');
  expect(s.policy!.trainedFor).toContain('5 layers, 4 attention units per layer'); // the LLaMA graph's KV groups
  const first = s.policy!.last!;
  expect(first.edgeLayers).toBeGreaterThanOrEqual(0);
  expect(first.edgeLayers).toBeLessThanOrEqual(5);
  expect(first.fraction).toBeCloseTo((5 - first.edgeLayers!) / 5, 9);
  await page.getByRole('textbox', { name: 'Prompt' }).fill('Once upon a time');
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.tokens).toHaveLength(12);
  s = (await readState(page))!;
  expect(s.policy!.log.map((e) => e.reason)).toContain('before the request');
  expect(r.precision).toBe(s.policy!.last!.precision);
  expect(typeof s.policy!.last!.switchMs).toBe('number');
  expect(s.policy!.lastRequest!.predictedMs).toBeGreaterThan(0);
  await expect(page.getByTestId('policy-box')).toContainText(/of 5 layers (wholly )?on the edge/);
  expect(errors).toEqual([]);
});

test('with quantized weights (?weights=q4&cloudWeights=fp32) the method prices them: the edge keeps the LM head at q4, so its answers carry their KL', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?model=stories260K&plan=policy&max=8&weights=q4&cloudWeights=fp32');
  await waitReady(page);
  await waitDecision(page);
  let s = (await readState(page))!;
  expect(s.policy!.weights).toBe('edge q4 · cloud fp32');
  await expect(page.getByTestId('policy-box')).toContainText('weights priced as the page runs them (edge q4 · cloud fp32)');
  await page.getByRole('textbox', { name: 'Prompt' }).fill('Once upon a time');
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.tokens).toHaveLength(8);
  s = (await readState(page))!;
  // the story model's measured q4 KL (0.10 with every weight at q4) on the edge's share: the LM head at least
  expect(s.policy!.lastRequest!.accuracyLoss).toBeGreaterThan(1e-4);
  expect(s.policy!.lastRequest!.accuracyLoss).toBeLessThanOrEqual(0.101 + 1e-3);
  expect(errors).toEqual([]);
});

test('a session whose cloud runs at quantized weights is not batched, so the method prices the congestion toll even on a batching server', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?model=stories260K&plan=policy&max=8&cloudWeights=int8');
  await waitReady(page);
  await waitDecision(page);
  const s = (await readState(page))!;
  expect(s.policy!.weights).toBe('edge fp32 · cloud int8');
  const seen = s.policy!.last!.seen;
  expect(seen.cloudBatching).toBe(false);
  expect(seen.cloudToll).toBeGreaterThanOrEqual(0);
  expect(seen.cloudPricedSlowdown).toBeCloseTo(1 + (1 + seen.cloudToll!) * (seen.cloudSlowdown! - 1), 9);
  await expect(page.getByTestId('policy-box')).toContainText('server does not batch');
  expect(errors).toEqual([]);
});

test('with ?ids=send the method may choose API cloud-only; when it does, the page says that token ids leave the device', async ({ page }) => {
  const errors = collectErrors(page);
  // 1 MB for the model: no layer fits on the edge, so the choice is checkpointed cloud-only (the
  // edge keeps embeddings and LM head, ships residual rows) or API cloud-only (ids up, logits down)
  await page.goto('/?plan=policy&max=12&memory=1&ids=send');
  await waitReady(page);
  await waitDecision(page);
  let s = (await readState(page))!;
  expect(s.policy!.method).toContain('API cloud-only');
  expect(s.policy!.method).toContain('token ids may go to the server');
  expect(s.policy!.last!.api).toBe(true);
  await expect(page.locator('[data-notice="token-ids-leave"]')).toBeVisible();
  await expect(page.getByTestId('policy-box')).toContainText('API cloud-only: the token ids go to the server');
  await page.getByRole('textbox', { name: 'Prompt' }).fill(PROMPT);
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.tokens).toHaveLength(12);
  s = (await readState(page))!;
  expect(s.policy!.last!.api).toBe(true);
  await expect(page.locator('[data-notice="token-ids-leave"]')).toBeVisible();
  expect(errors).toEqual([]);
});

test('on a server that does not batch, the method prices a congestion toll on the load other Policy pages put on it, in proportion to their share', async ({ page, context }) => {
  const server = await startServer(await freePort(), ['--no-batching']);
  const busy = await context.newPage();
  try {
    const errors = collectErrors(page);
    await page.goto(`${server.url}/?plan=policy&max=12`);
    await waitReady(page);
    await waitDecision(page);
    const first = (await readState(page))!.policy!.last!;
    expect(first.seen.cloudBatching).toBe(false);
    expect(first.seen.cloudToll).toBeGreaterThanOrEqual(0);
    expect(first.seen.cloudPricedSlowdown).toBeCloseTo(1 + (1 + first.seen.cloudToll!) * (first.seen.cloudSlowdown! - 1), 9);
    await expect(page.getByTestId('policy-box')).toContainText('congestion toll');
    expect((await readState(page))!.policy!.method).toContain('on a server that does not batch, the fitted congestion toll (v4) in proportion to the share of the others\' load that prices it too');

    // another Policy page keeps the server's layers busy (1 MB of memory: every layer on the cloud),
    // answer after answer; it tells the server that it prices congestion too
    await busy.goto(`${server.url}/?plan=policy&memory=1&max=64`);
    await waitReady(busy);
    await busy.evaluate(() => {
      const w = globalThis as HookWindow;
      const loop = async (): Promise<void> => {
        for (let i = 0; i < 40; i++) await w.__splitwise!.run({ prompt: 'The cloud is busy' });
      };
      void loop();
    });
    await busy.waitForFunction(() => ((globalThis as HookWindow).__splitwise?.state.last?.tokens.length ?? 0) >= 32);
    await page.waitForTimeout(2500); // a few probe replies that report the other page's requests
    await page.getByRole('textbox', { name: 'Prompt' }).fill(PROMPT);
    await page.getByRole('button', { name: 'Generate' }).click();
    const r = await waitRun(page);
    expect(r.tokens).toHaveLength(12);
    const s = (await readState(page))!.policy!;
    expect(s.log.map((e) => e.reason)).toContain('before the request');
    // the last decision (before the request, or mid-answer as the load moved) saw the other page's
    // load, still running, all of it from a session that prices congestion, and priced the toll on it
    const seen = s.last!.seen;
    expect(seen.cloudBatching).toBe(false);
    expect(seen.cloudSlowdown).toBeGreaterThan(1);
    expect(seen.cloudPricingShare).toBeGreaterThan(0.9);
    expect(seen.cloudToll).toBeGreaterThan(0);
    expect(seen.cloudPricedSlowdown).toBeCloseTo(1 + (1 + seen.cloudToll!) * (seen.cloudSlowdown! - 1), 9);
    expect(seen.cloudPricedSlowdown).toBeGreaterThan(seen.cloudSlowdown!);
    await expect(page.getByTestId('policy-box')).toContainText('server does not batch');
    expect(errors).toEqual([]);
  } finally {
    await busy.close();
    await server.stop();
  }
});

test('on a batching server the method prices each request the others hold at what the server measures it costs: 1 + beta L', async ({ page, context }) => {
  const errors = collectErrors(page);
  // two other pages keep the default (batching) server's layers busy at once, so their steps share runs
  const busy = await Promise.all([0, 1].map(() => context.newPage()));
  try {
    for (const b of busy) {
      await b.goto('/?plan=cloud&max=64');
      await waitReady(b);
    }
    await Promise.all(busy.map((b) => b.evaluate(() => {
      const w = globalThis as HookWindow;
      const loop = async (): Promise<void> => {
        for (let i = 0; i < 40; i++) await w.__splitwise!.run({ prompt: 'The cloud is busy' });
      };
      void loop();
    })));
    await Promise.all(busy.map((b) => b.waitForFunction(() => ((globalThis as HookWindow).__splitwise?.state.last?.tokens.length ?? 0) >= 32)));
    await page.goto('/?plan=policy&max=12');
    await waitReady(page);
    await waitDecision(page);
    await page.waitForTimeout(1500); // probe replies that report the other pages' requests
    await page.getByRole('textbox', { name: 'Prompt' }).fill(PROMPT);
    await page.getByRole('button', { name: 'Generate' }).click();
    const r = await waitRun(page);
    expect(r.tokens).toHaveLength(12);
    const seen = (await readState(page))!.policy!.last!.seen;
    expect(seen.cloudBatching).toBe(true);
    expect(seen.cloudHeld).toBeGreaterThan(0);
    // beta from the batcher's run times (what each extra row of a batched run costs, over a run of
    // one row; how much less than 1 depends on the model and the machine: tests/cloud-load.test.ts)
    expect(seen.cloudContention).toBeGreaterThanOrEqual(0);
    expect(seen.cloudContention).toBeLessThanOrEqual(1);
    expect(seen.cloudSlowdown).toBeCloseTo(Math.min(20, 1 + seen.cloudContention! * seen.cloudHeld!), 9);
    expect(seen.cloudToll).toBe(0);
    expect(seen.cloudPricedSlowdown).toBe(seen.cloudSlowdown);
    await expect(page.getByTestId('policy-box')).toContainText('as the server measures it');
    expect(errors).toEqual([]);
  } finally {
    await Promise.all(busy.map((b) => b.close()));
  }
});
