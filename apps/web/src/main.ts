// Entry point: read the URL, start the app, mount the UI once the edge is ready, expose the test
// hook, and optionally run the URL's prompt right away (?autorun=1).
import './styles.css';
import { SplitwiseApp } from './app.ts';
import type { HookWindow, SplitwiseHook } from './hook-types.ts';
import { readParams } from './params.ts';
import { Chat } from './ui/chat.ts';
import { byId } from './ui/dom.ts';
import { LiveCard } from './ui/live-card.ts';
import { SettingsCard } from './ui/settings-card.ts';
import { SplitCard } from './ui/split-card.ts';
import { Status } from './ui/status.ts';

const app = new SplitwiseApp(readParams());

const hook: SplitwiseHook = {
  // a JSON-safe copy, so Playwright's evaluate() sees one consistent moment
  get state() {
    return structuredClone(app.state);
  },
  run: (req) => app.run(req),
  stop: () => app.stop(),
  logits: async (ids, plan) => Array.from(await app.logits(ids, plan)),
  // loaded on demand: the policy check is for tests, not the page's normal start
  policyCheck: async (onnx, states, model) => {
    const bytes = onnx instanceof Uint8Array ? onnx : Array.isArray(onnx) ? Uint8Array.from(onnx) : new Uint8Array(onnx);
    return (await import('./policy-check.ts')).policyCheck(bytes, states, model);
  },
  // loaded on demand too: a device profile of this browser (scripts/profile-browser.ts)
  profile: async (options) => (await import('./profile-hook.ts')).profile(options ?? {}, app.state.threads),
};
(window as Window & HookWindow).__splitwise = hook;

// Each token as a DOM event, for scripts around the page (kiosk displays, tests): a listener
// runs before the next forward pass, so a plan it picks applies to the very next token.
app.onToken((t) => window.dispatchEvent(new CustomEvent('splitwise:token', { detail: t })));

const status = new Status(app);
const views: Array<{ update(): void }> = [status];

// Redraw at most once a frame, however many tokens or probes arrive.
let queued = false;
app.subscribe(() => {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    for (const v of views) v.update();
  });
});

function mount(): void {
  const chat = new Chat(app), split = new SplitCard(app), live = new LiveCard(app), settings = new SettingsCard(app);
  byId('chat-slot').replaceWith(chat.el);
  byId('panel').append(split.el, live.el, settings.el);
  document.body.classList.add('ready');
  views.push(chat, split, live, settings);
}

void app.start().then(() => {
  if (!app.state.ready) return;
  mount();
  app.notify();
  if (app.params.autorun) void app.run({ prompt: app.params.prompt });
});
