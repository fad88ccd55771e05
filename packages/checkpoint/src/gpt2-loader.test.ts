import { describe, expect, it } from 'vitest';
import { InvalidConfigError, expectedTensors, gpt2Config, toHfConfig } from '@splitwise/core';
import type { GPT2Config } from '@splitwise/core';
import {
  CheckpointError,
  DuplicateTensorError,
  MissingTensorError,
  TruncatedFileError,
  UnsupportedDtypeError,
  WrongShapeError,
} from './errors.ts';
import { hfTensorName, loadGpt2Checkpoint } from './gpt2-loader.ts';
import { makeRandomGpt2 } from './make-model.ts';
import { encodeSafetensors } from './safetensors.ts';
import type { TensorToWrite, WriteDtype } from './safetensors.ts';

const small: GPT2Config = gpt2Config({
  nLayer: 2,
  nHead: 2,
  nEmbd: 8,
  nInner: 20,
  nPositions: 16,
  vocabSize: 50,
  layerNormEpsilon: 1e-5,
  activation: 'gelu_new',
  scaleAttnWeights: true,
  scaleAttnByInverseLayerIdx: false,
  tieWordEmbeddings: true,
  bosTokenId: 49,
  eosTokenId: 49,
});

/** The tensors of a random model under HF key names, with optional edits. */
function hfTensors(c: GPT2Config, opts: { prefix?: boolean; dtype?: WriteDtype; seed?: number } = {}): TensorToWrite[] {
  const ckpt = makeRandomGpt2(c, opts.seed ?? 1);
  return [...ckpt.tensors].map(([name, t]) => ({
    name: opts.prefix === false ? name : hfTensorName(name),
    dtype: opts.dtype ?? 'F32',
    shape: t.shape,
    data: t.data,
  }));
}

