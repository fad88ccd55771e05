// The placement map: one row per layer, a cell per attention unit (a GPT-2 head, or a LLaMA KV
// group: one KV head with its query heads) and per FFN chunk, coloured by the side that runs it.
// Clicking a cell moves that unit or chunk to the other side.
import { attnUnitKind, type ModelGraph, type PartitionPlan } from '@splitwise/core';
import { h } from './dom.ts';

export type CellKind = 'head' | 'chunk';

export class PlanGrid {
  readonly el: HTMLDivElement;
  private heads: HTMLButtonElement[][] = [];
  private chunks: HTMLButtonElement[][] = [];
  private counts: HTMLSpanElement[] = [];
  private readonly unit: string;

  constructor(
    private readonly graph: ModelGraph,
    onToggle: (layer: number, kind: CellKind, index: number) => void,
  ) {
    const { nLayer } = graph.config, nHead = graph.attnUnits, K = graph.ffnChunks;
    const groups = attnUnitKind(graph) === 'kv-group', unit = groups ? 'KV group' : 'head';
    this.unit = unit;
    this.el = h('div', { class: 'plan-grid', attrs: { role: 'grid', 'aria-label': `Where each ${unit} and FFN chunk runs` } });
    // columns in proportion to the cell counts; cells stay square and at most ~22 px, so a small
    // model gets a compact map and gpt2-xl (25 heads) still fits a phone
    this.el.style.gridTemplateColumns = `2.2em minmax(0, ${nHead}fr) 8px minmax(0, ${K}fr) 3.4em`;
    this.el.style.maxWidth = `calc(5.6em + 24px + ${(nHead + K) * 24}px)`;
    this.el.style.setProperty('--heads', String(nHead));
    this.el.style.setProperty('--chunks', String(K));

    this.el.append(
      h('span', { class: 'grid-corner' }),
      groups
        ? h('span', { class: 'grid-head heads-label', text: `KV groups (${nHead})`, title: `attention by KV group: one key/value head and its ${graph.queryHeadsPerUnit} query heads, whose KV cache lives with them` })
        : h('span', { class: 'grid-head heads-label', text: `heads (${nHead})`, title: 'attention heads' }),
      h('span', { class: 'grid-gap' }),
      h('span', { class: 'grid-head chunks-label', text: `FFN chunks (${K})` }),
      h('span', { class: 'grid-head count-label', text: 'cloud' }),
    );
    const cell = (l: number, kind: CellKind, i: number): HTMLButtonElement =>
      h('button', {
        class: `cell ${kind}`,
        attrs: { type: 'button', 'data-layer': String(l), 'data-kind': kind, 'data-index': String(i) },
        on: { click: () => onToggle(l, kind, i) },
      });
    for (let l = 0; l < nLayer; l++) {
      const hs = Array.from({ length: nHead }, (_, i) => cell(l, 'head', i));
      const cs = Array.from({ length: K }, (_, i) => cell(l, 'chunk', i));
      const count = h('span', { class: 'row-count' });
      this.heads.push(hs);
      this.chunks.push(cs);
      this.counts.push(count);
      this.el.append(
        h('span', { class: 'row-label', text: `L${l}` }),
        h('span', { class: 'cells heads' }, ...hs),
        h('span', { class: 'grid-gap' }),
        h('span', { class: 'cells chunks' }, ...cs),
        count,
      );
    }
  }

  update(plan: PartitionPlan): void {
    plan.layers.forEach((layer, l) => {
      const mark = (cells: HTMLButtonElement[], cloud: number[], what: string): void =>
        cells.forEach((c, i) => {
          const side = cloud.includes(i) ? 'cloud' : 'edge';
          if (c.dataset.side === side) return;
          c.dataset.side = side;
          const label = `layer ${l} ${what} ${i}: on the ${side} (click to move)`;
          c.title = label;
          c.setAttribute('aria-label', label);
        });
      mark(this.heads[l]!, layer.cloudHeads, this.unit);
      mark(this.chunks[l]!, layer.cloudFfnChunks, 'FFN chunk');
      const n = layer.cloudHeads.length + layer.cloudFfnChunks.length, total = this.graph.attnUnits + this.graph.ffnChunks;
      this.counts[l]!.textContent = `${Math.round((100 * n) / total)}%`;
    });
  }
}
