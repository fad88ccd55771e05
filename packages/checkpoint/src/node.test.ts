import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PRESETS, gpt2Config, parseHfConfig, toHfConfig } from '@splitwise/core';
import type { GPT2Config, Gpt2Checkpoint } from '@splitwise/core';
import {
  InvalidHeaderError,
  MissingFileError,
  TruncatedFileError,
  encodeSafetensors,
  hfTensorName,
  loadGpt2FromDir,
  loadTokenizerFromDir,
  makeModel,
  makeRandomGpt2,
  parseSafetensors,
  writeGpt2Checkpoint,
  writeSafetensorsFile,
} from './node.ts';

const root = await mkdtemp(join(tmpdir(), 'splitwise-ckpt-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `m${n++}`);

const small: GPT2Config = gpt2Config({ ...PRESETS.tiny, nLayer: 2, nEmbd: 16, nHead: 2, nInner: 40, nPositions: 32, vocabSize: 60, bosTokenId: 59, eosTokenId: 59 });

/** Exact equality of two checkpoints (hand loop: vitest's deep equality is slow on MBs). */
function expectSame(a: Gpt2Checkpoint, b: Gpt2Checkpoint, relTol = 0): void {
  expect(a.config).toEqual(b.config);
  expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort());
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!;
    expect(t.shape, name).toEqual(u.shape);
    expect(t.data.length).toBe(u.data.length);
    let bad = -1;
    for (let i = 0; i < t.data.length && bad < 0; i++) {
      const x = t.data[i]!;
      const y = u.data[i]!;
      if (relTol === 0 ? x !== y : Math.abs(x - y) > relTol * Math.abs(y) + 1e-7) bad = i;
    }
    expect(bad, `${name} differs at ${bad}`).toBe(-1);
  }
}

