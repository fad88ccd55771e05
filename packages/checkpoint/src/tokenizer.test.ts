import { describe, expect, it } from 'vitest';
import { Gpt2Tokenizer } from './tokenizer.ts';
import { buildGpt2TokenizerJson, gpt2Tokenizer } from './tokenizer-files.ts';

describe('GPT-2 tokenizer', () => {
  const tok = gpt2Tokenizer();

  it('builds tokenizer.json from the original vocabulary', () => {
    const json = buildGpt2TokenizerJson() as { model: { vocab: Record<string, number>; merges: string[] } };
    expect(Object.keys(json.model.vocab)).toHaveLength(50257);
    expect(json.model.merges).toHaveLength(50000);
    expect(json.model.merges[0]).toBe('Ġ t');
  });

  it('encodes as GPT-2 does, without adding special tokens', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' Hello world')).toEqual([18435, 995]);
    expect(tok.encode('<|endoftext|>')).toEqual([50256]);
    expect(tok.encode('')).toEqual([]);
  });

  it('round-trips text through decode', () => {
    for (const s of ['Hello world', ' Hello world', "It's  a test.\n\nNew  paragraph\t tabs", 'naïve café 東京 🙂', 'a<|endoftext|>b']) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
    expect(tok.decode([15496, 995])).toBe('Hello world');
  });

  it('is constructible from JSON alone (browser path)', () => {
    const t = new Gpt2Tokenizer(JSON.parse(JSON.stringify(buildGpt2TokenizerJson())) as object);
    expect(t.encode('Hello world')).toEqual([15496, 995]);
    expect(t.idToToken(995)).toBe('Ġworld');
    expect(t.tokenToId('<|endoftext|>')).toBe(50256);
  });
});
