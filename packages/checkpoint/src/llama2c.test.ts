// llama2.c import: the tokenizer against llama2.c's own encoder (fixture recorded from run.c, see
// __fixtures__/README.md), the converted weights against run.c's greedy story and logits through a
// Hugging Face-style forward (rotate_half RoPE), and the typed errors for broken inputs.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import {
  InvalidLlama2cCheckpointError,
  InvalidLlama2cTokenizerError,
  MissingFileError,
  TruncatedFileError,
} from './errors.ts';
import {
  llama2cMerges,
  llama2cTokenizerConfig,
  llama2cTokenizerJson,
  parseLlama2cCheckpoint,
  parseLlama2cTokenizer,
  permuteRotaryRows,
  unpermuteRotaryRows,
} from './llama2c.ts';
import type { Llama2cTensor } from './llama2c.ts';
import { importLlama2c } from './llama2c-node.ts';
import { parseSafetensors, readFloat32 } from './safetensors.ts';

const here = dirname(fileURLToPath(import.meta.url));
// CI clones the repository with ../shared beside it
const MODEL_DIR = resolve(here, '../../..', '../shared/models/stories260K');
const CHECKPOINT = join(MODEL_DIR, 'stories260K.bin');
const TOK512 = join(MODEL_DIR, 'tok512.bin');
const HAVE_MODEL = existsSync(CHECKPOINT) && existsSync(TOK512);
if (!HAVE_MODEL) console.warn(`llama2c.test.ts: ${MODEL_DIR} not found; skipping the tests that need stories260K.bin and tok512.bin`);

interface EncodeFixture { cases: Array<{ text: string; ids: number[] }> }
interface GreedyFixture { prompt: string; promptIds: number[]; generatedIds: number[]; ids: number[]; text: string; lastPromptLogits: number[] }
const fixture = <T>(name: string): T => JSON.parse(readFileSync(join(here, '__fixtures__', name), 'utf8')) as T;

// ---------------------------------------------------------------- synthetic llama2.c files

interface Dims { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seq: number }
const TINY: Dims = { dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, vocab: 300, seq: 4 };

/** Float count of a version-0 file, computed here independently of the code under test. */
function floatCount(d: Dims, shared: boolean): number {
  const hs = d.dim / d.heads, kv = d.kvHeads * hs;
  return d.vocab * d.dim + d.layers * (2 * d.dim + 2 * d.dim * d.dim + 2 * kv * d.dim + 3 * d.hidden * d.dim) + d.dim + d.seq * hs + (shared ? 0 : d.vocab * d.dim);
}

/** A version-0 checkpoint whose i-th float is value(i) (small, distinct values by default). */
function v0Checkpoint(d: Dims, shared = true, value = (i: number) => ((i % 997) - 498) / 1000): Uint8Array {
  const header = [d.dim, d.hidden, d.layers, d.heads, d.kvHeads, shared ? d.vocab : -d.vocab, d.seq];
  const n = floatCount(d, shared);
  const buf = new ArrayBuffer(28 + 4 * n);
  const view = new DataView(buf);
  header.forEach((v, i) => view.setInt32(4 * i, v, true));
  for (let i = 0; i < n; i++) view.setFloat32(28 + 4 * i, value(i), true);
  return new Uint8Array(buf);
}

/** A llama2.c tokenizer file: <unk>, BOS, EOS, the 256 byte pieces, then `pieces` with scores. */
function tokenizerFile(pieces: Array<[string, number]>, opts: { maxLen?: number; replace?: [number, string] } = {}): Uint8Array {
  const strings: Array<[string, number]> = [
    ['<unk>', 0], ['\n<s>\n', 0], ['\n</s>\n', 0],
    ...Array.from({ length: 256 }, (_, b): [string, number] => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]),
    ...pieces,
  ];
  if (opts.replace) strings[opts.replace[0]] = [opts.replace[1], 0];
  const all = strings.map(([p, s]): [Uint8Array, number] => [new TextEncoder().encode(p), s]);
  const maxLen = opts.maxLen ?? Math.max(...all.map(([p]) => p.length));
  const size = 4 + all.reduce((s, [p]) => s + 8 + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, maxLen, true);
  let at = 4;
  for (const [p, s] of all) {
    view.setFloat32(at, s, true);
    view.setInt32(at + 4, p.length, true);
    out.set(p, at + 8);
    at += 8 + p.length;
  }
  return out;
}

