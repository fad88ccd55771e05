// The page's controller: loads the model, builds the edge, runs generations, and keeps the state
// the UI draws and the test hook reports. The UI subscribes; nothing here touches the DOM.
import { generate, parameterCount, type PartitionPlan, type RecoveryEvent, type WirePrecision } from '@splitwise/core';
import { webGpuAvailable } from '@splitwise/runtime-web';
import { createEdgeApp, warmSessions, type EdgeApp } from './edge.ts';
import type { RunRequest, RunResult, SamplingSettings, SplitwiseState } from './hook-types.ts';
import { loadModelFiles, type LoadProgress } from './model-store.ts';
import type { PageParams } from './params.ts';
import { choiceFromSpec, planOf, samePlan, specOf, type PlanChoice } from './plans.ts';
import { PagePolicy } from './policy-mode.ts';

/** One prompt and its continuation, as the transcript shows it. */
export interface Turn {
  id: number;
  result: RunResult;
  done: boolean;
}

const STEP_TEXT: Record<LoadProgress['phase'], string> = {
  checking: 'checking the model version',
  downloading: 'downloading the model',
  'reading-storage': 'reading the model from browser storage',
  storing: 'keeping the model in browser storage',
};

export class SplitwiseApp {
  readonly state: SplitwiseState;
  app?: EdgeApp;
  choice?: PlanChoice;
  sampling: SamplingSettings;
  turns: Turn[] = [];
  parameters = 0;
  private listeners = new Set<() => void>();
  private tokenListeners = new Set<(t: { index: number; id: number; ms: number }) => void>();
  private stopRequested = false;
  private turnId = 0;
  /** Policy mode's decider, made the first time the 'policy' plan is chosen. */
  policy?: PagePolicy;
  private policyLoading?: Promise<PagePolicy | undefined>;

  constructor(readonly params: PageParams) {
    this.sampling = { ...params.sampling };
    this.state = {
      ready: false,
      step: 'starting',
      download: { loaded: 0, total: NaN },
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      plan: params.plan,
      precision: params.precision,
      running: false,
      runs: 0,
      link: { calls: 0, bytesUp: 0, bytesDown: 0 },
    };
  }

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Called synchronously after each token, before the next forward pass starts. */
  onToken(f: (t: { index: number; id: number; ms: number }) => void): () => void {
    this.tokenListeners.add(f);
    return () => this.tokenListeners.delete(f);
  }

  notify(): void {
    const app = this.app;
    if (app) {
      const s = app.link.network.snapshot();
      this.state.link = { ...app.link.stats };
      this.state.session = app.link.session; // a reconnect opens a new session
      this.state.degraded = app.recovering.degraded;
      this.state.network = { rttMs: s.rttMs, bandwidthBps: s.bandwidthBps };
    }
    for (const f of this.listeners) f();
  }

  private setStep(step: string): void {
    this.state.step = step;
    this.notify();
  }

  async start(): Promise<void> {
    try {
      void webGpuAvailable().then((ok) => {
        this.state.webgpuAvailable = ok;
        this.notify();
      });
      const files = await loadModelFiles({
        ...(this.params.model ? { model: this.params.model } : {}),
        store: this.params.store,
        onProgress: (p) => {
          this.state.step = STEP_TEXT[p.phase];
          this.state.download = { loaded: p.loaded, total: p.total };
          this.notify();
        },
      });
      this.state.fromCache = files.fromCache;
      this.state.modelBytes = files.bytes;
      if (files.storeError) this.state.storeError = files.storeError;

      this.app = await createEdgeApp(files, {
        ...(this.params.model ? { modelId: this.params.model } : {}),
        preferWebGPU: this.params.preferWebGPU,
        ...(this.params.threads ? { numThreads: this.params.threads } : {}),
        precision: this.params.precision,
        plan: (graph) => {
          this.choice = choiceFromSpec(this.params.plan, graph);
          return planOf(this.choice, graph);
        },
        onStep: (s) => this.setStep(s),
        onRecovery: (e) => this.recovered(e),
      });
      const { config, graph, runtime, link } = this.app;
      this.parameters = parameterCount(config);
      Object.assign(this.state, {
        backend: runtime.backend,
        threads: runtime.threads,
        session: link.session,
        plan: specOf(this.choice!, graph),
        model: { family: config.family, nLayer: config.nLayer, nHead: config.nHead, nKvHead: config.nKvHead, attnUnits: graph.attnUnits, nEmbd: config.nEmbd, ffnChunks: graph.ffnChunks, vocabSize: config.vocabSize, nPositions: config.nPositions },
        ready: true,
        step: 'ready',
      });
      // the live panel (RTT, bandwidth) moves even while idle; policy mode samples the network
      setInterval(() => {
        this.policy?.tick();
        this.notify();
      }, 1000);
      if (this.choice!.preset === 'policy') await this.decide('the policy plan was chosen', this.defaultRequest());
      this.notify();
    } catch (e) {
      this.fail(e);
    }
  }

