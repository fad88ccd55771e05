// The shape of window.__splitwise: a small, JSON-safe view of the page for Playwright tests and
// the browser benchmark (they import these types; nothing here touches the DOM).
import type { WirePrecision } from '@splitwise/core';
import type { Sample } from '@splitwise/policy';

export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  maxNewTokens: number;
}

export interface RunRequest {
  /** Text to tokenize; ignored when promptIds is given. */
  prompt?: string;
  promptIds?: number[];
  /** Plan spec: edge | cloud | api | half | layers:K | random:SEED | custom:MASK | policy. */
  plan?: string;
  precision?: WirePrecision;
  sampling?: Partial<SamplingSettings>;
}

export interface RunResult {
  prompt: string;
  promptIds: number[];
  /** Generated token ids (greedy when temperature is 0). */
  tokens: number[];
  /** Milliseconds per token: [0] includes the prompt's prefill. */
  tokenMs: number[];
  text: string;
  plan: string;
  precision: WirePrecision;
  stopped: boolean;
  error?: string;
  /** What crossed the wire during this run (round trips and payload bytes)... */
  calls: number;
  bytesUp: number;
  bytesDown: number;
  /** ...of which this much up to the first token (the reset and the prompt's prefill). */
  prefill?: { calls: number; bytesUp: number; bytesDown: number };
  ms: number;
}

export interface SplitwiseState {
  ready: boolean;
  error?: string;
  /** What the page is doing while it loads (downloading, compiling layer 3, ...). */
  step: string;
  download: { loaded: number; total: number };
  fromCache?: boolean;
  storeError?: string;
  modelBytes?: number;
  backend?: 'webgpu' | 'wasm';
  threads?: number;
  crossOriginIsolated: boolean;
  webgpuAvailable?: boolean;
  model?: { family: string; nLayer: number; nHead: number; nKvHead: number; attnUnits: number; nEmbd: number; ffnChunks: number; vocabSize: number; nPositions: number };
  /** The cloud's id for this page's session (the key in the server's /api/stats). */
  session?: string;
  plan: string;
  precision: WirePrecision;
  running: boolean;
  /** Completed runs. */
  runs: number;
  /** The run in progress (growing token by token), else the last one. */
  last?: RunResult;
  link: { calls: number; bytesUp: number; bytesDown: number };
  /** The cloud is unreachable and the edge runs every part (until the cloud answers again). */
  degraded?: boolean;
  /** The last few outage/recovery events (retries, reconnects, fallback, restore). */
  recovery?: Array<{ type: string; text: string; at: number }>;
  network?: { rttMs: number; bandwidthBps: number };
  /** Policy mode (plan "policy"): which policy decides, and what it last saw and chose. */
  policy?: PolicyView;
}

/** What the policy saw at a decision (DecisionState, in the units the panel shows). */
export interface PolicySeen {
  rttMs: number;
  downMbps: number;
  upMbps: number;
  Q: number;
  lambdaPerMin: number;
  Ze: number;
  Za: number;
  prompt: number;
  gen: number;
  memoryFreeMB: number;
  battery: number;
  radio: 'wifi' | 'lte';
  /** The cloud's load from other sessions as priced (rho = 1 - 1 / (1 + beta L), L the mean number of their requests the server last reported holding) and the slowdown 1 + beta L; absent before a report (or from an older server). */
  cloudLoad?: number;
  cloudSlowdown?: number;
  /** L, the mean number of other sessions' requests the server reported holding; and beta, how much each slows this session's, as the server measured it (absent: not reported, priced 1). */
  cloudHeld?: number;
  cloudContention?: number;
  /** Whether the server said it batches; the congestion toll (0 unless it said it does not) and the slowdown priced with it, 1 + (1 + toll)(slowdown - 1). */
  cloudBatching?: boolean;
  cloudToll?: number;
  cloudPricedSlowdown?: number;
  /** The share of the others' load held by sessions that price congestion too, as the server reported it; the toll is in proportion to it. */
  cloudPricingShare?: number;
}

export interface PolicyDecisionView {
  /** Before a request, or the network moving mid-answer (and from what to what). */
  reason: string;
  /** Date.now() of the decision. */
  at: number;
  /** Features to plan, ms (onnxruntime-web run and decode). */
  ms: number;
  seen: PolicySeen;
  /** The high level's cloud share of the layers' weight bytes, and how many shares memory ruled out. */
  fraction: number;
  masked: number;
  precision: WirePrecision;
  /** Share of heads + FFN columns on the cloud, and round trips per token of the plan. */
  cloudUnits: number;
  syncPoints: number;
  /** The method's layer cut: leading layers on the edge; whether the plan changed; what the switch costs (ms, cost model); KV rows in the cache at the decision. */
  edgeLayers?: number;
  switched?: boolean;
  switchMs?: number;
  kvRows?: number;
  /** Layers split inside (heads or FFN chunks on both sides), and whether the plan is API cloud-only (token ids leave the device). */
  splitLayers?: number;
  api?: boolean;
}