const tensorMap = (ts: Llama2cTensor[]) => new Map(ts.map((t) => [t.name, t]));

// ---------------------------------------------------------------- RoPE permutation

describe('rotary row permutation', () => {
  it('matches convert_llama_weights_to_hf.py: per head, even rows first, then odd rows', () => {
    // 2 heads of 4 rows, 1 column: row r holds r
    const w = Float32Array.from({ length: 8 }, (_, i) => i);
    expect([...permuteRotaryRows(w, 2, 8, 1)]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  it('round-trips: unpermute(permute(w)) is w, and permute moves rows', () => {
    const rows = 48, cols = 5, heads = 6;
    const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 10);
    const p = permuteRotaryRows(w, heads, rows, cols);
    expect(p).not.toEqual(w);
    expect(unpermuteRotaryRows(p, heads, rows, cols)).toEqual(w);
    expect(permuteRotaryRows(unpermuteRotaryRows(w, heads, rows, cols), heads, rows, cols)).toEqual(w);
  });

  it('refuses heads of odd size', () => {
    expect(() => permuteRotaryRows(new Float32Array(6), 2, 6, 1)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------- checkpoint parsing (synthetic)

describe('parseLlama2cCheckpoint on synthetic files', () => {
  it('names, shapes, permuted q/k and a separate lm_head when vocab_size is negative', () => {
    const d = TINY;
    const floats = floatCount(d, false);
    const bytes = v0Checkpoint(d, false, (i) => i); // float i holds i: every tensor shows its file offset
    const { header, hfConfig, tensors } = parseLlama2cCheckpoint(bytes);
    expect(header).toMatchObject({ dim: 8, nHeads: 2, nKvHeads: 1, vocabSize: 300, sharedClassifier: false });
    expect(hfConfig).toMatchObject({ tie_word_embeddings: false, num_key_value_heads: 1, head_dim: 4, max_position_embeddings: 4 });
    const t = tensorMap(tensors);
    expect(t.get('model.layers.1.self_attn.k_proj.weight')!.shape).toEqual([4, 8]);
    expect(t.get('model.layers.0.mlp.down_proj.weight')!.shape).toEqual([8, 12]);
    expect(t.get('lm_head.weight')!.data[0]).toBe(floats - 300 * 8);
    // wq of layer 0 starts after the embedding and rms_att; its row 1 (odd) goes to row 2 (second half of head 0)
    const wq0 = 300 * 8 + 2 * 8;
    const q = t.get('model.layers.0.self_attn.q_proj.weight')!;
    expect(q.data[2 * 8]).toBe(wq0 + 1 * 8);
    expect(q.data[1 * 8]).toBe(wq0 + 2 * 8);
    // w1 -> gate, w3 -> up, w2 -> down
    const w1 = wq0 + 2 * 64 + 2 * 32 + 2 * 32 + 2 * 64 + 2 * 8; // after wq, wk, wv, wo, rms_ffn
    expect(t.get('model.layers.0.mlp.gate_proj.weight')!.data[0]).toBe(w1);
    expect(t.get('model.layers.0.mlp.up_proj.weight')!.data[0]).toBe(w1 + 2 * 96 * 2);
    expect(t.get('model.layers.0.mlp.down_proj.weight')!.data[0]).toBe(w1 + 2 * 96);
  });

  it('refuses a truncated file, naming the sizes', () => {
    const bytes = v0Checkpoint(TINY);
    expect(() => parseLlama2cCheckpoint(bytes.subarray(0, bytes.length - 4), 'cut.bin')).toThrow(TruncatedFileError);
    expect(() => parseLlama2cCheckpoint(bytes.subarray(0, bytes.length - 4), 'cut.bin')).toThrow(/cut\.bin: \d+ bytes, but its header .* needs \d+/);
    expect(() => parseLlama2cCheckpoint(bytes.subarray(0, 10), 'cut.bin')).toThrow(/shorter than llama2.c's 28-byte header/);
  });

  it('refuses bad headers with the problem named', () => {
    const withHeader = (i: number, v: number): Uint8Array => {
      const b = v0Checkpoint(TINY).slice();
      new DataView(b.buffer).setInt32(4 * i, v, true);
      return b;
    };
    expect(() => parseLlama2cCheckpoint(withHeader(3, 3))).toThrow(/dim 8 is not divisible by n_heads 3/);
    expect(() => parseLlama2cCheckpoint(withHeader(0, -8))).toThrow(/header dim = -8 is not a size/);
    expect(() => parseLlama2cCheckpoint(withHeader(4, 3))).toThrow(/n_heads 2 is not a multiple of n_kv_heads 3/);
    expect(() => parseLlama2cCheckpoint(withHeader(6, 1 << 30))).toThrow(InvalidLlama2cCheckpointError);
    expect(() => parseLlama2cCheckpoint(withHeader(0, 0x616b3432))).toThrow(/"ak42" magic/);
    const oddHead = v0Checkpoint({ ...TINY, dim: 6, heads: 2 });
    expect(() => parseLlama2cCheckpoint(oddHead)).toThrow(/head size 3 .* is odd/);
  });

  it('refuses trailing bytes and names a missing minus sign on vocab_size', () => {
    const unshared = v0Checkpoint(TINY, false);
    const saysShared = unshared.slice();
    new DataView(saysShared.buffer).setInt32(20, TINY.vocab, true);
    expect(() => parseLlama2cCheckpoint(saysShared)).toThrow(/vocab_size should be negative/);
    const extra = new Uint8Array(v0Checkpoint(TINY).length + 4);
    extra.set(v0Checkpoint(TINY));
    expect(() => parseLlama2cCheckpoint(extra)).toThrow(/4 more than its header/);
  });

  it('refuses non-finite weights', () => {
    const b = v0Checkpoint(TINY).slice();
    new DataView(b.buffer).setFloat32(28 + 4 * (300 * 8 + 3), NaN, true);
    expect(() => parseLlama2cCheckpoint(b, 'nan.bin')).toThrow(/nan\.bin: rms_att holds a non-finite value \(NaN\) at index 3/);
  });
});

// ---------------------------------------------------------------- tokenizer (synthetic)

describe('llama2c tokenizer conversion on synthetic vocabularies', () => {
  it('ranks merges by the score of the piece they make, with every split of a piece', () => {
    const file = tokenizerFile([[' a', -1], ['bc', -2], [' abc', -3], [' ab', -4], [' ', -5], ['a', -6], ['b', -7], ['c', -8]]);
    const merges = llama2cMerges(parseLlama2cTokenizer(file));
    // "▁abc" splits as ▁a+bc and ▁ab+c ("abc" is no piece); "▁ab" only as ▁a+b ("ab" is no piece)
    expect(merges).toEqual([['▁', 'a'], ['b', 'c'], ['▁a', 'bc'], ['▁ab', 'c'], ['▁a', 'b']]);
  });

  it('encodes by score, not by the order pieces were learnt', () => {
    // ids 259.. : "bc" -1, " a" -2, " abc" -3, " ab" -4, " " -5, "a", "b", "c"
    const file = tokenizerFile([['bc', -1], [' a', -2], [' abc', -3], [' ab', -4], [' ', -5], ['a', -6], ['b', -7], ['c', -8]]);
    const tok = new Tokenizer(llama2cTokenizerJson(file), llama2cTokenizerConfig(16));
    // " a" and "bc" first (highest scores), then " a"+"bc" = " abc"; never " ab" (-4) then "c"
    expect(tok.encode('abc').ids).toEqual([1, 261]);
    // no pair of "▁cab" is a piece: single pieces; "{" is no piece: byte fallback (0x7B + 3)
    expect(tok.encode('cab{').ids).toEqual([1, 263, 266, 264, 265, 0x7b + 3]);
    expect(tok.encode('').ids).toEqual([1]);
  });

  it('refuses broken tokenizer files with typed errors', () => {
    const good = tokenizerFile([[' a', -1], ['a', -2]]);
    expect(() => parseLlama2cTokenizer(good.subarray(0, good.length - 1), undefined, 'cut.bin')).toThrow(TruncatedFileError);
    expect(() => parseLlama2cTokenizer(good.subarray(0, 2))).toThrow(TruncatedFileError);
    expect(() => parseLlama2cTokenizer(good, 262)).toThrow(/261 pieces, the checkpoint's vocab_size is 262/);
    expect(() => parseLlama2cTokenizer(good, 260)).toThrow(/left after piece 259/);
    expect(() => parseLlama2cTokenizer(tokenizerFile([['a', 0]], { maxLen: 0 }))).toThrow(/max_token_length 0/);
    expect(() => parseLlama2cTokenizer(tokenizerFile([['abcdefgh', 0]], { maxLen: 6 }))).toThrow(/piece 259 has length 8, outside 1..max_token_length \(6\)/);
    expect(() => parseLlama2cTokenizer(tokenizerFile([['a', 0]], { replace: [20, '<0x1G>'] }))).toThrow(/piece 20 is "<0x1G>", expected the byte piece <0x11>/);
    expect(() => parseLlama2cTokenizer(tokenizerFile([['a', 0]], { replace: [1, '<bos>'] }))).toThrow(InvalidLlama2cTokenizerError);
    const badUtf8 = tokenizerFile([['ab', 0]]);
    badUtf8[badUtf8.length - 1] = 0xff;
    expect(() => parseLlama2cTokenizer(badUtf8)).toThrow(/piece 259 is not valid UTF-8/);
    expect(() => parseLlama2cTokenizer(tokenizerFile([['a', -1], ['a', -2]]))).toThrow(/pieces 259 and 260 are both "a"/);
  });
});

// ---------------------------------------------------------------- the real stories260K

/** Hugging Face LlamaForCausalLM semantics (rotate_half RoPE, GQA), float64, KV cache. */
function hfLlamaForward(t: Map<string, Llama2cTensor>, cfg: Record<string, number>) {
  const E = cfg.hidden_size!, H = cfg.num_attention_heads!, KV = cfg.num_key_value_heads!, D = cfg.head_dim!;
  const L = cfg.num_hidden_layers!, V = cfg.vocab_size!, eps = cfg.rms_norm_eps!, theta = cfg.rope_theta!;
  const w = (n: string): Float32Array => t.get(n)!.data;
  const matvec = (m: Float32Array, x: Float64Array, rows: number): Float64Array => {
    const cols = x.length, out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) { let s = 0; for (let c = 0; c < cols; c++) s += m[r * cols + c]! * x[c]!; out[r] = s; }
    return out;
  };
  const rms = (x: Float64Array, g: Float32Array): Float64Array => {
    const ss = x.reduce((s, v) => s + v * v, 0) / x.length + eps;
    return x.map((v, i) => (v / Math.sqrt(ss)) * g[i]!);
  };
  const rope = (v: Float64Array, heads: number, pos: number): void => {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < D / 2; i++) {
        const a = pos * theta ** (-(2 * i) / D), o = h * D;
        const x1 = v[o + i]!, x2 = v[o + i + D / 2]!;
        v[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        v[o + i + D / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
  };
  const keys: Float64Array[][] = Array.from({ length: L }, () => []);
  const values: Float64Array[][] = Array.from({ length: L }, () => []);
  return (token: number, pos: number): Float64Array => {
    let x = Float64Array.from(w('model.embed_tokens.weight').subarray(token * E, (token + 1) * E));
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      const hn = rms(x, w(`${p}input_layernorm.weight`));
      const q = matvec(w(`${p}self_attn.q_proj.weight`), hn, H * D);
      const k = matvec(w(`${p}self_attn.k_proj.weight`), hn, KV * D);
      rope(q, H, pos);
      rope(k, KV, pos);
      keys[l]!.push(k);
      values[l]!.push(matvec(w(`${p}self_attn.v_proj.weight`), hn, KV * D));
      const att = new Float64Array(H * D);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KV)) * D;
        const s = keys[l]!.map((kk) => { let d = 0; for (let i = 0; i < D; i++) d += q[h * D + i]! * kk[g + i]!; return d / Math.sqrt(D); });
        const m = Math.max(...s), e = s.map((v) => Math.exp(v - m)), z = e.reduce((a, b) => a + b, 0);
        values[l]!.forEach((vv, j) => { for (let i = 0; i < D; i++) att[h * D + i] = att[h * D + i]! + (e[j]! / z) * vv[g + i]!; });
      }
      const o = matvec(w(`${p}self_attn.o_proj.weight`), att, E);
      x = x.map((v, i) => v + o[i]!);
      const hm = rms(x, w(`${p}post_attention_layernorm.weight`));
      const I = cfg.intermediate_size!;
      const gate = matvec(w(`${p}mlp.gate_proj.weight`), hm, I), up = matvec(w(`${p}mlp.up_proj.weight`), hm, I);
      const act = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]!);
      const down = matvec(w(`${p}mlp.down_proj.weight`), act, E);
      x = x.map((v, i) => v + down[i]!);
    }
    return matvec(w('model.embed_tokens.weight'), rms(x, w('model.norm.weight')), V); // tied head
  };
}

describe.skipIf(!HAVE_MODEL)('stories260K from ../shared/models/stories260K', () => {
  const tokJson = () => llama2cTokenizerJson(new Uint8Array(readFileSync(TOK512)), TOK512);

  it("tokenizer.json encodes every fixture text exactly as llama2.c's encoder, and decodes it back", () => {
    const tok = new Tokenizer(tokJson(), llama2cTokenizerConfig(512));
    const { cases } = fixture<EncodeFixture>('llama2c-encode.json');
    expect(cases.length).toBeGreaterThanOrEqual(241);
    const wrong = cases.filter((c) => JSON.stringify(tok.encode(c.text).ids) !== JSON.stringify(c.ids)).map((c) => c.text);
    expect(wrong).toEqual([]);
    const notBack = cases.filter((c) => tok.decode(c.ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }) !== c.text).map((c) => c.text);
    expect(notBack).toEqual([]);
  });

  it('tokenizer.json has the Llama sentencepiece form', () => {
    const j = tokJson() as { model: Record<string, unknown>; added_tokens: Array<{ content: string }> };
    expect(j.model).toMatchObject({ type: 'BPE', byte_fallback: true, fuse_unk: true, unk_token: '<unk>' });
    const vocab = j.model.vocab as Record<string, number>;
    expect(Object.keys(vocab)).toHaveLength(512);
    expect([vocab['<unk>'], vocab['<s>'], vocab['</s>'], vocab['<0x0A>'], vocab['▁the'], vocab['▁']]).toEqual([0, 1, 2, 13, 265, 410]);
    expect(j.added_tokens.map((a) => a.content)).toEqual(['<unk>', '<s>', '</s>']);
    // " the" is reachable as " t"+"he" and " th"+"e": both splits are merges
    expect(j.model.merges).toEqual(expect.arrayContaining([['▁t', 'he'], ['▁th', 'e']]));
  });

  it("the converted weights, run with Hugging Face's rotate_half RoPE, reproduce run.c's greedy story and logits", () => {
    const { hfConfig, tensors } = parseLlama2cCheckpoint(new Uint8Array(readFileSync(CHECKPOINT)), CHECKPOINT);
    const g = fixture<GreedyFixture>('llama2c-stories260K-greedy.json');
    const forward = hfLlamaForward(tensorMap(tensors), hfConfig as Record<string, number>);
    const ids = [1];
    let lastPromptLogits: Float64Array | undefined;
    for (let pos = 0; ids.length < g.ids.length; pos++) {
      const logits = forward(ids[pos]!, pos);
      if (pos + 1 < g.promptIds.length) {
        ids.push(g.promptIds[pos + 1]!); // run.c forces the prompt
      } else {
        if (pos + 1 === g.promptIds.length) lastPromptLogits = logits;
        ids.push(logits.indexOf(Math.max(...logits)));
      }
    }
    expect(ids).toEqual(g.ids);
    const maxDiff = Math.max(...g.lastPromptLogits.map((v, i) => Math.abs(v - lastPromptLogits![i]!)));
    expect(maxDiff).toBeLessThan(1e-4);
    const tok = new Tokenizer(tokJson(), llama2cTokenizerConfig(512));
    expect(tok.encode(g.prompt).ids).toEqual(g.promptIds);
    expect(tok.decode(g.ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false })).toBe(g.text);
  });

  it('importLlama2c writes a complete Hugging Face folder', async () => {
    const out = await mkdtemp(join(tmpdir(), 'llama2c-'));
    try {
      const r = await importLlama2c({ checkpoint: CHECKPOINT, tokenizer: TOK512, outDir: out });
      expect(r.parameters).toBe(260_032);
      expect((await readdir(out)).sort()).toEqual(['README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
      const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
      expect(config).toMatchObject({
        architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5,
        num_attention_heads: 8, num_key_value_heads: 4, head_dim: 8, vocab_size: 512, max_position_embeddings: 512,
        rms_norm_eps: 1e-5, rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32',
      });
      const st = parseSafetensors(new Uint8Array(await readFile(join(out, 'model.safetensors'))));
      expect(st.metadata).toEqual({ format: 'pt' });
      const shapes = Object.fromEntries([...st.tensors.values()].map((t) => [t.name, t.shape]));
      expect(Object.keys(shapes)).toHaveLength(1 + 5 * 9 + 1);
      expect(shapes['lm_head.weight']).toBeUndefined();
      expect(shapes['model.embed_tokens.weight']).toEqual([512, 64]);
      expect(shapes['model.layers.4.self_attn.q_proj.weight']).toEqual([64, 64]);
      expect(shapes['model.layers.4.self_attn.k_proj.weight']).toEqual([32, 64]);
      expect(shapes['model.layers.0.mlp.down_proj.weight']).toEqual([64, 172]);
      expect(shapes['model.norm.weight']).toEqual([64]);
      const parsed = tensorMap(parseLlama2cCheckpoint(new Uint8Array(readFileSync(CHECKPOINT))).tensors);
      const sameBits = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      expect([...st.tensors.values()].filter((t) => !sameBits(readFloat32(t), parsed.get(t.name)!.data)).map((t) => t.name)).toEqual([]);
      const tokConfig = JSON.parse(await readFile(join(out, 'tokenizer_config.json'), 'utf8'));
      expect(tokConfig).toMatchObject({ add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', model_max_length: 512 });
      expect(JSON.parse(await readFile(join(out, 'generation_config.json'), 'utf8'))).toMatchObject({ bos_token_id: 1, eos_token_id: 2 });
      const readme = await readFile(join(out, 'README.md'), 'utf8');
      expect(readme).toMatch(/Karpathy/);
      expect(readme).toMatch(/MIT licence/);
      expect(readme).toMatch(/DaveBben\/esp32-llm \(commit 934dab4d/);
      const tok = new Tokenizer(JSON.parse(await readFile(join(out, 'tokenizer.json'), 'utf8')), tokConfig);
      expect(tok.encode('Once upon a time').ids).toEqual([1, 403, 407, 261, 378]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('importLlama2c refuses a tokenizer of the wrong size and missing files', async () => {
    const out = await mkdtemp(join(tmpdir(), 'llama2c-'));
    try {
      await expect(importLlama2c({ checkpoint: join(out, 'none.bin'), tokenizer: TOK512, outDir: out })).rejects.toThrow(MissingFileError);
      const { writeFile } = await import('node:fs/promises');
      const cut = join(out, 'cut.bin');
      await writeFile(cut, readFileSync(TOK512).subarray(0, 3000));
      await expect(importLlama2c({ checkpoint: CHECKPOINT, tokenizer: cut, outDir: join(out, 'o') })).rejects.toThrow(TruncatedFileError);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