  /** The cloud failed or came back (RecoveringEdge's events): keep the last few for the page. */
  private recovered(e: RecoveryEvent): void {
    const text =
      e.type === 'failure'
        ? `cloud call failed (attempt ${e.attempt}): ${e.error}${e.retryInMs ? `; retrying in ${Math.round(e.retryInMs)} ms` : ''}`
        : e.type === 'reconnected'
          ? 'reconnected to the cloud'
          : e.type === 'fallback'
            ? `${e.reason}: running every part here until it answers`
            : e.type === 'restored'
              ? 'the cloud is back: its share moved back to it'
              : `gave up: ${e.error}`;
    this.state.recovery = [...(this.state.recovery ?? []), { type: e.type, text, at: Date.now() }].slice(-6);
    this.notify();
  }

  private fail(e: unknown): void {
    console.error(e);
    this.state.error = e instanceof Error ? e.message : String(e);
    this.state.step = 'failed';
    this.notify();
  }

  /** The request the policy prices when there is none yet: the prompt box's text, the token limit. */
  private defaultRequest(): { prompt: number; gen: number } {
    const ids = this.app ? this.app.tokenizer.encodePrompt(this.params.prompt) : [];
    return { prompt: Math.max(1, ids.length), gen: this.sampling.maxNewTokens };
  }

  private loadPolicy(): Promise<PagePolicy | undefined> {
    this.policyLoading ??= PagePolicy.create(this.app!, { ...(this.params.memoryMB ? { memoryBytes: this.params.memoryMB * 2 ** 20 } : {}), allowApi: this.params.sendIds }).then(
      (p) => {
        this.policy = p;
        this.state.policy = p.view;
        return p;
      },
      (e: unknown) => {
        console.error(e);
        this.state.policy = { policy: 'none', trainedFor: '', trainedLayers: 0, modelLayers: this.app!.graph.config.nLayer, mapped: false, decisions: 0, Ze: 0, Za: 0, log: [], error: `the policy could not be loaded: ${(e as Error).message}` };
        this.policyLoading = undefined;
        return undefined;
      },
    );
    return this.policyLoading;
  }

  /**
   * Ask the policy for a plan and precision and make them the current choice (policy mode only).
   * During a run the plan applies from the next token, like any other change.
   */
  async decide(reason: string, request: { prompt: number; gen: number }, arrival = false): Promise<void> {
    const policy = await this.loadPolicy();
    if (!policy || this.choice?.preset !== 'policy') return;
    try {
      const d = await policy.decide(reason, request, arrival);
      if (this.choice?.preset !== 'policy') return; // the person chose another plan meanwhile
      this.choice = { ...this.choice, policy: d.plan };
      this.state.plan = 'policy';
      this.setPrecision(d.precision);
    } catch (e) {
      console.error(e);
      if (this.state.policy) this.state.policy.error = `decision failed: ${(e as Error).message}`;
      this.notify();
    }
  }

  /** The plan the current choice describes. */
  plan(): PartitionPlan | undefined {
    return this.app && this.choice ? planOf(this.choice, this.app.graph) : undefined;
  }

  /**
   * A new placement. Between requests it applies at the next run (edge.reset); during a run it
   * applies before the next token (edge.setPlan rebuilds the KV caches of heads that move).
   */
  setChoice(choice: PlanChoice): void {
    if (!this.app) return;
    const toPolicy = choice.preset === 'policy' && this.choice?.preset !== 'policy';
    // out of Policy mode the page no longer prices congestion; the server must not count it as if it did
    if (choice.preset !== 'policy' && this.app.link.pricesCongestion) this.app.link.pricesCongestion = false;
    this.choice = choice;
    this.state.plan = specOf(choice, this.app.graph);
    this.notify();
    if (toPolicy) {
      const done = this.state.last?.tokens.length ?? 0, ctx = this.app.edge.length;
      const request = this.state.running ? { prompt: ctx, gen: Math.max(1, this.sampling.maxNewTokens - done) } : this.defaultRequest();
      void this.decide('the policy plan was chosen', request).then(() => this.notify());
    }
  }

  setPrecision(p: WirePrecision): void {
    this.state.precision = p;
    // read by the link on every request, so it also applies mid-run
    if (this.app) this.app.link.precision = p;
    this.notify();
  }

  stop(): void {
    if (this.state.running) this.stopRequested = true;
  }

  /** One forward pass of `ids` from position 0 under `planSpec` (or the current plan): the last logits. */
  async logits(ids: number[], planSpec?: string): Promise<Float32Array> {
    const app = this.app;
    if (!app || !this.choice) throw new Error('the edge is not ready yet');
    if (this.state.running) throw new Error('a generation is running');
    if (planSpec) this.setChoice(choiceFromSpec(planSpec, app.graph));
    const plan = planOf(this.choice, app.graph);
    await warmSessions(app, plan);
    await app.recovering.reset(plan);
    return app.recovering.forward(ids);
  }

