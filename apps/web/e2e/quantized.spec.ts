// Quantized weights in the browser: with ?weights=int8 or q4 the page quantizes the story model at
// load and runs its share through MatMulNBits on onnxruntime-web (WASM), the cloud runs its share
// at the same precision (hello.weights), and every plan's logits equal the server's monolithic
// graph quantized the same way within 1e-4 (and differ from fp32 by more than that: the weights
// really are quantized on both sides). Greedy answers follow the quantized reference token for
// token, also when the plan changes mid-answer.
import { expect, test } from '@playwright/test';
import type { HookWindow } from '../src/hook-types.ts';
import { collectErrors, readState, waitReady, waitRun } from './helpers.ts';

const MAX = 24;
const diff = (a: number[], b: number[]): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

for (const weights of ['int8', 'q4'] as const) {
  test(`story model, ${weights} weights on both sides: every plan's logits equal the ${weights} monolithic graph`, async ({ page, request }) => {
    const errors = collectErrors(page);
    await page.goto(`/?model=stories260K&plan=half&weights=${weights}`);
    await waitReady(page);
    const ids = [1, 403, 407, 261, 378, 119, 292];
    const get = async (q: string): Promise<number[]> => {
      const res = await request.get(`/api/reference/logits?model=stories260K&ids=${ids.join(',')}${q}`);
      expect(res.ok(), await res.text()).toBe(true);
      return ((await res.json()) as { logits: number[] }).logits;
    };
    const [mono, fp32] = [await get(`&weights=${weights}`), await get('')];
    expect(diff(mono, fp32), 'the quantized reference is not the fp32 one').toBeGreaterThan(1e-3);
    for (const plan of ['edge', 'cloud', 'half', 'random:3', 'random:8']) {
      const got = await page.evaluate(([x, p]) => (globalThis as HookWindow).__splitwise!.logits(x, p), [ids, plan] as const);
      expect(got).toHaveLength(512);
      expect(diff(got, mono), `plan ${plan} vs the ${weights} monolithic graph`).toBeLessThan(1e-4);
      expect(diff(got, fp32), `plan ${plan} vs fp32`).toBeGreaterThan(1e-3);
    }
    expect(errors).toEqual([]);
  });
}

test('story model at q4: the greedy answer equals the q4 reference while the plan changes mid-answer', async ({ page, request }) => {
  const errors = collectErrors(page);
  await page.goto(`/?model=stories260K&plan=edge&max=${MAX}&weights=q4`);
  await waitReady(page);
  await page.evaluate(() => {
    const press = (name: string): void => (document.querySelector(`button[data-preset="${name}"]`) as HTMLButtonElement).click();
    window.addEventListener('splitwise:token', (e) => {
      const { index } = (e as CustomEvent<{ index: number }>).detail;
      if (index === 4) press('half');
      if (index === 11) press('cloud');
      if (index === 17) press('half');
    });
  });
  await page.getByRole('button', { name: 'Generate' }).click();
  const r = await waitRun(page);
  expect(r.plan).toBe('edge → half → cloud → half');
  const res = await request.get(`/api/reference?model=stories260K&ids=${r.promptIds.join(',')}&n=${MAX}&weights=q4`);
  expect(res.ok(), await res.text()).toBe(true);
  expect(r.tokens).toEqual(((await res.json()) as { tokens: number[] }).tokens.slice(0, r.tokens.length));
  expect(r.tokens.length).toBeGreaterThan(10);
  expect((await readState(page))!.model).toMatchObject({ family: 'llama', attnUnits: 4 });
  expect(errors).toEqual([]);
});
