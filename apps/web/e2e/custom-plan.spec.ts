// The placement map is a control: clicking cells makes a custom head/chunk mask, and a plan can
// change while an answer streams (the edge moves heads between tokens) without changing a token.
import { expect, test } from '@playwright/test';
import { PROMPT, collectErrors, expectSameTokens, readState, reference, sessionStats, waitReady, waitRun } from './helpers.ts';

test('clicking heads and chunks builds a custom plan that matches the reference', async ({ page, request }) => {
  const errors = collectErrors(page);
  await page.goto('/?plan=edge&max=10');
  await waitReady(page);
  const cell = (kind: 'head' | 'chunk', layer: number, i: number) =>
    page.locator(`.plan-grid .cell[data-kind="${kind}"][data-layer="${layer}"][data-index="${i}"]`);

  await cell('head', 0, 1).click();
  await cell('head', 1, 3).click();
  await cell('chunk', 1, 0).click();
  await expect(cell('head', 0, 1)).toHaveAttribute('data-side', 'cloud');
  await expect(cell('head', 0, 0)).toHaveAttribute('data-side', 'edge');
  await expect(page.getByRole('radio', { name: 'Custom' })).toHaveAttribute('aria-checked', 'true');
  const s = (await readState(page))!;
  expect(s.plan).toBe('custom:ecee/eeee.eeec/ceee');

  await page.getByRole('textbox', { name: 'Prompt' }).fill(PROMPT);
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.plan).toBe('custom:ecee/eeee.eeec/ceee');
  expectSameTokens(r.tokens, await reference(request, r.promptIds, 10), 10);
  expect((await sessionStats(request, s.session!))!.segments).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});

test('switching the plan mid-answer keeps every token exact', async ({ page, request }) => {
  const errors = collectErrors(page);
  const MAX = 40;
  await page.goto(`/?plan=edge&max=${MAX}`);
  await waitReady(page);
  // A few tokens on the edge alone, then everything to the cloud, then split. The page's token
  // event fires before the next forward pass, so each click applies to a known token.
  await page.evaluate(() => {
    const press = (name: string): void => (document.querySelector(`button[data-preset="${name}"]`) as HTMLButtonElement).click();
    window.addEventListener('splitwise:token', (e) => {
      const { index } = (e as CustomEvent<{ index: number }>).detail;
      if (index === 3) press('cloud');
      if (index === 11) press('half');
    });
  });
  await page.getByRole('textbox', { name: 'Prompt' }).fill(PROMPT);
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.tokens).toHaveLength(MAX);
  expect(r.plan).toBe('edge → cloud → half');
  expectSameTokens(r.tokens, await reference(request, r.promptIds, MAX), MAX);
  expect(errors).toEqual([]);
});
