// The model is kept in browser storage: a reload reads no model bytes from the network.
import { expect, test } from '@playwright/test';
import { PROMPT, collectErrors, expectSameTokens, reference, waitReady, waitRun } from './helpers.ts';

test('a reload loads the model from browser storage, without requesting it', async ({ page, request }) => {
  const errors = collectErrors(page);
  const modelRequests: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/models/')) modelRequests.push(new URL(r.url()).pathname);
  });

  await page.goto('/?plan=half&max=8');
  const first = await waitReady(page);
  expect(first.fromCache).toBe(false);
  expect(modelRequests).toContain('/models/default/model.safetensors');

  modelRequests.length = 0;
  await page.reload();
  const second = await waitReady(page);
  expect(second.fromCache).toBe(true);
  expect(modelRequests, 'no model file crossed the network on reload').toEqual([]);
  await expect(page.locator('#model-source')).toHaveText(/Model loaded from browser storage/);
  expect(second.modelBytes).toBe(first.modelBytes);

  // and the stored model computes the same tokens
  await page.getByRole('textbox', { name: 'Prompt' }).fill(PROMPT);
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expectSameTokens(r.tokens, await reference(request, r.promptIds, 8), 8);
  expect(errors).toEqual([]);
});
