// End-to-end tests of the browser edge against the real server (apps/web/e2e/*.spec.ts).
// The web server is scripts/start.ts on a free port with a tiny random model in a temp folder (and the
// shipped story model beside it): it
// makes the model if missing, builds the page once, and serves page, model files and socket.io
// from one origin. Its port is read from its stdout into SPLITWISE_E2E_PORT (for the workers).
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH, missingChromium } from './apps/web/e2e/chromium.ts';
import { E2E_MODEL_DIR } from './apps/web/e2e/server.ts';

// without Chromium, say in one line what to install rather than fail every test at launch (and
// before the web server builds the page)
const missing = missingChromium();
if (missing) {
  console.error(missing);
  process.exit(1);
}
const port = process.env.SPLITWISE_E2E_PORT;

export default defineConfig({
  testDir: 'apps/web/e2e',
  testMatch: '**/*.spec.ts',
  outputDir: 'test-results',
  workers: 1,
  retries: 0,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    ...(port ? { baseURL: `http://127.0.0.1:${port}` } : {}),
    browserName: 'chromium',
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
    viewport: { width: 1280, height: 860 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
  webServer: {
    // the tiny random GPT-2 is the default; the shipped story model is hosted beside it (?model=stories260K)
    command: `node --import tsx scripts/start.ts --model "${E2E_MODEL_DIR}" --model models/stories260K --config tiny --port 0 --log-level warn`,
    wait: { stdout: /splitwise: listening on http:\/\/127\.0\.0\.1:(?<splitwise_e2e_port>\d+)/ },
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
