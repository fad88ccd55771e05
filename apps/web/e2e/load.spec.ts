// The page loads the model with a visible progress bar, builds the edge on WASM (threads, since
// the server makes the page cross-origin isolated) and connects to the cloud.
import { expect, test } from '@playwright/test';
import type { HookWindow } from '../src/hook-types.ts';
import { collectErrors, waitReady } from './helpers.ts';

test('downloads the model with a progress bar and becomes ready on WASM with threads', async ({ page, request }) => {
  const errors = collectErrors(page);
  // remember every "x of y" the progress line showed (the download is quick on loopback)
  await page.addInitScript(() => {
    const seen: string[] = [];
    (globalThis as unknown as { __amounts: string[] }).__amounts = seen;
    document.addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('load-amount')!;
      new MutationObserver(() => seen.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
    });
  });
  await page.goto('/');
  await expect(page.getByRole('progressbar', { name: 'Model download' })).toBeVisible();
  const s = await waitReady(page);

  // progress counted every byte of the files the page loads (model-store.ts MODEL_FILES)
  const files = ((await (await request.get('/api/model')).json()) as { files: Array<{ name: string; bytes: number }> }).files;
  const size = (n: string): number => files.find((f) => f.name === n)!.bytes;
  const total = size('config.json') + size('model.safetensors') + size('tokenizer.json') + size('tokenizer_config.json');
  expect(s.download).toEqual({ loaded: total, total });
  expect(s.fromCache).toBe(false);
  const amounts = await page.evaluate(() => (globalThis as unknown as { __amounts: string[] }).__amounts);
  expect(amounts.some((a) => / of /.test(a))).toBe(true);
  await expect(page.locator('#model-source')).toHaveText(/Model downloaded \(.+\) and kept in browser storage/);
  await expect(page.getByRole('progressbar', { name: 'Model download' })).toBeHidden();

  // WASM, because this headless Chromium has no WebGPU adapter (no --enable-unsafe-webgpu)
  const env = await page.evaluate(async () => ({
    adapter: (await navigator.gpu?.requestAdapter()) ?? null,
    cores: navigator.hardwareConcurrency,
    isolated: crossOriginIsolated,
  }));
  expect(env.adapter).toBeNull();
  expect(env.isolated).toBe(true);
  expect(s.crossOriginIsolated).toBe(true);
  expect(s.backend).toBe('wasm');
  expect(s.threads).toBe(env.cores); // 2 on the 2-core CI machine
  test.info().annotations.push({ type: 'runtime', description: `wasm, ${s.threads} threads (hardwareConcurrency ${env.cores})` });
  await expect(page.locator('[data-pill="backend"]')).toHaveText(`WASM · ${s.threads} threads`);
  await expect(page.locator('[data-pill="link"]')).toHaveText('cloud connected');
  expect(s.session).toMatch(/\S/);
  expect(s.model).toMatchObject({ nLayer: 2, nHead: 4 });

  // the placement map has a cell per head and per FFN chunk of every layer
  await expect(page.locator('.plan-grid .cell.head')).toHaveCount(2 * 4);
  await expect(page.locator('.plan-grid .cell.chunk')).toHaveCount(2 * s.model!.ffnChunks);
  expect(errors).toEqual([]);
});

test('asking for WebGPU without an adapter falls back to WASM', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?backend=webgpu');
  const s = await waitReady(page);
  expect(s.backend).toBe('wasm');
  expect(s.webgpuAvailable).toBe(false);
  await expect(page.getByRole('checkbox', { name: 'Prefer WebGPU' })).toBeChecked();
  await expect(page.getByText('No WebGPU adapter in this browser.', { exact: false })).toBeVisible();
  expect(await page.evaluate(() => typeof (globalThis as HookWindow).__splitwise?.run)).toBe('function');
  expect(errors).toEqual([]);
});
