// Andrej Karpathy's llama2.c formats (browser-safe): the legacy version-0 checkpoint `.bin` and
// the tokenizer `.bin`, converted to what transformers writes for a LlamaForCausalLM and its
// LlamaTokenizerFast (config.json, tensors under Hugging Face names, tokenizer.json, ...).
//
// Two things differ between the formats and are converted here:
// - RoPE. llama2.c rotates interleaved pairs (2i, 2i+1) of each head; Hugging Face's rotate_half
//   rotates (i, i + head_dim/2). Permuting the rows of wq and wk within each head, exactly as
//   transformers' convert_llama_weights_to_hf.py does, makes the two compute the same attention.
// - The tokenizer. llama2.c merges the adjacent pair whose concatenation is the vocabulary piece
//   with the highest score, however that piece was learnt. A BPE tokenizer.json merges by rank.
//   Listing every pair (a, b) whose concatenation is a piece, ranked by that piece's score, makes
//   the rank order the score order (see llama2cMerges for the one case it cannot express).
import {
  InvalidLlama2cCheckpointError,
  InvalidLlama2cTokenizerError,
  TruncatedFileError,
} from './errors.ts';

// ---------------------------------------------------------------- checkpoint

/** The 7 int32 of a version-0 llama2.c checkpoint header, vocab_size's sign already read. */
export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** The classifier is the token embedding (positive vocab_size in the file). */
  sharedClassifier: boolean;
}

export interface Llama2cTensor {
  /** Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight". */
  name: string;
  /** nn.Linear layout [out, in] for matrices. */
  shape: number[];
  data: Float32Array;
}

export interface Llama2cCheckpoint {
  header: Llama2cHeader;
  /** config.json as transformers writes it for LlamaForCausalLM. */
  hfConfig: Record<string, unknown>;
  /** In Hugging Face model order; lm_head.weight only when the classifier is not shared. */
  tensors: Llama2cTensor[];
}

export const LLAMA2C_HEADER_BYTES = 7 * 4;
/** llama2.c's later export formats (version 1 and 2, and runq's int8) start with "ak42". */
const LLAMA2C_MAGIC = 0x616b3432;
/** Far above any llama2.c model; a bigger value means the bytes are not a header at all. */
const MAX_HEADER_VALUE = 1 << 24;