  async run(req: RunRequest = {}): Promise<RunResult> {
    const app = this.app;
    if (!app || !this.choice) throw new Error('the edge is not ready yet');
    if (this.state.running) throw new Error('a generation is already running');
    if (req.plan) this.setChoice(choiceFromSpec(req.plan, app.graph));
    if (req.precision) this.setPrecision(req.precision);
    const sampling = { ...this.sampling, ...req.sampling };
    const { config, recovering: edge, link, tokenizer } = app;

    const text = req.prompt ?? this.params.prompt;
    // with the special tokens the model expects (LLaMA's BOS); GPT-2 starts unconditioned text at <|endoftext|>
    let ids = req.promptIds ?? tokenizer.encodePrompt(text);
    if (ids.length === 0) ids = [config.bosTokenId];
    const room = config.nPositions - sampling.maxNewTokens;
    if (ids.length > room) ids = ids.slice(Math.max(0, ids.length - Math.max(1, room)));
    const policyMode = this.choice.preset === 'policy';
    if (policyMode) await this.decide('before the request', { prompt: ids.length, gen: sampling.maxNewTokens }, true);

    const result: RunResult = {
      prompt: req.promptIds ? tokenizer.decode(ids) : text,
      promptIds: ids,
      tokens: [],
      tokenMs: [],
      text: '',
      plan: this.state.plan,
      precision: this.state.precision,
      stopped: false,
      calls: 0,
      bytesUp: 0,
      bytesDown: 0,
      ms: 0,
    };
    const turn: Turn = { id: ++this.turnId, result, done: false };
    this.turns.push(turn);
    this.stopRequested = false;
    this.state.running = true;
    this.state.last = result; // filled in as tokens arrive
    this.notify();

    const before = { ...link.stats }, t0 = performance.now(), stream = tokenizer.stream(ids);
    const account = (): void => {
      result.calls = link.stats.calls - before.calls;
      result.bytesUp = link.stats.bytesUp - before.bytesUp;
      result.bytesDown = link.stats.bytesDown - before.bytesDown;
      result.ms = performance.now() - t0;
    };
    try {
      const start = planOf(this.choice, app.graph);
      if (!samePlan(start, edge.wanted)) {
        this.setStep('preparing the new plan');
        await warmSessions(app, start, (s) => this.setStep(s));
        await edge.reset(start);
      }
      this.setStep('generating');
      const planFor = (): PartitionPlan | undefined => {
        const next = this.plan();
        if (!next || samePlan(next, edge.wanted)) return undefined;
        result.plan = `${result.plan} → ${this.state.plan}`;
        return next;
      };
      for await (const t of generate(edge, ids, { ...sampling, eosTokenId: config.eosTokenId, planFor })) {
        result.tokens.push(t.id);
        result.tokenMs.push(t.ms);
        result.text += stream.push(t.id);
        account();
        if (result.tokens.length === 1) result.prefill = { calls: result.calls, bytesUp: result.bytesUp, bytesDown: result.bytesDown };
        this.notify();
        for (const f of this.tokenListeners) f({ index: result.tokens.length - 1, id: t.id, ms: t.ms });
        // policy mode: the network moved by more than the threshold, so decide again; the new
        // plan applies from the token after the decision lands
        const moved = this.choice?.preset === 'policy' ? this.policy?.moved() : undefined;
        if (moved) {
          const what = moved.cloud
            ? `the cloud's load moved mid-answer: ${Math.round(moved.cloud.from * 100)}% → ${Math.round(moved.cloud.to * 100)}% from other sessions`
            : `the network moved mid-answer: ${netText(moved.from)} → ${netText(moved.to)}`;
          void this.decide(what, { prompt: edge.length, gen: Math.max(1, sampling.maxNewTokens - result.tokens.length) });
        }
        if (this.stopRequested) {
          result.stopped = true;
          break;
        }
      }
    } catch (e) {
      result.error = e instanceof Error ? e.message : String(e);
      console.error(e);
    } finally {
      account();
      if (policyMode && this.policy) this.policy.finished({ prompt: ids.length, gen: result.tokens.length }, edge.wanted, this.state.precision);
      turn.done = true;
      this.state.running = false;
      this.state.runs++;
      this.state.step = 'ready';
      this.notify();
    }
    return result;
  }
}

const round = (x: number): string => (x >= 10 ? String(Math.round(x)) : x.toFixed(1));
const netText = (n: { rttMs: number; downMbps: number }): string => `${round(n.downMbps)} Mbit/s, ${round(n.rttMs)} ms`;
