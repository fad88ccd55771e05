// The "settings" card: the model (of those the server hosts), wire precision, sampling, and the
// compute backend.
import { WIRE_PRECISIONS, type WirePrecision } from '@splitwise/core';
import type { SplitwiseApp } from '../app.ts';
import type { SamplingSettings } from '../hook-types.ts';
import { h, setText } from './dom.ts';
import { bytes } from './format.ts';

interface Field {
  key: keyof SamplingSettings;
  label: string;
  min: number;
  max?: number;
  step: number;
  hint: string;
}

const FIELDS: Field[] = [
  { key: 'temperature', label: 'Temperature', min: 0, max: 5, step: 0.1, hint: '0 = greedy' },
  { key: 'topK', label: 'Top-k', min: 0, step: 1, hint: '0 = off' },
  { key: 'topP', label: 'Top-p', min: 0.01, max: 1, step: 0.01, hint: '1 = off' },
  { key: 'seed', label: 'Seed', min: 0, step: 1, hint: 'repeatable sampling' },
  { key: 'maxNewTokens', label: 'Max new tokens', min: 1, step: 1, hint: '' },
];

export class SettingsCard {
  readonly el: HTMLElement;
  private readonly precision = new Map<WirePrecision, HTMLButtonElement>();
  private readonly precisionNote: HTMLElement;
  private readonly gpu: HTMLInputElement;
  private readonly gpuNote: HTMLElement;
  private readonly model: HTMLSelectElement;

  constructor(private readonly app: SplitwiseApp) {
    // the server's models (GET /api/models); choosing one reloads the page with ?model=<id>
    this.model = h('select', { attrs: { 'aria-label': 'Model', 'data-field': 'model' }, on: { change: () => this.switchModel() } });
    void fetch('/api/models')
      .then((r) => r.json() as Promise<{ default: string; models: Array<{ id: string; family: string; parameters: number; nLayer: number }> }>)
      .then((list) => {
        const current = app.params.model ?? list.default;
        for (const m of list.models) {
          const label = `${m.id} · ${m.family === 'gpt2' ? 'GPT-2' : 'LLaMA'} · ${m.nLayer} layers · ${formatParams(m.parameters)}`;
          this.model.append(h('option', { text: label, attrs: { value: m.id, ...(m.id === current ? { selected: '' } : {}) } }));
        }
        this.model.disabled = list.models.length < 2;
      })
      .catch(() => (this.model.disabled = true));
    const seg = h('div', { class: 'segmented', attrs: { role: 'radiogroup', 'aria-label': 'Wire precision' } });
    for (const p of WIRE_PRECISIONS) {
      const b = h('button', { text: p, attrs: { type: 'button', role: 'radio', 'data-precision': p }, on: { click: () => app.setPrecision(p) } });
      this.precision.set(p, b);
      seg.append(b);
    }
    this.precisionNote = h('p', { class: 'note' });

    const fields = h('div', { class: 'fields' });
    for (const f of FIELDS) {
      const input = h('input', {
        attrs: { type: 'number', min: String(f.min), step: String(f.step), value: String(app.sampling[f.key]), 'data-field': f.key, ...(f.max !== undefined ? { max: String(f.max) } : {}) },
        on: {
          change: () => {
            const v = Number(input.value);
            const ok = Number.isFinite(v) && v >= f.min && (f.max === undefined || v <= f.max) && (f.step % 1 !== 0 || Number.isInteger(v));
            input.classList.toggle('invalid', !ok);
            if (ok) app.sampling[f.key] = v;
          },
        },
      });
      fields.append(h('label', { class: 'field' }, h('span', { text: f.label }), input, f.hint ? h('small', { text: f.hint }) : null));
    }

    this.gpu = h('input', { attrs: { type: 'checkbox' }, on: { change: () => this.switchBackend() } });
    this.gpuNote = h('p', { class: 'note' });

    this.el = h(
      'section',
      { class: 'card settings-card', attrs: { 'aria-labelledby': 'settings-title' } },
      h('h2', { id: 'settings-title', text: 'Settings' }),
      h('div', { class: 'setting' }, h('div', { class: 'setting-label', text: 'Model' }), this.model),
      h('div', { class: 'setting' }, h('div', { class: 'setting-label', text: 'Activations on the wire' }), seg, this.precisionNote),
      h('details', { class: 'setting' }, h('summary', { text: 'Sampling' }), fields),
      h('div', { class: 'setting' }, h('label', { class: 'toggle' }, this.gpu, h('span', { text: 'Prefer WebGPU' })), this.gpuNote),
    );
  }

  /** A model is loaded at start-up: the page reloads with the other one (each is kept in browser storage). */
  private switchModel(): void {
    const url = new URL(location.href);
    url.searchParams.set('model', this.model.value);
    location.assign(url);
  }

  /** The runtime is chosen at start-up; the page reloads with the other backend (the model comes from browser storage). */
  private switchBackend(): void {
    const url = new URL(location.href);
    if (this.gpu.checked) url.searchParams.set('backend', 'webgpu');
    else url.searchParams.delete('backend');
    location.assign(url);
  }

  update(): void {
    const a = this.app.app, s = this.app.state;
    if (!a) return;
    for (const [p, b] of this.precision) {
      b.classList.toggle('active', p === s.precision);
      b.setAttribute('aria-checked', String(p === s.precision));
    }
    const row = a.graph.wireBytesPerToken[s.precision];
    // API cloud-only sends no activations: token ids up, logits down at fp32
    const api = this.app.plan()?.apiCloudOnly === true;
    setText(this.precisionNote, api ? 'API cloud-only sends token ids and gets fp32 logits back: this applies to split plans' : `${bytes(row)} per ${a.config.nEmbd}-wide row per token${s.precision === 'fp32' ? ' (exact)' : ' (lossy: tokens may differ)'}`);
    this.gpu.checked = a.runtime.backend === 'webgpu' || this.app.params.preferWebGPU;
    this.gpu.disabled = s.webgpuAvailable === false && !this.gpu.checked;
    const why = s.webgpuAvailable === false ? 'No WebGPU adapter in this browser.' : a.runtime.adapter ? `Adapter: ${a.runtime.adapter}.` : '';
    setText(this.gpuNote, `${why} Software WebGPU can be far slower than WASM; switching reloads the page.`.trim());
  }
}

const formatParams = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${Math.round(n / 1e3)}K`);
