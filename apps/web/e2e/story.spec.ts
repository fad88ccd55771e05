// The shipped model in the browser: stories260K (LLaMA with grouped-query attention) writes the
// story upstream's llama2.c writes, token for token, whether the page runs it alone, leaves it all
// to the cloud, or splits every layer by KV groups and FFN chunks; and the split's logits equal the
// server's monolithic graph and llama2.c's own within 1e-4.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { HookWindow } from '../src/hook-types.ts';
import { collectErrors, readState, waitReady, waitRun } from './helpers.ts';

const upstream = JSON.parse(readFileSync(new URL('../../../packages/checkpoint/src/__fixtures__/llama2c-stories260K-greedy.json', import.meta.url), 'utf8')) as {
  promptIds: number[];
  generatedIds: number[];
  text: string;
  lastPromptLogits: number[];
};
const MAX = 40;
const OPENING = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';

for (const plan of ['edge', 'cloud', 'half']) {
  test(`story model, plan ${plan}: writes upstream's story`, async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto(`/?model=stories260K&plan=${plan}&max=${MAX}&autorun=1`);
    await waitReady(page);
    const r = await waitRun(page);
    expect(r.promptIds).toEqual(upstream.promptIds); // the default prompt, with BOS, tokenized as llama2.c does
    expect(r.tokens).toEqual(upstream.generatedIds.slice(0, MAX));
    expect(r.prompt + r.text).toBe(upstream.text.slice(0, (r.prompt + r.text).length));
    expect(r.prompt + r.text).toContain(OPENING);
    // the transcript shows it
    await expect(page.locator('body')).toContainText(OPENING.slice('Once upon a time'.length));
    if (plan === 'half') await expect(page.getByText(/KV groups \(4\)/)).toBeVisible();
    expect((await readState(page))!.model).toMatchObject({ family: 'llama', nHead: 8, nKvHead: 4, attnUnits: 4 });
    expect(errors).toEqual([]);
  });
}

test('story model in Chromium: split logits equal the monolithic graph and llama2.c within 1e-4', async ({ page, request }) => {
  await page.goto('/?model=stories260K&plan=half');
  await waitReady(page);
  const ids = upstream.promptIds;
  const res = await request.get(`/api/reference/logits?model=stories260K&ids=${ids.join(',')}`);
  expect(res.ok(), await res.text()).toBe(true);
  const mono = ((await res.json()) as { logits: number[] }).logits;
  const diff = (a: number[], b: number[]): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
  for (const plan of ['edge', 'cloud', 'half', 'random:3', 'random:8']) {
    const got = await page.evaluate(([x, p]) => (globalThis as HookWindow).__splitwise!.logits(x, p), [ids, plan] as const);
    expect(got).toHaveLength(512);
    expect(diff(got, mono), `plan ${plan} vs the monolithic graph`).toBeLessThan(1e-4);
    expect(diff(got, upstream.lastPromptLogits), `plan ${plan} vs llama2.c`).toBeLessThan(1e-4);
  }
});

test('story model: switching the plan mid-answer (KV groups move, their caches rebuilt) keeps every token', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(`/?model=stories260K&plan=edge&max=${MAX}`);
  await waitReady(page);
  await page.evaluate(() => {
    const press = (name: string): void => (document.querySelector(`button[data-preset="${name}"]`) as HTMLButtonElement).click();
    window.addEventListener('splitwise:token', (e) => {
      const { index } = (e as CustomEvent<{ index: number }>).detail;
      if (index === 5) press('half');
      if (index === 17) press('cloud');
      if (index === 29) press('half');
    });
  });
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.plan).toBe('edge → half → cloud → half');
  expect(r.tokens).toEqual(upstream.generatedIds.slice(0, MAX));
  expect(errors).toEqual([]);
});
