// window.__transformersjs: what the transformers.js peer page (./main.ts) offers the browser
// benchmark (scripts/bench-e2e.ts), JSON-safe both ways.

export interface PeerLoadRequest {
  /** Folder name under env.localModelPath (served at /models/NAME/). */
  model: string;
  /** onnxruntime-web WASM threads (the edge page's own count, for a like-for-like run). */
  threads: number;
  /** Served URLs of onnxruntime-web's glue and binary (transformers.js would otherwise fetch them from a CDN). */
  wasmPaths: { mjs: string; wasm: string };
  /** The folder has a tokenizer: load the text-generation pipeline; else the model alone. */
  tokenizer: boolean;
}

export interface PeerLoadResult {
  /** from_pretrained/pipeline() to ready, in the page. */
  ms: number;
  /** transformers.js's and onnxruntime-web's versions as the page reports them. */
  version: string;
  ortVersion: string;
  device: string;
  dtype: string;
  threads: number;
  crossOriginIsolated: boolean;
  /** The pipeline (true) or AutoModelForCausalLM (false, no tokenizer) was loaded. */
  pipeline: boolean;
}

export interface PeerGenerateRequest {
  promptIds: number[];
  maxNewTokens: number;
}

export interface PeerGenerateResult {
  tokens: number[];
  /** Milliseconds per new token from the streamer's callbacks: [0] includes the prompt's prefill. */
  tokenMs: number[];
  ms: number;
  error?: string;
}

export interface PeerHook {
  load(req: PeerLoadRequest): Promise<PeerLoadResult>;
  generate(req: PeerGenerateRequest): Promise<PeerGenerateResult>;
  /** The pipeline on text (greedy): the text it returns (the prompt included). Needs a tokenizer. */
  generateText(prompt: string, maxNewTokens: number): Promise<string>;
}

export interface PeerWindow {
  __transformersjs?: PeerHook;
}
