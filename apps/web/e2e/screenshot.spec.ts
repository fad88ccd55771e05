// A person's view: type, watch tokens stream, stop. The mid-answer screenshot is kept as a test
// artifact and copied to docs/screenshot.png for the README.
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import type { HookWindow } from '../src/hook-types.ts';
import { collectErrors, waitReady } from './helpers.ts';

const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url));

test('tokens stream into the chat, a screenshot mid-answer, and Stop stops', async ({ page }) => {
  const errors = collectErrors(page);
  // the shipped story model; long enough an answer that Stop lands mid-way
  const MAX = 480;
  await page.goto(`/?model=stories260K&plan=random:5&max=${MAX}`);
  await waitReady(page);
  await page.getByRole('textbox', { name: 'Prompt' }).fill('Once upon a time');
  await page.getByRole('button', { name: 'Generate' }).click();

  await page.waitForFunction(() => {
    const s = (globalThis as HookWindow).__splitwise!.state;
    return s.running && (s.last?.tokens.length ?? 0) >= 40;
  });
  await expect(page.locator('.turn.streaming .completion')).not.toBeEmpty();
  const shot = test.info().outputPath('mid-answer.png');
  await page.screenshot({ path: shot });
  await test.info().attach('mid-answer', { path: shot, contentType: 'image/png' });
  await mkdir(DOCS, { recursive: true });
  await copyFile(shot, `${DOCS}screenshot.png`);

  await page.getByRole('button', { name: 'Stop' }).click();
  await page.waitForFunction(() => (globalThis as HookWindow).__splitwise!.state.runs >= 1);
  const last = (await page.evaluate(() => (globalThis as HookWindow).__splitwise!.state.last))!;
  expect(last.stopped).toBe(true);
  expect(last.tokens.length).toBeLessThan(MAX);
  await expect(page.locator('.turn .turn-meta')).toContainText('stopped');
  await expect(page.getByRole('button', { name: 'Generate' })).toBeEnabled();
  expect(errors).toEqual([]);
});

test('the page fits a narrow phone screen, policy panel included', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/?plan=policy');
  await waitReady(page);
  await expect(page.getByTestId('policy-box')).toContainText('Chose');
  // nothing wider than the screen: no sideways scrolling
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await expect(page.locator('.plan-grid')).toBeVisible();
  await page.screenshot({ path: test.info().outputPath('narrow.png'), fullPage: true });
});
