// The cloud connection dropping mid-answer costs no token: the page's link reconnects with
// backoff, the new cloud session is rebuilt from the edge's partition checkpoint, and the answer
// goes on exactly as if nothing had happened.
import { expect, test, type WebSocketRoute } from '@playwright/test';
import type { HookWindow } from '../src/hook-types.ts';
import { PROMPT, collectErrors, expectSameTokens, readState, reference, waitReady } from './helpers.ts';
import { freePort, startServer } from './server.ts';

test('a dropped connection mid-answer reconnects and loses no token', async ({ page, request }) => {
  const errors = collectErrors(page);
  const MAX = 30;
  // every socket.io connection of the page passes through here, so the test can cut it
  const sockets: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  await page.goto(`/?plan=half&max=${MAX}`);
  const before = await waitReady(page);
  expect(sockets).toHaveLength(1);

  await page.exposeFunction('__cut', async () => {
    for (const ws of sockets) await ws.close({ code: 1001, reason: 'test cuts the cloud' });
  });
  await page.evaluate(() => {
    window.addEventListener('splitwise:token', (e) => {
      if ((e as CustomEvent<{ index: number }>).detail.index === 5) void (globalThis as unknown as { __cut(): Promise<void> }).__cut();
    });
  });
  const r = await page.evaluate((prompt) => (globalThis as HookWindow).__splitwise!.run({ prompt }), PROMPT);
  expect(r.error).toBeUndefined();
  expect(r.tokens).toHaveLength(MAX);
  expectSameTokens(r.tokens, await reference(request, r.promptIds, MAX), MAX);

  const after = (await readState(page))!;
  expect(sockets.length).toBeGreaterThanOrEqual(2); // a new connection...
  expect(after.session).not.toBe(before.session); // ...and a new cloud session
  expect(after.recovery?.map((e) => e.type)).toContain('reconnected');
  expect(after.degraded).toBe(false);
  await expect(page.locator('[data-pill="link"]')).toHaveText('cloud connected');
  // the page reports the outage as such; nothing else went wrong
  expect(errors.filter((e) => !/WebSocket|socket/i.test(e))).toEqual([]);
});

test('with the server down, the edge finishes the answer alone, and hands back when it returns', async ({ page, request }) => {
  test.setTimeout(120_000);
  // a server of this test's own, so it can be stopped and started again on the same port
  const port = await freePort();
  let server = await startServer(port);
  try {
    const errors = collectErrors(page);
    const MAX = 24;
    await page.goto(`${server.url}/?plan=half&max=${MAX}`);
    await waitReady(page);
    let stopping: Promise<void> | undefined;
    await page.exposeFunction('__stopServer', () => (stopping = server.stop()));
    await page.evaluate(() => {
      const once = (e: Event): void => {
        if ((e as CustomEvent<{ index: number }>).detail.index !== 3) return;
        window.removeEventListener('splitwise:token', once); // only this answer's
        void (globalThis as unknown as { __stopServer(): Promise<void> }).__stopServer();
      };
      window.addEventListener('splitwise:token', once);
    });
    const r = await page.evaluate((prompt) => (globalThis as HookWindow).__splitwise!.run({ prompt }), PROMPT);
    await stopping;
    expect(r.error).toBeUndefined();
    expect(r.tokens).toHaveLength(MAX);
    expectSameTokens(r.tokens, await reference(request, r.promptIds, MAX), MAX); // the shared server's reference
    const down = (await readState(page))!;
    expect(down.degraded).toBe(true);
    expect(down.recovery?.map((e) => e.type)).toContain('fallback');
    await expect(page.locator('[data-pill="link"]')).toHaveText('cloud unreachable · edge runs all');
    await expect(page.locator('#notice')).toBeVisible();

    // the server returns: the next answer gives the cloud its share back, and is still exact
    server = await startServer(port);
    const again = await page.evaluate((prompt) => (globalThis as HookWindow).__splitwise!.run({ prompt }), 'Hello world');
    expect(again.error).toBeUndefined();
    expectSameTokens(again.tokens, await reference(request, again.promptIds, MAX), MAX);
    const up = (await readState(page))!;
    expect(up.degraded).toBe(false);
    expect(up.recovery?.map((e) => e.type)).toContain('reconnected');
    expect(again.calls).toBeGreaterThan(MAX); // the half plan crossed the wire again
    await expect(page.locator('[data-pill="link"]')).toHaveText('cloud connected');
    expect(errors.filter((e) => !/WebSocket|socket|ERR_CONNECTION_REFUSED/i.test(e))).toEqual([]);
  } finally {
    await server.stop();
  }
});