/** Read and check the 28-byte header (sizes only; parseLlama2cCheckpoint checks them against the file). */
export function parseLlama2cHeader(bytes: Uint8Array, fileName = 'checkpoint.bin'): Llama2cHeader {
  if (bytes.length < LLAMA2C_HEADER_BYTES) {
    throw new TruncatedFileError(`${fileName}: ${bytes.length} bytes, shorter than llama2.c's ${LLAMA2C_HEADER_BYTES}-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, LLAMA2C_HEADER_BYTES);
  const int = (i: number): number => view.getInt32(4 * i, true);
  if (view.getUint32(0, true) === LLAMA2C_MAGIC) {
    throw new InvalidLlama2cCheckpointError(
      `${fileName}: starts with llama2.c's "ak42" magic, i.e. its version ${int(1)} export; only the legacy version-0 checkpoint (export.py --version 0, e.g. stories260K.bin) is read`,
    );
  }
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;
  const values = names.map((_, i) => int(i));
  for (let i = 0; i < names.length; i++) {
    // vocab_size is negative when the classifier is stored separately
    const v = names[i] === 'vocab_size' ? Math.abs(values[i]!) : values[i]!;
    if (v <= 0 || v > MAX_HEADER_VALUE) {
      throw new InvalidLlama2cCheckpointError(
        `${fileName}: header ${names[i]} = ${values[i]} is not a size (expected 1..${MAX_HEADER_VALUE}); header [${values.join(', ')}] is not a llama2.c version-0 checkpoint`,
      );
    }
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, signedVocab, seqLen] = values as [number, number, number, number, number, number, number];
  if (dim % nHeads !== 0) throw new InvalidLlama2cCheckpointError(`${fileName}: dim ${dim} is not divisible by n_heads ${nHeads}`);
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw new InvalidLlama2cCheckpointError(`${fileName}: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  }
  const headSize = dim / nHeads;
  if (headSize % 2 !== 0) throw new InvalidLlama2cCheckpointError(`${fileName}: head size ${headSize} (dim ${dim} / n_heads ${nHeads}) is odd; rotary embeddings need pairs`);
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(signedVocab), seqLen, sharedClassifier: signedVocab > 0 };
}

/** The float32 arrays of a version-0 checkpoint, in file order, with their sizes. */
function llama2cLayout(h: Llama2cHeader): Array<{ key: string; count: number }> {
  const { dim, hiddenDim: hidden, nLayers: L, vocabSize: V, seqLen } = h;
  const headSize = dim / h.nHeads;
  const kvDim = h.nKvHeads * headSize;
  const layout = [
    { key: 'token_embedding', count: V * dim },
    { key: 'rms_att', count: L * dim },
    { key: 'wq', count: L * dim * dim },
    { key: 'wk', count: L * kvDim * dim },
    { key: 'wv', count: L * kvDim * dim },
    { key: 'wo', count: L * dim * dim },
    { key: 'rms_ffn', count: L * dim },
    { key: 'w1', count: L * hidden * dim },
    { key: 'w2', count: L * dim * hidden },
    { key: 'w3', count: L * hidden * dim },
    { key: 'rms_final', count: dim },
    // legacy RoPE tables; llama2.c no longer reads them and neither does Hugging Face
    { key: 'freq_cis_real', count: (seqLen * headSize) / 2 },
    { key: 'freq_cis_imag', count: (seqLen * headSize) / 2 },
  ];
  if (!h.sharedClassifier) layout.push({ key: 'wcls', count: V * dim });
  return layout;
}

/** Byte size a version-0 checkpoint with this header must have. */
export function llama2cCheckpointBytes(h: Llama2cHeader): number {
  return LLAMA2C_HEADER_BYTES + 4 * llama2cLayout(h).reduce((s, e) => s + e.count, 0);
}

/**
 * Reorder the rows of a q or k projection ([nHeads * headDim, cols], row-major) from llama2.c's
 * interleaved RoPE pairs to Hugging Face's halves: within each head, output row j * headDim/2 + i
 * is input row 2i + j. This is transformers' convert_llama_weights_to_hf.py
 * `w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)`.
 */
export function permuteRotaryRows(w: Float32Array, nHeads: number, rows: number, cols: number): Float32Array {
  return rotaryRowShuffle(w, nHeads, rows, cols, false);
}

/** The inverse of permuteRotaryRows: Hugging Face's halves back to llama2.c's interleaved pairs. */
export function unpermuteRotaryRows(w: Float32Array, nHeads: number, rows: number, cols: number): Float32Array {
  return rotaryRowShuffle(w, nHeads, rows, cols, true);
}

function rotaryRowShuffle(w: Float32Array, nHeads: number, rows: number, cols: number, inverse: boolean): Float32Array {
  if (w.length !== rows * cols) throw new RangeError(`rotary permutation: ${w.length} values, expected ${rows} x ${cols}`);
  if (rows % nHeads !== 0 || (rows / nHeads) % 2 !== 0) {
    throw new RangeError(`rotary permutation: ${rows} rows do not split into ${nHeads} heads of even size`);
  }
  const headDim = rows / nHeads;
  const half = headDim / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const interleaved = (h * headDim + 2 * i + j) * cols;
        const halves = (h * headDim + j * half + i) * cols;
        const [from, to] = inverse ? [halves, interleaved] : [interleaved, halves];
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** config.json as transformers writes it for a LlamaForCausalLM with this header. */
export function llama2cHfConfig(h: Llama2cHeader): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: h.dim,
    intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers,
    num_attention_heads: h.nHeads,
    num_key_value_heads: h.nKvHeads,
    head_dim: h.dim / h.nHeads,
    vocab_size: h.vocabSize,
    max_position_embeddings: h.seqLen,
    rms_norm_eps: 1e-5, // llama2.c's rmsnorm
    rope_theta: 10000.0, // llama2.c's RoPE base
    rope_scaling: null,
    hidden_act: 'silu',
    attention_bias: false,
    attention_dropout: 0.0,
    mlp_bias: false,
    tie_word_embeddings: h.sharedClassifier,
    bos_token_id: 1,
    eos_token_id: 2,
    initializer_range: 0.02,
    pretraining_tp: 1,
    use_cache: true,
    torch_dtype: 'float32',
  };
}

/**
 * Parse a llama2.c legacy (version 0) checkpoint: header, then the float32 arrays (see
 * llama2cLayout). Returns the Hugging Face config and tensors, with wq and wk rows permuted for
 * rotate_half. Truncated files, impossible headers, sizes that disagree with the header and
 * non-finite weights are refused with typed errors.
 */
export function parseLlama2cCheckpoint(bytes: Uint8Array, fileName = 'checkpoint.bin'): Llama2cCheckpoint {
  const header = parseLlama2cHeader(bytes, fileName);
  const layout = llama2cLayout(header);
  const expected = llama2cCheckpointBytes(header);
  const dims = `dim ${header.dim}, hidden_dim ${header.hiddenDim}, n_layers ${header.nLayers}, n_heads ${header.nHeads}, n_kv_heads ${header.nKvHeads}, vocab_size ${header.vocabSize}${header.sharedClassifier ? '' : ' (unshared classifier)'}, seq_len ${header.seqLen}`;
  if (bytes.length < expected) {
    throw new TruncatedFileError(`${fileName}: ${bytes.length} bytes, but its header (${dims}) needs ${expected}; the file is cut short or the header is wrong`);
  }
  if (bytes.length > expected) {
    const extra = bytes.length - expected;
    const hint = header.sharedClassifier && extra === 4 * header.vocabSize * header.dim
      ? ' (exactly one vocab x dim classifier more: vocab_size should be negative for an unshared classifier)'
      : '';
    throw new InvalidLlama2cCheckpointError(`${fileName}: ${bytes.length} bytes, ${extra} more than its header (${dims}) accounts for${hint}`);
  }

  // one aligned copy of the weights (bytes.byteOffset + 28 need not be 4-aligned)
  const floats = new Float32Array(bytes.slice(LLAMA2C_HEADER_BYTES, expected).buffer);
  const arrays = new Map<string, Float32Array>();
  let at = 0;
  for (const { key, count } of layout) {
    const a = floats.subarray(at, at + count);
    if (key !== 'freq_cis_real' && key !== 'freq_cis_imag') {
      const bad = a.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new InvalidLlama2cCheckpointError(`${fileName}: ${key} holds a non-finite value (${a[bad]}) at index ${bad}; the file is corrupt`);
    }
    arrays.set(key, a);
    at += count;
  }

  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize } = header;
  const headSize = dim / nHeads;
  const kvDim = nKvHeads * headSize;
  // layer l's slice of a layer-stacked array; slice() so each tensor owns its data
  const layer = (key: string, l: number, size: number): Float32Array => arrays.get(key)!.slice(l * size, (l + 1) * size);
  const tensors: Llama2cTensor[] = [{ name: 'model.embed_tokens.weight', shape: [vocabSize, dim], data: arrays.get('token_embedding')!.slice() }];
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      { name: `${p}input_layernorm.weight`, shape: [dim], data: layer('rms_att', l, dim) },
      { name: `${p}self_attn.q_proj.weight`, shape: [dim, dim], data: permuteRotaryRows(layer('wq', l, dim * dim), nHeads, dim, dim) },
      { name: `${p}self_attn.k_proj.weight`, shape: [kvDim, dim], data: permuteRotaryRows(layer('wk', l, kvDim * dim), nKvHeads, kvDim, dim) },
      { name: `${p}self_attn.v_proj.weight`, shape: [kvDim, dim], data: layer('wv', l, kvDim * dim) },
      { name: `${p}self_attn.o_proj.weight`, shape: [dim, dim], data: layer('wo', l, dim * dim) },
      { name: `${p}post_attention_layernorm.weight`, shape: [dim], data: layer('rms_ffn', l, dim) },
      { name: `${p}mlp.gate_proj.weight`, shape: [hiddenDim, dim], data: layer('w1', l, hiddenDim * dim) },
      { name: `${p}mlp.up_proj.weight`, shape: [hiddenDim, dim], data: layer('w3', l, hiddenDim * dim) },
      { name: `${p}mlp.down_proj.weight`, shape: [dim, hiddenDim], data: layer('w2', l, dim * hiddenDim) },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [dim], data: arrays.get('rms_final')!.slice() });
  if (!header.sharedClassifier) tensors.push({ name: 'lm_head.weight', shape: [vocabSize, dim], data: arrays.get('wcls')!.slice() });
  return { header, hfConfig: llama2cHfConfig(header), tensors };
}

// ---------------------------------------------------------------- tokenizer

/** A llama2.c tokenizer file: pieces as stored (a space where sentencepiece has "▁") and scores. */
export interface Llama2cVocab {
  maxTokenLength: number;
  pieces: string[];
  scores: Float32Array;
}

export const LLAMA2C_UNK = '<unk>';
export const LLAMA2C_BOS = '<s>';
export const LLAMA2C_EOS = '</s>';
/** Ids 3..258 are the byte pieces <0x00>..<0xFF> (sentencepiece byte fallback). */
export const LLAMA2C_FIRST_BYTE_ID = 3;
const FIRST_ORDINARY_ID = LLAMA2C_FIRST_BYTE_ID + 256;
const SPIECE_UNDERLINE = '\u2581';

const bytePiece = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/**
 * Parse a llama2.c tokenizer file: int32 max_token_length, then per piece float32 score, int32
 * length, the bytes. `vocabSize`, when given, is the count the checkpoint expects.
 */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize?: number, fileName = 'tokenizer.bin'): Llama2cVocab {
  if (bytes.length < 4) throw new TruncatedFileError(`${fileName}: ${bytes.length} bytes, too short for a llama2.c tokenizer (int32 max_token_length first)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1024) {
    throw new InvalidLlama2cTokenizerError(`${fileName}: max_token_length ${maxTokenLength} is not plausible (expected 1..1024); not a llama2.c tokenizer`);
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const scores: number[] = [];
  let at = 4;
  while (at < bytes.length && (vocabSize === undefined || pieces.length < vocabSize)) {
    const id = pieces.length;
    if (at + 8 > bytes.length) throw new TruncatedFileError(`${fileName}: ends inside the record of piece ${id} (byte ${at} of ${bytes.length})`);
    const score = view.getFloat32(at, true);
    const len = view.getInt32(at + 4, true);
    if (!Number.isFinite(score)) throw new InvalidLlama2cTokenizerError(`${fileName}: piece ${id} has a non-finite score (${score})`);
    if (len <= 0 || len > maxTokenLength) {
      throw new InvalidLlama2cTokenizerError(`${fileName}: piece ${id} has length ${len}, outside 1..max_token_length (${maxTokenLength})`);
    }
    if (at + 8 + len > bytes.length) throw new TruncatedFileError(`${fileName}: piece ${id} needs ${len} bytes at byte ${at + 8}, the file ends at ${bytes.length}`);
    let piece: string;
    try {
      piece = utf8.decode(bytes.subarray(at + 8, at + 8 + len));
    } catch {
      throw new InvalidLlama2cTokenizerError(`${fileName}: piece ${id} is not valid UTF-8`);
    }
    pieces.push(piece);
    scores.push(score);
    at += 8 + len;
  }
  if (vocabSize !== undefined && pieces.length < vocabSize) {
    throw new TruncatedFileError(`${fileName}: ${pieces.length} pieces, the checkpoint's vocab_size is ${vocabSize}`);
  }
  if (at !== bytes.length) {
    throw new InvalidLlama2cTokenizerError(`${fileName}: ${bytes.length - at} bytes left after piece ${pieces.length - 1}; the vocabulary is larger than the checkpoint's ${vocabSize}`);
  }
  checkLlama2cLayout(pieces, fileName);
  return { maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

/** llama2.c's byte fallback adds 3 to the byte, so ids 0..258 must be exactly these. */
function checkLlama2cLayout(pieces: readonly string[], fileName: string): void {
  if (pieces.length <= FIRST_ORDINARY_ID) {
    throw new InvalidLlama2cTokenizerError(`${fileName}: ${pieces.length} pieces; a llama2.c vocabulary has <unk>, <s>, </s>, 256 byte pieces and then its merges`);
  }
  const specials = [LLAMA2C_UNK, LLAMA2C_BOS, LLAMA2C_EOS];
  specials.forEach((s, id) => {
    // tokenizer.py stores BOS and EOS as "\n<s>\n" and "\n</s>\n"
    if (pieces[id]!.trim() !== s) throw new InvalidLlama2cTokenizerError(`${fileName}: piece ${id} is ${JSON.stringify(pieces[id])}, expected ${s}`);
  });
  for (let b = 0; b < 256; b++) {
    const id = LLAMA2C_FIRST_BYTE_ID + b;
    if (pieces[id] !== bytePiece(b)) {
      throw new InvalidLlama2cTokenizerError(`${fileName}: piece ${id} is ${JSON.stringify(pieces[id])}, expected the byte piece ${bytePiece(b)}`);
    }
  }
  const seen = new Map<string, number>();
  pieces.forEach((p, id) => {
    const hf = id < FIRST_ORDINARY_ID ? p : p.replaceAll(' ', SPIECE_UNDERLINE);
    const other = seen.get(hf);
    if (other !== undefined) throw new InvalidLlama2cTokenizerError(`${fileName}: pieces ${other} and ${id} are both ${JSON.stringify(hf)}`);
    seen.set(hf, id);
  });
}

/** The Hugging Face vocabulary: "▁" for the space, <s> and </s> without llama2.c's newlines. */
export function llama2cHfVocab(vocab: Llama2cVocab): Record<string, number> {
  const out: Record<string, number> = {};
  vocab.pieces.forEach((p, id) => {
    const piece = id < 3 ? [LLAMA2C_UNK, LLAMA2C_BOS, LLAMA2C_EOS][id]! : id < FIRST_ORDINARY_ID ? p : p.replaceAll(' ', SPIECE_UNDERLINE);
    out[piece] = id;
  });
  return out;
}

/**
 * BPE merges that make a rank-ordered BPE reproduce llama2.c's encoder: every split of an
 * ordinary piece into two ordinary pieces, ranked by the score of the piece they make (highest
 * first). Ties keep id order, then split position.
 *
 * What ranks cannot express: llama2.c takes the leftmost of equally scored candidates, a BPE the
 * lower rank. That matters only for two different pieces with the same score, or two splits of
 * one piece interacting in one word; tok512 has no equal scores (they fall strictly from id
 * 259), and the parity test against llama2.c covers the pieces reachable from several splits.
 */
export function llama2cMerges(vocab: Llama2cVocab): Array<[string, string]> {
  const hf = (p: string): string => p.replaceAll(' ', SPIECE_UNDERLINE);
  const ordinary = new Map<string, number>();
  for (let id = FIRST_ORDINARY_ID; id < vocab.pieces.length; id++) ordinary.set(hf(vocab.pieces[id]!), id);
  const candidates: Array<{ score: number; id: number; split: number; pair: [string, string] }> = [];
  for (const [piece, id] of ordinary) {
    const chars = Array.from(piece); // llama2.c's symbols are whole UTF-8 code points
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      if (ordinary.has(left) && ordinary.has(right)) candidates.push({ score: vocab.scores[id]!, id, split: k, pair: [left, right] });
    }
  }
  candidates.sort((a, b) => b.score - a.score || a.id - b.id || a.split - b.split);
  return candidates.map((c) => c.pair);
}

const addedToken = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/**
 * tokenizer.json, in the form the Rust `tokenizers` library writes for a Llama sentencepiece BPE
 * with byte fallback: Prepend("▁") + Replace(" ", "▁") stand for llama2.c's dummy-prefix space,
 * the post-processor adds BOS (as llama2.c's encode(..., bos=1, eos=0) does), and the decoder
 * turns "▁" back into spaces, byte pieces into bytes and drops the dummy prefix.
 */
export function llama2cTokenizerJson(tokenizerBytes: Uint8Array | Llama2cVocab, fileName = 'tokenizer.bin'): Record<string, unknown> {
  const vocab = tokenizerBytes instanceof Uint8Array ? parseLlama2cTokenizer(tokenizerBytes, undefined, fileName) : tokenizerBytes;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(0, LLAMA2C_UNK), addedToken(1, LLAMA2C_BOS), addedToken(2, LLAMA2C_EOS)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPIECE_UNDERLINE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPIECE_UNDERLINE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: LLAMA2C_BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: LLAMA2C_BOS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: LLAMA2C_BOS, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [LLAMA2C_BOS]: { id: LLAMA2C_BOS, ids: [1], tokens: [LLAMA2C_BOS] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPIECE_UNDERLINE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: LLAMA2C_UNK,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: llama2cHfVocab(vocab),
      merges: llama2cMerges(vocab),
    },
  };
}

/** tokenizer_config.json as transformers writes it for LlamaTokenizerFast. */
export function llama2cTokenizerConfig(modelMaxLength: number): Record<string, unknown> {
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(
      [LLAMA2C_UNK, LLAMA2C_BOS, LLAMA2C_EOS].map((content, id) => {
        const { id: _id, ...rest } = addedToken(id, content);
        return [String(id), rest];
      }),
    ),
    bos_token: LLAMA2C_BOS,
    clean_up_tokenization_spaces: false,
    eos_token: LLAMA2C_EOS,
    // the Prepend normalizer is the "legacy" Llama form; legacy=false would make transformers rebuild it
    legacy: true,
    model_max_length: modelMaxLength,
    pad_token: null,
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizerFast',
    unk_token: LLAMA2C_UNK,
    use_default_system_prompt: false,
  };
}

/** generation_config.json as transformers writes it for a model without its own. */
export const LLAMA2C_GENERATION_CONFIG = { _from_model_config: true, bos_token_id: 1, eos_token_id: 2 } as const;
