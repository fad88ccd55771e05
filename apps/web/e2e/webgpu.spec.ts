// The WebGPU path, for correctness only: headless Chromium gets an adapter only with
// --enable-unsafe-webgpu, and it is SwiftShader (software), hundreds of times slower than WASM.
import { expect, test } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH, WEBGPU_ARG } from './chromium.ts';
import { PROMPT, collectErrors, expectSameTokens, reference, waitReady, waitRun } from './helpers.ts';

test.use({ launchOptions: { executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, WEBGPU_ARG] } });

test('with a WebGPU adapter and ?backend=webgpu, a split plan still matches the reference', async ({ page, request }) => {
  test.setTimeout(240_000);
  const errors = collectErrors(page);
  const MAX = 3;
  await page.goto(`/?backend=webgpu&plan=half&max=${MAX}&prompt=${encodeURIComponent(PROMPT)}&autorun=1&store=0`);
  const s = await waitReady(page);
  expect(s.webgpuAvailable).toBe(true);
  expect(s.backend).toBe('webgpu');
  await expect(page.locator('[data-pill="backend"]')).toHaveText('WebGPU');
  const r = await waitRun(page, 1, 200_000);
  test.info().annotations.push({ type: 'webgpu ms/token', description: r.tokenMs.map((m) => m.toFixed(0)).join(', ') });
  expectSameTokens(r.tokens, await reference(request, r.promptIds, MAX), MAX);
  expect(errors).toEqual([]);
});
