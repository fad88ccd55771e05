// Policy mode's part of the split card: which method decides (named), what it saw at its last decision
// (the DecisionState, in readable units) and what it chose. The grid above shows the plan itself.
import type { PolicyView } from '../hook-types.ts';
import { h, setText } from './dom.ts';
import { ms } from './format.ts';

const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;
const num = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

/** "L others' requests held", and what the server said each costs this session's (beta) when it said. */
function cloudLoadWhy(s: { cloudHeld?: number; cloudContention?: number; cloudBatching?: boolean }): string {
  const each = s.cloudContention !== undefined ? `, each slowing this session's by ${pct(s.cloudContention)} as the server measures it` : '';
  return `${num(s.cloudHeld ?? NaN, 2)} others' requests held${each}${s.cloudBatching === true ? ', batched' : ''}`;
}

export class PolicyBox {
  readonly el: HTMLElement;
  private readonly head: HTMLElement;
  private readonly chose: HTMLElement;
  private readonly why: HTMLElement;
  private readonly seen: HTMLElement;
  private readonly queues: HTMLElement;
  private readonly log: HTMLElement;

  constructor() {
    this.head = h('p', { class: 'policy-head' });
    this.chose = h('p', { class: 'policy-chose' });
    this.why = h('p', { class: 'policy-why' });
    this.seen = h('dl', { class: 'policy-seen', attrs: { 'aria-label': 'What the policy saw' } });
    this.queues = h('p', { class: 'note' });
    this.log = h('ol', { class: 'policy-log', attrs: { 'aria-label': 'Recent decisions' } });
    this.el = h('div', { class: 'policy-box', attrs: { 'data-testid': 'policy-box' } }, this.head, this.chose, this.why, this.seen, this.queues, this.log);
  }

  update(v: PolicyView | undefined): void {
    this.el.hidden = !v;
    if (!v) return;
    this.el.classList.toggle('bad', Boolean(v.error));
    setText(
      this.head,
      v.error ??
        (v.method
          ? `${v.method}. Decided in this browser: ${v.trainedFor}${v.weights ? `; weights priced as the page runs them (${v.weights})` : ''}.`
          : `Policy ${v.policy} (ONNX, decided in this browser). Trained for ${v.trainedFor}${v.mapped ? `; its ${v.trainedLayers} layers' block scores are read by depth for this ${v.modelLayers}-layer model` : ''}.`),
    );
    const d = v.last;
    if (!d) {
      setText(this.chose, 'No decision yet.');
      return;
    }
    const rt = `${d.syncPoints === 0 ? 'no round trips' : `${d.syncPoints} round trip${d.syncPoints > 1 ? 's' : ''}`} per token`;
    setText(
      this.chose,
      d.edgeLayers !== undefined
        ? `Chose ${
            d.api
              ? 'API cloud-only: the token ids go to the server, which runs the whole model and returns the logits'
              : d.splitLayers
                ? `${d.edgeLayers} of ${v.modelLayers} layers wholly on the edge and ${d.splitLayers} split inside by attention units and FFN chunks (${pct(d.cloudUnits)} of the units on the cloud)`
                : `the first ${d.edgeLayers} of ${v.modelLayers} layers on the edge, the rest on the cloud`
          }, ${d.precision} on the wire, ${rt}` +
            `${d.masked ? `; ${d.masked} of ${v.modelLayers} edge cuts did not fit memory` : ''}` +
            `${d.switched ? `; the plan changed (priced at ${ms(d.switchMs ?? 0)}${d.kvRows ? `, ${d.kvRows} KV rows rebuilt` : ''})` : '; the plan did not change'}. Decision #${v.decisions} took ${ms(d.ms)}.`
        : `Chose ${Math.round(d.fraction * 16)}/16 of the layers' weights on the cloud (${pct(d.cloudUnits)} of heads and FFN columns), ` +
            `${d.precision} on the wire, ${rt}` +
            `${d.masked ? `; ${d.masked} of 17 shares did not fit memory` : ''}. Decision #${v.decisions} took ${ms(d.ms)}.`,
    );
    setText(this.why, `When: ${d.reason}.`);
    const s = d.seen;
    const rows: Array<[string, string]> = [
      ['RTT', ms(s.rttMs)],
      ['bandwidth', `${num(s.downMbps, 1)} Mbit/s`],
      ['queue', `${s.Q} · ${num(s.lambdaPerMin, 2)}/min`],
      ['request', `${s.prompt}+${s.gen} tok`],
      ['memory', `${Math.round(s.memoryFreeMB)} MB`],
      ['battery', `${Math.round(s.battery * 100)}%`],
      ['radio', s.radio === 'lte' ? 'cellular' : 'Wi-Fi/wired'],
      ['cloud load', s.cloudSlowdown === undefined ? 'not reported' : `×${num(s.cloudSlowdown, 2)} (${cloudLoadWhy(s)})`],
      ...(s.cloudBatching === false ? ([['congestion toll', `τ ${num(s.cloudToll ?? 0, 2)}: priced ×${num(s.cloudPricedSlowdown ?? 1, 2)} (server does not batch; ${s.cloudPricingShare === undefined ? 'no share reported' : `${pct(s.cloudPricingShare)} of the others' load prices it too`})`]] as Array<[string, string]>) : []),
      ['Z energy', num(s.Ze, 3)],
      ['Z accuracy', num(s.Za, 3)],
      ...(v.method ? [] : ([['trained for', `${v.trainedLayers} layers`]] as Array<[string, string]>)),
    ];
    this.seen.replaceChildren(...rows.flatMap(([k, val]) => [h('dt', { text: k }), h('dd', { text: val })]));
    setText(
      this.queues,
      v.lastRequest
        ? `Last request, as the cost model prices it: ${num(v.lastRequest.energyJ, 2)} J on the edge, KL ${v.lastRequest.accuracyLoss.toExponential(1)} per token; the virtual queues are now Z_e ${num(v.Ze, 3)}, Z_a ${num(v.Za, 3)}.`
        : 'The energy and accuracy virtual queues move after each finished request.',
    );
    this.log.replaceChildren(...[...v.log].reverse().map((e) => h('li', { text: `${new Date(e.at).toLocaleTimeString()}: ${v.method ? `${Math.round((1 - e.fraction) * v.modelLayers)}/${v.modelLayers} layers on the edge` : `${Math.round(e.fraction * 16)}/16 cloud`}, ${e.precision} (${e.reason})` })));
  }
}
