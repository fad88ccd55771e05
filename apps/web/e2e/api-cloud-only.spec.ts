// API cloud-only in Chromium: the page sends token ids and the server runs the embeddings, every
// layer and the LM head, as any LLM API does. The story model's tokens are the monolithic graph's
// (and llama2.c's), its logits within 1e-4, greedy answers bring back one logit a token, and the
// page says, visibly, that token ids leave the device while this plan is chosen.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { HookWindow } from '../src/hook-types.ts';
import { collectErrors, readState, waitReady, waitRun } from './helpers.ts';

const upstream = JSON.parse(readFileSync(new URL('../../../packages/checkpoint/src/__fixtures__/llama2c-stories260K-greedy.json', import.meta.url), 'utf8')) as {
  promptIds: number[];
  generatedIds: number[];
};
const MAX = 40;
const notice = '[data-notice="token-ids-leave"]';

test('story model, plan api: the monolithic graph\'s tokens, one logit a token down, and the notice that token ids leave the device', async ({ page, request }) => {
  const errors = collectErrors(page);
  await page.goto(`/?model=stories260K&plan=api&max=${MAX}&autorun=1`);
  await waitReady(page);
  await expect(page.locator(notice)).toBeVisible();
  await expect(page.locator(notice)).toContainText('Token ids leave this device');
  await expect(page.locator('button[data-preset="api"]')).toHaveAttribute('aria-checked', 'true');
  const r = await waitRun(page);
  expect(r.plan).toBe('api');
  const res = await request.get(`/api/reference?model=stories260K&ids=${r.promptIds.join(',')}&n=${MAX}`);
  expect(res.ok(), await res.text()).toBe(true);
  const mono = ((await res.json()) as { tokens: number[] }).tokens;
  expect(r.tokens).toEqual(mono);
  expect(r.tokens).toEqual(upstream.generatedIds.slice(0, MAX));
  // the sequence's reset, then one round trip a token: token ids up (4 bytes each), the top logit and its id down (8 bytes)
  expect(r.calls).toBe(1 + MAX);
  expect(r.bytesUp).toBe(4 * (r.promptIds.length + MAX - 1));
  expect(r.bytesDown).toBe(8 * MAX);
  expect(errors).toEqual([]);
});

test('story model in Chromium, plan api: logits within 1e-4 of the monolithic graph', async ({ page, request }) => {
  await page.goto('/?model=stories260K&plan=half');
  await waitReady(page);
  await expect(page.locator(notice)).toBeHidden(); // a split keeps the ids here
  const ids = upstream.promptIds;
  const res = await request.get(`/api/reference/logits?model=stories260K&ids=${ids.join(',')}`);
  expect(res.ok(), await res.text()).toBe(true);
  const mono = ((await res.json()) as { logits: number[] }).logits;
  const got = await page.evaluate((x) => (globalThis as HookWindow).__splitwise!.logits(x, 'api'), ids);
  expect(got).toHaveLength(512);
  expect(got.reduce((m, v, i) => Math.max(m, Math.abs(v - mono[i]!)), 0)).toBeLessThan(1e-4);
  expect((await readState(page))!.plan).toBe('api');
  await expect(page.locator(notice)).toBeVisible();
});

test('story model: the plan picker moves into and out of API cloud-only mid-answer, and every token stays', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(`/?model=stories260K&plan=edge&max=${MAX}`);
  await waitReady(page);
  await expect(page.locator(notice)).toBeHidden();
  await page.evaluate(() => {
    const press = (name: string): void => (document.querySelector(`button[data-preset="${name}"]`) as HTMLButtonElement).click();
    window.addEventListener('splitwise:token', (e) => {
      const { index } = (e as CustomEvent<{ index: number }>).detail;
      if (index === 5) press('api'); // the cloud replays the ids so far
      if (index === 17) press('half'); // the page replays them to rebuild its share
      if (index === 29) press('api');
    });
  });
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.plan).toBe('edge → api → half → api');
  expect(r.tokens).toEqual(upstream.generatedIds.slice(0, MAX));
  await expect(page.locator(notice)).toBeVisible();
  // choosing a split again hides it
  await page.locator('button[data-preset="half"]').click();
  await expect(page.locator(notice)).toBeHidden();
  expect(errors).toEqual([]);
});
