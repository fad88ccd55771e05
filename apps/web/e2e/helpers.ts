// Shared steps of the e2e specs: read the page's test hook, wait for it, ask the server.
import { expect, type APIRequestContext, type Page } from '@playwright/test';
import type { HookWindow, RunResult, SplitwiseState } from '../src/hook-types.ts';

/** The page's state (window.__splitwise.state), or undefined before the app has started. */
export function readState(page: Page): Promise<SplitwiseState | undefined> {
  return page.evaluate(() => (globalThis as HookWindow).__splitwise?.state);
}

/** Wait until the edge is ready (or failed: then fail with the page's own message). */
export async function waitReady(page: Page, timeout = 90_000): Promise<SplitwiseState> {
  await page.waitForFunction(() => {
    const s = (globalThis as HookWindow).__splitwise?.state;
    return s?.ready || s?.error;
  }, null, { timeout });
  const s = (await readState(page))!;
  expect(s.error, 'the page failed to start').toBeUndefined();
  return s;
}

/** Wait for the page to finish its n-th generation and return it. */
export async function waitRun(page: Page, n = 1, timeout = 90_000): Promise<RunResult> {
  await page.waitForFunction((k) => ((globalThis as HookWindow).__splitwise?.state.runs ?? 0) >= k, n, { timeout });
  const r = (await readState(page))!.last!;
  expect(r.error, 'the generation failed').toBeUndefined();
  return r;
}

/** The server's monolithic-graph greedy continuation of `ids`. */
export async function reference(request: APIRequestContext, ids: number[], n: number): Promise<number[]> {
  const res = await request.get(`/api/reference?ids=${ids.join(',')}&n=${n}`);
  expect(res.ok(), await res.text()).toBe(true);
  return ((await res.json()) as { tokens: number[] }).tokens;
}

export interface SessionRow {
  session: string;
  requests: number;
  segments: number;
  bytesIn: number;
  bytesOut: number;
}

/** This session's row in the server's /api/stats (live sessions only). */
export async function sessionStats(request: APIRequestContext, session: string): Promise<SessionRow | undefined> {
  const res = await request.get('/api/stats');
  expect(res.ok()).toBe(true);
  const stats = (await res.json()) as { sessions: SessionRow[] };
  return stats.sessions.find((s) => s.session === session);
}

/** Console errors and uncaught exceptions of a page, to assert a clean run. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Greedy generation stops early only at <|endoftext|>; compare with the reference's prefix then. */
export function expectSameTokens(page: number[], ref: number[], max: number, eos = 50256): void {
  if (page.length < max) expect(page.at(-1)).toBe(eos);
  expect(page).toEqual(ref.slice(0, page.length));
}

export const PROMPT = 'The edge and the cloud share one model:';