async function expectReject(p: Promise<unknown>, cls: new (...a: never[]) => Error, message: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected ${cls.name}`).toBeInstanceOf(cls);
  expect((e as Error).message).toMatch(message);
}

describe('writeGpt2Checkpoint / loadGpt2FromDir', () => {
  it('F32 round trip is exact, on both the whole-file and the streaming path', async () => {
    const ckpt = makeRandomGpt2(small, 11);
    const dir = freshDir();
    await writeGpt2Checkpoint(dir, ckpt);
    // Vocabulary of 60 < GPT-2's 50257: no tokenizer files by default.
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const whole = await loadGpt2FromDir(dir);
    expectSame(whole, ckpt);
    expect(whole.warnings).toEqual([]);
    expectSame(await loadGpt2FromDir(dir, { streamThresholdBytes: 0 }), ckpt);
  });

  it('writes HF GPT2LMHeadModel key names and format metadata', async () => {
    const dir = freshDir();
    await writeGpt2Checkpoint(dir, makeRandomGpt2(small, 1));
    const file = parseSafetensors(await readFile(join(dir, 'model.safetensors')));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.tensors.has('transformer.h.0.attn.c_attn.weight')).toBe(true);
    expect(file.tensors.has('transformer.wte.weight')).toBe(true);
    expect([...file.tensors.keys()].some((k) => k.includes('lm_head'))).toBe(false);
    expect([...file.tensors.keys()].every((k) => k.startsWith('transformer.'))).toBe(true);
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(parseHfConfig(cfg)).toEqual(small);
    expect(cfg.torch_dtype).toBe('float32');
    const gen = JSON.parse(await readFile(join(dir, 'generation_config.json'), 'utf8')) as Record<string, unknown>;
    expect(gen).toMatchObject({ bos_token_id: 59, eos_token_id: 59 });
  });

  it('untied: lm_head.weight written without prefix and read back', async () => {
    const c = { ...small, tieWordEmbeddings: false };
    const ckpt = makeRandomGpt2(c, 2);
    const dir = freshDir();
    await writeGpt2Checkpoint(dir, ckpt);
    const file = parseSafetensors(await readFile(join(dir, 'model.safetensors')));
    expect(file.tensors.get('lm_head.weight')!.shape).toEqual([60, 16]);
    expectSame(await loadGpt2FromDir(dir), ckpt);
  });

  it('F16 round trip is within 1e-3 relative, on both paths', async () => {
    const ckpt = makeRandomGpt2(small, 12);
    const dir = freshDir();
    await writeGpt2Checkpoint(dir, ckpt, { dtype: 'F16' });
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.torch_dtype).toBe('float16');
    const file = parseSafetensors(await readFile(join(dir, 'model.safetensors')));
    expect([...file.tensors.values()].every((t) => t.dtype === 'F16')).toBe(true);
    expectSame(await loadGpt2FromDir(dir), ckpt, 1e-3);
    expectSame(await loadGpt2FromDir(dir, { streamThresholdBytes: 0 }), ckpt, 1e-3);
  });

  it('sharded directories (model.safetensors.index.json)', async () => {
    const ckpt = makeRandomGpt2(small, 5);
    const all = [...ckpt.tensors].map(([name, t]) => ({ name: hfTensorName(name), dtype: 'F32' as const, shape: t.shape, data: t.data }));
    const shards = [all.slice(0, 12), all.slice(12)];
    const dir = freshDir();
    await writeGpt2Checkpoint(dir, ckpt);
    await rm(join(dir, 'model.safetensors'));
    const weightMap: Record<string, string> = {};
    for (const [i, s] of shards.entries()) {
      const f = `model-0000${i + 1}-of-00002.safetensors`;
      await writeFile(join(dir, f), encodeSafetensors(s, { format: 'pt' }));
      for (const t of s) weightMap[t.name] = f;
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    expectSame(await loadGpt2FromDir(dir), ckpt);
    expectSame(await loadGpt2FromDir(dir, { streamThresholdBytes: 0 }), ckpt);

    await rm(join(dir, 'model-00002-of-00002.safetensors'));
    await expectReject(loadGpt2FromDir(dir), MissingFileError, /shard not found: .*model-00002-of-00002\.safetensors/);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
    await expectReject(loadGpt2FromDir(dir), InvalidHeaderError, /leaves/);
  });

  it('missing files are named', async () => {
    const dir = freshDir();
    await expectReject(loadGpt2FromDir(dir), MissingFileError, /config\.json not found: .*config\.json/);
    await writeGpt2Checkpoint(dir, makeRandomGpt2(small, 1));
    await rm(join(dir, 'model.safetensors'));
    await expectReject(loadGpt2FromDir(dir), MissingFileError, /no weights in .*model\.safetensors.*model\.safetensors\.index\.json/);
    await expectReject(loadTokenizerFromDir(dir), MissingFileError, /no tokenizer in/);
  });

  it('truncated files are rejected on both paths', async () => {
    const dir = freshDir();
    await writeGpt2Checkpoint(dir, makeRandomGpt2(small, 1));
    const path = join(dir, 'model.safetensors');
    const size = (await readFile(path)).length;
    for (const cut of [size - 1, 600, 5]) {
      await truncate(path, cut);
      await expectReject(loadGpt2FromDir(dir), TruncatedFileError, /model\.safetensors/);
      await expectReject(loadGpt2FromDir(dir, { streamThresholdBytes: 0 }), TruncatedFileError, /model\.safetensors/);
    }
  });
});

describe('writeSafetensorsFile', () => {
  it('leaves no partial file when a tensor fails', async () => {
    const dir = freshDir();
    await mkdir(dir);
    const specs = [{ name: 'a', dtype: 'F32' as const, shape: [2] }, { name: 'b', dtype: 'F32' as const, shape: [3] }];
    await expectReject(writeSafetensorsFile(join(dir, 'x.safetensors'), specs, () => new Float32Array(2)), Error, /"b" has 2 values, shape \[3\] needs 3/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('makeModel', () => {
  it('writes a full HF folder that loadGpt2FromDir reads back bit for bit', async () => {
    const dir = freshDir();
    const r = await makeModel({ config: 'tiny', seed: 42, outDir: dir });
    expect(r.parameters).toBeGreaterThan(3e6);
    expect((await readdir(dir)).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'merges.txt',
      'model.safetensors',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'vocab.json',
    ]);
    expectSame(await loadGpt2FromDir(dir), makeRandomGpt2(PRESETS.tiny, 42));
    const tok = await loadTokenizerFromDir(dir);
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.decode([18435, 995])).toBe(' Hello world');
    // The slow-tokenizer files alone also work.
    await rm(join(dir, 'tokenizer.json'));
    expect((await loadTokenizerFromDir(dir)).encode(' Hello world')).toEqual([18435, 995]);
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toEqual(toHfConfig(PRESETS.tiny));
  });

  it('is deterministic: same seed same bytes, different seed different bytes', async () => {
    const [a, b, c] = [freshDir(), freshDir(), freshDir()];
    await makeModel({ config: PRESETS.tiny, seed: 1, outDir: a, tokenizer: false });
    await makeModel({ config: PRESETS.tiny, seed: 1, outDir: b, tokenizer: false });
    await makeModel({ config: PRESETS.tiny, seed: 2, outDir: c, tokenizer: false, dtype: 'F16' });
    const [fa, fb, fc] = await Promise.all([a, b, c].map((d) => readFile(join(d, 'model.safetensors'))));
    expect(fa!.equals(fb!)).toBe(true);
    expect(fa!.equals(fc!)).toBe(false);
    expect(fc!.length).toBeLessThan(fa!.length * 0.51);
    expect(await readdir(a)).not.toContain('tokenizer.json');
  });
});
