// How the tests and the browser benchmark launch Chromium: Debian's build (no Playwright browser
// download), without the sandbox (containers), and with nothing that phones home.
import { accessSync, constants, statSync } from 'node:fs';

/** Debian's Chromium; SPLITWISE_CHROMIUM points elsewhere (another build, or a check of the message below). */
export const CHROMIUM_PATH = process.env.SPLITWISE_CHROMIUM || '/usr/bin/chromium';

/**
 * Why Chromium cannot be launched, in one line that says what to install, or undefined when it
 * can. Checked once before the browser tests start, instead of every test failing to launch it.
 */
export function missingChromium(path: string = CHROMIUM_PATH): string | undefined {
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    const other = process.env.SPLITWISE_CHROMIUM ? 'or fix SPLITWISE_CHROMIUM' : '(or set SPLITWISE_CHROMIUM to another Chromium binary)';
    return `Chromium not found at ${path}: run \`apt-get install -y chromium\` ${other}`;
  }
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** WebGPU in headless Chromium needs this; the adapter is then SwiftShader (software, very slow). */
export const WEBGPU_ARG = '--enable-unsafe-webgpu';
