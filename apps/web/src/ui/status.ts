// Start-up progress (the model download, then building the edge) and, once ready, the header's
// facts: backend and threads, the model, where the model bytes came from, the cloud session.
import type { SplitwiseApp } from '../app.ts';
import { byId, h, setText } from './dom.ts';
import { bytes, params } from './format.ts';

export class Status {
  private readonly loader = byId('loader');
  private readonly bar = byId('progress-bar');
  private readonly progress = byId('progress');
  private readonly stepText = byId('load-step');
  private readonly amount = byId('load-amount');
  private readonly pills = byId('pills');
  private readonly source = byId('model-source');
  private readonly notice = byId('notice');
  private readonly backend = h('span', { class: 'pill', attrs: { 'data-pill': 'backend' } });
  private readonly model = h('span', { class: 'pill', attrs: { 'data-pill': 'model' } });
  private readonly link = h('span', { class: 'pill', attrs: { 'data-pill': 'link' } });

  constructor(private readonly app: SplitwiseApp) {
    this.pills.append(this.backend, this.model, this.link);
  }

  update(): void {
    const s = this.app.state, a = this.app.app;
    const { loaded, total } = s.download;
    const known = Number.isFinite(total) && total > 0;
    const pct = known ? Math.min(100, (100 * loaded) / total) : 0;
    this.bar.style.width = `${pct}%`;
    this.progress.setAttribute('aria-valuenow', String(Math.round(pct)));
    this.progress.classList.toggle('indeterminate', !known && !s.ready);
    setText(this.stepText, s.error ? `Could not start: ${s.error}` : s.ready ? 'Ready' : `${s.step[0]!.toUpperCase()}${s.step.slice(1)}…`);
    setText(this.amount, known ? `${bytes(loaded)} of ${bytes(total)}` : '');
    this.loader.classList.toggle('failed', Boolean(s.error));
    this.loader.hidden = s.ready && !s.error;

    if (s.fromCache !== undefined) {
      const size = bytes(s.modelBytes ?? NaN);
      const text = s.fromCache
        ? `Model loaded from browser storage (${size}, no download)`
        : s.storeError
          ? `Model downloaded (${size}); not kept in browser storage: ${s.storeError}`
          : this.app.params.store
            ? `Model downloaded (${size}) and kept in browser storage`
            : `Model downloaded (${size})`;
      setText(this.source, text);
      this.source.dataset.fromCache = String(s.fromCache);
    }
    if (!a) return;
    // outages: shown while the edge runs alone, and for a few seconds after anything happened
    const last = s.recovery?.at(-1);
    const recent = last !== undefined && Date.now() - last.at < 8000;
    this.notice.hidden = !(s.degraded || recent);
    if (last && !this.notice.hidden) setText(this.notice, last.text);
    this.notice.classList.toggle('bad', Boolean(s.degraded) || last?.type === 'failure' || last?.type === 'gave-up');

    const where = a.runtime.backend === 'webgpu' ? 'WebGPU' : `WASM · ${a.runtime.threads} thread${a.runtime.threads === 1 ? '' : 's'}`;
    setText(this.backend, where);
    this.backend.title = `${a.runtime.name}${s.crossOriginIsolated ? ', cross-origin isolated' : ', not cross-origin isolated (no threads)'}`;
    const c = a.config, family = c.family === 'gpt2' ? 'GPT-2' : c.nKvHead < c.nHead ? `LLaMA (GQA ${c.nHead}/${c.nKvHead})` : 'LLaMA';
    setText(this.model, `${family} · ${c.nLayer}×${c.nHead} · ${params(this.app.parameters)} params`);
    const up = a.link.connected && !s.degraded;
    setText(this.link, s.degraded ? 'cloud unreachable · edge runs all' : up ? 'cloud connected' : 'cloud disconnected');
    this.link.classList.toggle('bad', !up);
    this.link.title = `session ${a.link.session} on ${a.link.worker || 'the server'}`;
  }
}
