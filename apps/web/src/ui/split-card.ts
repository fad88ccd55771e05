// The "split" card: plan presets, the k-layers slider, the placement grid, and the share of one
// token's compute each side does under the plan.
import type { SplitwiseApp } from '../app.ts';
import { PRESETS, PRESET_LABELS, PRESET_TITLES, computeShare, partitionOf, planOf, toggled, type Preset } from '../plans.ts';
import { h, setText } from './dom.ts';
import { flops } from './format.ts';
import { PlanGrid } from './plan-grid.ts';
import { PolicyBox } from './policy-box.ts';

export class SplitCard {
  readonly el: HTMLElement;
  private readonly buttons = new Map<Preset, HTMLButtonElement>();
  private readonly slider: HTMLInputElement;
  private readonly sliderRow: HTMLElement;
  private readonly sliderValue: HTMLOutputElement;
  private readonly grid: PlanGrid;
  private readonly edgeBar: HTMLElement;
  private readonly edgeText: HTMLElement;
  private readonly cloudText: HTMLElement;
  private readonly note: HTMLElement;
  /** Shown while API cloud-only is chosen: the one plan under which token ids leave this browser. */
  private readonly idsNotice: HTMLElement;
  private readonly policy = new PolicyBox();

  constructor(private readonly app: SplitwiseApp) {
    const { graph } = app.app!;
    const n = graph.config.nLayer;
    const presets = h('div', { class: 'segmented', attrs: { role: 'radiogroup', 'aria-label': 'Plan' } });
    for (const p of PRESETS) {
      const b = h('button', {
        text: PRESET_LABELS[p],
        title: PRESET_TITLES[p],
        attrs: { type: 'button', role: 'radio', 'data-preset': p },
        on: { click: () => this.choose(p) },
      });
      this.buttons.set(p, b);
      presets.append(b);
    }
    this.slider = h('input', {
      attrs: { type: 'range', min: '0', max: String(n), step: '1', 'aria-label': 'Layers on the edge' },
      on: { input: () => this.app.setChoice({ ...this.app.choice!, preset: 'layers', k: Number(this.slider.value) }) },
    });
    this.sliderValue = h('output', { class: 'slider-value' });
    this.sliderRow = h('label', { class: 'slider-row' }, h('span', { text: 'First layers on the edge' }), this.slider, this.sliderValue);

    this.grid = new PlanGrid(graph, (l, kind, i) => {
      // a click starts from what is shown, whatever preset that was
      const c = this.app.choice!;
      this.app.setChoice({ ...c, preset: 'custom', custom: toggled(planOf(c, graph), l, kind, i) });
    });

    this.edgeBar = h('div', { class: 'share-edge' });
    this.edgeText = h('span', { class: 'share-label edge' });
    this.cloudText = h('span', { class: 'share-label cloud' });
    this.note = h('p', { class: 'note' });
    this.idsNotice = h('p', {
      class: 'ids-notice',
      text: 'Token ids leave this device: with API cloud-only the server receives every token of your prompt and of the answer, as with any LLM API.',
      attrs: { role: 'status', 'data-notice': 'token-ids-leave' },
    });
    this.idsNotice.hidden = true;

    this.el = h(
      'section',
      { class: 'card split-card', attrs: { 'aria-labelledby': 'split-title' } },
      h('h2', { id: 'split-title', text: 'Where each part runs' }),
      presets,
      this.idsNotice,
      this.sliderRow,
      h(
        'div',
        { class: 'legend' },
        h('span', { class: 'swatch edge' }),
        h('span', { text: 'edge (this browser)' }),
        h('span', { class: 'swatch cloud' }),
        h('span', { text: 'cloud (server)' }),
      ),
      h('div', { class: 'grid-scroll' }, this.grid.el),
      h('div', { class: 'share', attrs: { 'aria-label': 'Share of compute per token' } }, h('div', { class: 'share-bar' }, this.edgeBar), h('div', { class: 'share-labels' }, this.edgeText, this.cloudText)),
      this.note,
      this.policy.el,
    );
  }

  private choose(p: Preset): void {
    const c = this.app.choice!;
    // "Custom" starts from the plan on screen, so a person can tweak a preset
    const custom = p === 'custom' && c.preset !== 'custom' ? partitionOf(planOf(c, this.app.app!.graph)) : c.custom;
    this.app.setChoice({ ...c, preset: p, custom });
  }

  update(): void {
    const { graph, edge } = this.app.app!;
    const choice = this.app.choice!;
    const plan = planOf(choice, graph);
    for (const [p, b] of this.buttons) {
      b.setAttribute('aria-checked', String(p === choice.preset));
      b.classList.toggle('active', p === choice.preset);
    }
    this.sliderRow.hidden = choice.preset !== 'layers';
    this.idsNotice.hidden = !plan.apiCloudOnly;
    this.policy.update(choice.preset === 'policy' ? this.app.state.policy : undefined);
    if (this.slider.value !== String(choice.k)) this.slider.value = String(choice.k);
    setText(this.sliderValue, `${choice.k} of ${graph.config.nLayer}`);
    this.grid.update(plan);

    // price one token at the current context (at least the prompt box's first token)
    const T = Math.max(1, edge.length);
    const s = computeShare(graph, plan, T);
    const pct = Math.round(s.edge * 1000) / 10;
    this.edgeBar.style.width = `${pct}%`;
    setText(this.edgeText, `edge ${pct}% · ${flops(s.edgeFlops)}`);
    setText(this.cloudText, `cloud ${Math.round((100 - pct) * 10) / 10}% · ${flops(s.cloudFlops)}`);
    const trips = s.syncPoints === 0 ? 'no round trips' : s.syncPoints === 1 ? '1 round trip' : `${s.syncPoints} round trips`;
    const when = this.app.state.running ? 'a change applies from the next token' : 'a change applies to the next request';
    const note = this.app.state.degraded
      ? 'The cloud is unreachable: this browser runs every part until it answers, then hands its share back.'
      : plan.apiCloudOnly
        ? `Per token at context ${T}: 1 round trip, token ids up and logits down; ${when}. The embeddings and the LM head run on the server too.`
        : `Per token at context ${T}: ${trips} to the cloud; ${when}. Embeddings and the LM head run here, so token ids never leave the browser.`;
    setText(this.note, note);
    this.note.classList.toggle('bad', Boolean(this.app.state.degraded));
  }
}