function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, message: RegExp): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${cls.name}`).toBeInstanceOf(cls);
  expect((caught as Error).message).toMatch(message);
  return caught as Error;
}

describe('loadGpt2Checkpoint', () => {
  const ref = makeRandomGpt2(small, 1);

  function expectSameAsRef(loaded: ReturnType<typeof loadGpt2Checkpoint>): void {
    expect([...loaded.tensors.keys()].sort()).toEqual([...expectedTensors(loaded.config).keys()].sort());
    for (const [name, t] of loaded.tensors) {
      expect(t.shape).toEqual(ref.tensors.get(name)!.shape);
      expect(t.data).toEqual(ref.tensors.get(name)!.data);
    }
  }

  it('reads GPT2LMHeadModel keys ("transformer." prefix, tied head absent)', () => {
    const loaded = loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors(hfTensors(small), { format: 'pt' }));
    expect(loaded.config).toEqual(small);
    expect(loaded.warnings).toEqual([]);
    expectSameAsRef(loaded);
    expect(loaded.tensors.has('lm_head.weight')).toBe(false);
  });

  it('reads GPT2Model keys (no prefix)', () => {
    expectSameAsRef(loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors(hfTensors(small, { prefix: false }))));
  });

  it('skips the attn.bias / attn.masked_bias buffers of older checkpoints and a tied lm_head', () => {
    const extra: TensorToWrite[] = [];
    for (let l = 0; l < small.nLayer; l++) {
      extra.push({ name: `transformer.h.${l}.attn.bias`, dtype: 'F32', shape: [1, 1, 16, 16], data: new Float32Array(256) });
      extra.push({ name: `transformer.h.${l}.attn.masked_bias`, dtype: 'F32', shape: [], data: new Float32Array([-1e4]) });
    }
    extra.push({ name: 'lm_head.weight', dtype: 'F32', shape: [50, 8], data: new Float32Array(400) });
    const loaded = loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors([...hfTensors(small), ...extra]));
    expect(loaded.warnings).toEqual([]);
    expect(loaded.tensors.has('lm_head.weight')).toBe(false);
    expectSameAsRef(loaded);
  });

  it('skips a BOOL causal-mask buffer too (its dtype does not matter)', () => {
    // Hand-build: encodeSafetensors only writes float dtypes.
    const base = encodeSafetensors(hfTensors(small));
    const n = new DataView(base.buffer).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + n))) as Record<string, { data_offsets?: number[] }>;
    const dataLen = base.length - 8 - n;
    header['h.0.attn.bias'] = { dtype: 'BOOL', shape: [1, 1, 16, 16], data_offsets: [dataLen, dataLen + 256] } as never;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + dataLen + 256);
    new DataView(out.buffer).setUint32(0, json.length, true);
    out.set(json, 8);
    out.set(base.subarray(8 + n), 8 + json.length);
    const loaded = loadGpt2Checkpoint(toHfConfig(small), out, { copy: true });
    expect(loaded.warnings).toEqual([]);
    expectSameAsRef(loaded);
  });

  it('reports unknown tensors as warnings', () => {
    const extra = { name: 'transformer.h.7.mlp.c_fc.weight', dtype: 'F32' as const, shape: [2], data: new Float32Array(2) };
    const loaded = loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors([...hfTensors(small), extra]));
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(/ignoring tensor "transformer\.h\.7\.mlp\.c_fc\.weight"/);
  });

  it('n_inner: null means 4 * n_embd; an explicit n_inner is honoured', () => {
    const c4 = { ...small, nInner: 32 };
    const hf = { ...toHfConfig(c4) };
    expect(hf.n_inner).toBeNull();
    const loaded = loadGpt2Checkpoint(hf, encodeSafetensors(hfTensors(c4)));
    expect(loaded.config.nInner).toBe(32);
    expect(loaded.tensors.get('h.1.mlp.c_fc.weight')!.shape).toEqual([8, 32]);
    // The same file read with n_inner 20 must fail on the shape.
    expectError(() => loadGpt2Checkpoint({ ...hf, n_inner: 20 }, encodeSafetensors(hfTensors(c4))), WrongShapeError, /\[8, 32\] but config\.json implies \[8, 20\]/);
  });

  it('untied: lm_head.weight is required and loaded', () => {
    const untied = { ...small, tieWordEmbeddings: false };
    const loaded = loadGpt2Checkpoint(toHfConfig(untied), encodeSafetensors(hfTensors(untied)));
    const head = loaded.tensors.get('lm_head.weight')!;
    expect(head.shape).toEqual([50, 8]);
    expect(head.data).not.toEqual(loaded.tensors.get('wte.weight')!.data);
    // Missing head with an untied config.
    const noHead = hfTensors(untied).filter((t) => t.name !== 'lm_head.weight');
    const e = expectError(() => loadGpt2Checkpoint(toHfConfig(untied), encodeSafetensors(noHead)), MissingTensorError, /"lm_head\.weight".*tie_word_embeddings=false/);
    expect((e as MissingTensorError).tensor).toBe('lm_head.weight');
  });

  it('F16 files load within half precision (1e-3 relative)', () => {
    const loaded = loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors(hfTensors(small, { dtype: 'F16' })));
    for (const [name, t] of loaded.tensors) {
      const want = ref.tensors.get(name)!.data;
      for (let i = 0; i < want.length; i++) {
        expect(Math.abs(t.data[i]! - want[i]!)).toBeLessThanOrEqual(1e-3 * Math.abs(want[i]!) + 1e-7);
      }
    }
  });

  it('missing tensor names the tensor', () => {
    const t = hfTensors(small).filter((x) => x.name !== 'transformer.h.1.attn.c_proj.bias');
    const e = expectError(() => loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors(t)), MissingTensorError, /tensor "h\.1\.attn\.c_proj\.bias" \(or "transformer\.h\.1\.attn\.c_proj\.bias"\) is missing/);
    expect((e as MissingTensorError).tensor).toBe('h.1.attn.c_proj.bias');
  });

  it('wrong shape names the tensor, expected and actual shapes', () => {
    const t = hfTensors(small).map((x) => (x.name === 'transformer.wpe.weight' ? { ...x, shape: [8, 16] } : x));
    const e = expectError(() => loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors(t)), WrongShapeError, /"transformer\.wpe\.weight" has shape \[8, 16\] but config\.json implies \[16, 8\]/);
    expect((e as WrongShapeError).expected).toEqual([16, 8]);
    expect((e as WrongShapeError).actual).toEqual([8, 16]);
  });

  it('non-float dtype on a weight is unsupported', () => {
    const bytes = encodeSafetensors(hfTensors(small));
    const n = new DataView(bytes.buffer).getUint32(0, true);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    // Relabel ln_f.bias (8 F32 = 32 bytes) as 8 I32: same size, valid file, wrong dtype for a weight.
    const relabelled = text.replace(/("transformer\.ln_f\.bias":\{"dtype":")F32/, '$1I32');
    expect(relabelled).not.toBe(text);
    const out = bytes.slice();
    out.set(new TextEncoder().encode(relabelled), 8);
    expectError(() => loadGpt2Checkpoint(toHfConfig(small), out), UnsupportedDtypeError, /"transformer\.ln_f\.bias" has dtype I32/);
  });

  it('sharded: merges files in any order; duplicates are an error', () => {
    const all = hfTensors(small);
    const a = encodeSafetensors(all.slice(0, 10));
    const b = encodeSafetensors(all.slice(10));
    expectSameAsRef(loadGpt2Checkpoint(toHfConfig(small), [b, a]));
    expectError(() => loadGpt2Checkpoint(toHfConfig(small), [a, b, a], { fileNames: ['s1', 's2', 's3'] }), DuplicateTensorError, /is in both s1 and s3/);
    // Same tensor with and without prefix.
    const both = [...all, { ...all.find((t) => t.name === 'transformer.wte.weight')!, name: 'wte.weight' }];
    expectError(() => loadGpt2Checkpoint(toHfConfig(small), encodeSafetensors(both)), DuplicateTensorError, /"wte\.weight" appears twice/);
  });

  it('bad config and truncated file surface as typed errors', () => {
    expect(() => loadGpt2Checkpoint({ n_layer: 2 }, new Uint8Array())).toThrow(InvalidConfigError);
    const bytes = encodeSafetensors(hfTensors(small));
    expect(() => loadGpt2Checkpoint(toHfConfig(small), bytes.subarray(0, bytes.length - 3))).toThrow(TruncatedFileError);
    expect(() => loadGpt2Checkpoint(toHfConfig(small), bytes.subarray(0, 3))).toThrow(CheckpointError);
  });
});
