// The "live" card: the link as measured (RTT from probes, bandwidth from real transfers), the
// latency of each token of the current answer, and what crossed the wire.
import type { SplitwiseApp } from '../app.ts';
import { h, setText } from './dom.ts';
import { bitrate, bytes, median, ms } from './format.ts';
import { Sparkline } from './sparkline.ts';

interface Metric {
  el: HTMLElement;
  value: HTMLElement;
  sub: HTMLElement;
  spark?: Sparkline;
}

function metric(label: string, spark?: Sparkline): Metric {
  const value = h('div', { class: 'metric-value', text: '–' });
  const sub = h('div', { class: 'metric-sub' });
  const el = h('div', { class: 'metric' }, h('div', { class: 'metric-label', text: label }), value, sub, spark?.el);
  return { el, value, sub, ...(spark ? { spark } : {}) };
}

export class LiveCard {
  readonly el: HTMLElement;
  private readonly latency = metric('Per-token latency', new Sparkline('Latency of each generated token', 'edge'));
  private readonly rtt = metric('Round-trip time', new Sparkline('Recent RTT probes', 'cloud'));
  private readonly bw = metric('Bandwidth', new Sparkline('Recent bandwidth estimates', 'cloud'));
  private readonly up = metric('Sent ↑');
  private readonly down = metric('Received ↓');
  private readonly trips = metric('Round trips');

  constructor(private readonly app: SplitwiseApp) {
    this.el = h(
      'section',
      { class: 'card live-card', attrs: { 'aria-labelledby': 'live-title' } },
      h('h2', { id: 'live-title', text: 'Live' }),
      h('div', { class: 'metrics wide' }, this.latency.el),
      h('div', { class: 'metrics two' }, this.rtt.el, this.bw.el),
      h('div', { class: 'metrics three' }, this.up.el, this.down.el, this.trips.el),
    );
  }

  update(): void {
    const a = this.app.app;
    if (!a) return;
    const net = a.link.network.snapshot();
    setText(this.rtt.value, ms(net.rttMs));
    setText(this.rtt.sub, `min ${ms(net.minRttMs)} · ${net.rttSamples} probes`);
    this.rtt.spark!.update(net.recentRttMs);
    setText(this.bw.value, bitrate(net.bandwidthBps));
    setText(this.bw.sub, net.bandwidthSamples ? `${net.bandwidthSamples} transfers` : 'measured from transfers ≥ 1 KB');
    this.bw.spark!.update(net.recentBandwidthBps);

    // the current (or last) answer; its first token includes the prompt's prefill, so it is left out
    const r = this.app.turns.at(-1)?.result;
    const decode = r ? r.tokenMs.slice(1) : [];
    const med = median(decode);
    setText(this.latency.value, decode.length ? `${ms(med)} median` : r?.tokenMs.length ? ms(r.tokenMs[0]!) : '–');
    setText(
      this.latency.sub,
      r && r.tokenMs.length
        ? `${r.tokenMs.length} tokens · last ${ms(r.tokenMs.at(-1)!)} · prefill ${ms(r.tokenMs[0]!)} (${r.promptIds.length} tokens)`
        : 'run a prompt to see each token',
    );
    this.latency.spark!.update(decode, med);

    const s = a.link.stats, n = r?.tokens.length ?? 0;
    setText(this.up.value, bytes(s.bytesUp));
    setText(this.down.value, bytes(s.bytesDown));
    setText(this.trips.value, String(s.calls));
    setText(this.up.sub, n ? `${bytes(r!.bytesUp / n)}/token` : 'total');
    setText(this.down.sub, n ? `${bytes(r!.bytesDown / n)}/token` : 'total');
    setText(this.trips.sub, n ? `${(r!.calls / n).toFixed(1)}/token` : 'total');
  }
}