export interface PolicyView {
  policy: string;
  /** The method that decides, named as the panel names it. */
  method?: string;
  trainedFor: string;
  /** The weight precisions the cost model prices (the page's ?weights= and &cloudWeights=), e.g. "edge q4 · cloud fp32". */
  weights?: string;
  trainedLayers: number;
  modelLayers: number;
  /** The policy was trained for another layer count; its block scores are read by relative depth. */
  mapped: boolean;
  decisions: number;
  last?: PolicyDecisionView;
  /** The budgets' virtual queues (energy, accuracy) after the last finished request. */
  Ze: number;
  Za: number;
  /** The cost model's estimate of the last finished request. */
  lastRequest?: { energyJ: number; accuracyLoss: number; predictedMs: number };
  log: Array<{ reason: string; fraction: number; precision: WirePrecision; at: number }>;
  error?: string;
}

export interface SplitwiseHook {
  readonly state: SplitwiseState;
  run(req?: RunRequest): Promise<RunResult>;
  stop(): void;
  /**
   * One forward pass of `ids` from position 0 under `plan` (a plan spec; default: the current
   * one), through the same edge and cloud as generation: the last position's logits. For tests
   * that compare the split with the server's monolithic graph, and with llama2.c, to 1e-4.
   */
  logits(ids: number[], plan?: string): Promise<number[]>;
  /**
   * Evaluate the exported placement policy (ONNX bytes) on recorded states with onnxruntime-web
   * through the PolicyRunner; compare with the recorded actions and time the decisions.
   */
  policyCheck(onnx: ArrayBuffer | Uint8Array | number[], states: PolicyCheckState[], model?: string): Promise<PolicyCheckResult>;
  /**
   * Measure this browser's device profile: the profiling sweep of `npm run profile:node` on
   * onnxruntime-web (random weights made in the page). Returns the raw samples; the caller fits
   * them (scripts/profile-browser.ts). Takes minutes.
   */
  profile(options?: ProfileOptions): Promise<ProfileResult>;
}

/** The action as the policy fixture records it. */
export interface PolicyCheckAction {
  fracIndex: number;
  precIndex: number;
  cloudHeads: number[];
  cloudWidth: number[];
}

/** One recorded state of packages/policy/src/__fixtures__/policy-states.json. */
export interface PolicyCheckState {
  features: number[];
  request: { prompt: number; gen: number };
  memoryFreeBytes: number;
  action: PolicyCheckAction;
}

export interface PolicyCheckResult {
  total: number;
  /** States whose action equals the recorded one. */
  same: number;
  /** The first few that differ. */
  mismatches: Array<{ index: number; got: PolicyCheckAction; want: PolicyCheckAction }>;
  runtime: string;
  threads: number;
  /** Decision time per state, warm (after a few passes over the states): features to plan. */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** Of which features + session.run, and decodeAction. */
  runP50Ms: number;
  runP99Ms: number;
  decodeP50Ms: number;
  decodeP99Ms: number;
  /** The same for the first pass (after 50 warm-up decisions), while V8 still tiers the code up. */
  cold: PolicyCheckTimes;
}

/** Decision-time figures of one pass over the policy states. */
export type PolicyCheckTimes = Pick<PolicyCheckResult, 'p50Ms' | 'p99Ms' | 'meanMs' | 'maxMs' | 'runP50Ms' | 'runP99Ms' | 'decodeP50Ms' | 'decodeP99Ms'>;

export interface HookWindow {
  __splitwise?: SplitwiseHook;
}

/** Options of window.__splitwise.profile (the sweep of packages/policy/src/profiler.ts). */
export interface ProfileOptions {
  /** Fewer points and repetitions (a smoke run). */
  quick?: boolean;
  /** Passes over the sweep, least median kept (default 3, quick 1). */
  rounds?: number;
  /** WASM threads; must equal the page's own (the page's default unless opened with ?threads=N). */
  numThreads?: number;
  /** Layers used in turn at gpt2 dims (default 8) and gpt2-xl dims (default 4, ~500 MB fp32). */
  gpt2Layers?: number;
  xlLayers?: number;
  /** Also console.log every sample as it is taken ("profile: ..."). */
  echo?: boolean;
}

export interface ProfileResult {
  samples: Sample[];
  /** e.g. "onnxruntime-web/wasm". */
  runtime: string;
  backend: 'webgpu' | 'wasm';
  threads: number;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  /** WebAssembly SIMD validates in this browser. */
  wasmSimd: boolean;
  userAgent: string;
  /** Layers used in turn per model width. */
  layers: Array<{ nEmbd: number; nLayer: number }>;
  /** Wall time of the sweep. */
  ms: number;
  /** Every measurement as a printable line. */
  log: string[];
}
