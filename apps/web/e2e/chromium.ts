// How the tests and the browser benchmark launch Chromium: Debian's build (no Playwright browser
// download), without the sandbox (containers), and with nothing that phones home.
export const CHROMIUM_PATH = '/usr/bin/chromium';

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
