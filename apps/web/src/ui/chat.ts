// The chat: a transcript of prompts and their streamed continuations, a prompt box, and a stop
// button. GPT-2 continues text rather than answering, so each turn shows the prompt followed by
// what the two sides generated together.
import type { SplitwiseApp, Turn } from '../app.ts';
import { h, setText } from './dom.ts';
import { bytes, median, ms } from './format.ts';

interface TurnView {
  el: HTMLElement;
  text: HTMLElement;
  meta: HTMLElement;
}

export class Chat {
  readonly el: HTMLElement;
  private readonly transcript: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly runButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly status: HTMLElement;
  private readonly views = new Map<number, TurnView>();

  constructor(private readonly app: SplitwiseApp) {
    this.empty = h('p', { class: 'empty', text: 'Type a prompt. Each token is computed by this browser and the server together, split as the map shows.' });
    this.transcript = h('div', { class: 'transcript', attrs: { 'aria-live': 'polite' } }, this.empty);
    this.input = h('textarea', { attrs: { rows: '3', 'aria-label': 'Prompt', placeholder: 'Write the start of a text…' } });
    this.input.value = app.params.prompt;
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.submit();
      }
    });
    this.runButton = h('button', { class: 'primary', text: 'Generate', attrs: { type: 'submit' } });
    this.stopButton = h('button', { class: 'danger', text: 'Stop', attrs: { type: 'button' }, on: { click: () => app.stop() } });
    // what a run is doing before its tokens flow (compiling a new plan's layers takes a while)
    this.status = h('span', { class: 'chat-status', attrs: { 'aria-live': 'polite' } });
    const form = h(
      'form',
      { class: 'prompt-form', on: { submit: (e) => (e.preventDefault(), this.submit()) } },
      this.input,
      h('div', { class: 'actions' }, this.status, this.runButton, this.stopButton),
    );
    this.el = h('section', { class: 'card chat', attrs: { 'aria-label': 'Chat' } }, this.transcript, form);
  }

  private submit(): void {
    if (!this.app.state.ready || this.app.state.running) return;
    void this.app.run({ prompt: this.input.value });
  }

  private view(turn: Turn): TurnView {
    let v = this.views.get(turn.id);
    if (!v) {
      const text = h('span', { class: 'completion' });
      const meta = h('div', { class: 'turn-meta' });
      const el = h('article', { class: 'turn' }, h('p', { class: 'turn-text' }, h('span', { class: 'prompt-text', text: turn.result.prompt }), text), meta);
      v = { el, text, meta };
      this.views.set(turn.id, v);
      this.transcript.append(el);
    }
    return v;
  }

  update(): void {
    const s = this.app.state;
    this.runButton.disabled = !s.ready || s.running;
    this.stopButton.disabled = !s.running;
    this.empty.hidden = this.app.turns.length > 0;
    const busy = s.running && s.step !== 'generating' && s.step !== 'ready';
    setText(this.status, busy ? `${s.step[0]!.toUpperCase()}${s.step.slice(1)}…` : '');
    const nearBottom = this.transcript.scrollHeight - this.transcript.scrollTop - this.transcript.clientHeight < 40;
    for (const turn of this.app.turns) {
      const v = this.view(turn), r = turn.result;
      setText(v.text, r.text);
      v.el.classList.toggle('streaming', !turn.done);
      const decode = r.tokenMs.slice(1);
      const parts = [
        `${r.tokens.length} tokens`,
        decode.length ? `${ms(median(decode))}/token` : '',
        `plan ${r.plan.length > 28 ? r.plan.slice(0, 26) + '…' : r.plan}`,
        r.precision,
        `${bytes(r.bytesUp + r.bytesDown)} on the wire`,
        r.stopped ? 'stopped' : '',
        r.error ? `error: ${r.error}` : '',
      ];
      setText(v.meta, parts.filter(Boolean).join(' · '));
      v.meta.classList.toggle('error', Boolean(r.error));
    }
    if (nearBottom) this.transcript.scrollTop = this.transcript.scrollHeight;
  }
}
