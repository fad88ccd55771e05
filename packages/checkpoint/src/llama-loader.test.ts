// LLaMA-family checkpoints in the Hugging Face layout: LlamaForCausalLM / Qwen2ForCausalLM keys
// ("model." prefix, nn.Linear [out, in], transposed to the engine's [in, out] on load), a tied or
// untied head, sharded files with their index, F32/F16/BF16, and clear errors for bad input.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidConfigError, PRESETS, familyOf, parseHfConfig, toHfConfig, transpose, type ModelConfig } from '@splitwise/core';
import { MissingTensorError, WrongShapeError } from './errors.ts';
import { loadCheckpoint } from './gpt2-loader.ts';
import { makeRandomModel } from './make-model.ts';
import { loadModelFromDir, makeModel } from './node.ts';
import { encodeSafetensors, parseSafetensors } from './safetensors.ts';

const dirs: string[] = [];
const fresh = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'splitwise-llama-'));
  dirs.push(d);
  return d;
};
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** The file tensors of a checkpoint: HF keys, stored ([out, in]) layouts. */
function stored(config: ModelConfig, seed: number): Array<{ name: string; shape: number[]; data: Float32Array }> {
  const ckpt = makeRandomModel(config, seed), f = familyOf(config);
  return f.tensors(config).map((r) => {
    const d = ckpt.tensors.get(r.name)!.data;
    return { name: f.hfKey(r.name), shape: r.storedShape, data: r.transposed ? transpose(d, r.storedShape[1]!, r.storedShape[0]!) : d };
  });
}

/** A safetensors file in BF16 (the top 16 bits of each float32, truncated: what we compare against). */
function bf16File(tensors: Array<{ name: string; shape: number[]; data: Float32Array }>): { bytes: Uint8Array; truncated: Map<string, Float32Array> } {
  const header: Record<string, unknown> = {}, parts: Uint8Array[] = [], truncated = new Map<string, Float32Array>();
  let at = 0;
  for (const t of tensors) {
    const bits = new Uint32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
    const half = new Uint16Array(bits.length);
    const back = new Uint32Array(bits.length);
    bits.forEach((b, i) => {
      half[i] = b >>> 16;
      back[i] = (b >>> 16) << 16;
    });
    truncated.set(t.name, new Float32Array(back.buffer));
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [at, at + half.byteLength] };
    parts.push(new Uint8Array(half.buffer));
    at += half.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const head = new TextEncoder().encode(json), out = new Uint8Array(8 + head.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let o = 8 + head.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return { bytes: out, truncated };
}

describe('LLaMA-family checkpoints', () => {
  it('make-model writes LlamaForCausalLM (model.* keys, [out, in], untied head) and the loader reads back the same tensors', async () => {
    const c = PRESETS['llama-tiny'], dir = await fresh();
    await makeModel({ config: 'llama-tiny', seed: 3, outDir: dir });
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ architectures: ['LlamaForCausalLM'], model_type: 'llama', num_key_value_heads: 4, intermediate_size: 150, tie_word_embeddings: false });
    expect(parseHfConfig(cfg)).toEqual(c);
    const file = parseSafetensors(await readFile(join(dir, 'model.safetensors')));
    expect(file.tensors.get('model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([c.nHead * c.headDim, c.nEmbd]);
    expect(file.tensors.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([c.nKvHead * c.headDim, c.nEmbd]);
    expect(file.tensors.get('model.layers.2.mlp.down_proj.weight')!.shape).toEqual([c.nEmbd, c.nInner]);
    expect(file.tensors.has('lm_head.weight')).toBe(true);
    const loaded = await loadModelFromDir(dir), mem = makeRandomModel(c, 3);
    for (const [name, t] of mem.tensors) {
      expect(loaded.tensors.get(name)!.shape, name).toEqual(t.shape);
      expect(loaded.tensors.get(name)!.data, name).toEqual(t.data);
    }
    // and the engine layout really is [in, out]: q_proj as loaded is the file's transpose
    expect(loaded.tensors.get('layers.0.self_attn.q_proj.weight')!.shape).toEqual([c.nEmbd, c.nHead * c.headDim]);
  });

  it('Qwen2: q/k/v biases, a tied head, and a missing bias is named', () => {
    const c = PRESETS['qwen2-tiny'], tensors = stored(c, 5);
    expect(tensors.some((t) => t.name === 'model.layers.1.self_attn.k_proj.bias')).toBe(true);
    expect(tensors.some((t) => t.name === 'lm_head.weight')).toBe(false);
    const ok = loadCheckpoint(toHfConfig(c), encodeSafetensors(tensors.map((t) => ({ ...t, dtype: 'F32' as const }))));
    expect(ok.config).toEqual(c);
    const without = tensors.filter((t) => t.name !== 'model.layers.1.self_attn.v_proj.bias').map((t) => ({ ...t, dtype: 'F32' as const }));
    expect(() => loadCheckpoint(toHfConfig(c), encodeSafetensors(without))).toThrow(MissingTensorError);
    expect(() => loadCheckpoint(toHfConfig(c), encodeSafetensors(without))).toThrow(/model\.layers\.1\.self_attn\.v_proj\.bias/);
  });

  it('reads sharded checkpoints through model.safetensors.index.json, in F16 and BF16', async () => {
    const c = PRESETS['llama-tiny'], tensors = stored(c, 7), dir = await fresh();
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const bf = bf16File(shards[1]!);
    await writeFile(join(dir, names[0]!), encodeSafetensors(shards[0]!.map((t) => ({ ...t, dtype: 'F16' as const }))));
    await writeFile(join(dir, names[1]!), bf.bytes);
    const weightMap = Object.fromEntries(shards.flatMap((s, i) => s.map((t) => [t.name, names[i]!])));
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...toHfConfig(c), torch_dtype: 'bfloat16' }));
    const loaded = await loadModelFromDir(dir), f = familyOf(c);
    for (const r of f.tensors(c)) {
      const key = f.hfKey(r.name), t = loaded.tensors.get(r.name)!;
      const inFile = bf.truncated.get(key);
      if (!inFile) continue; // the F16 shard: rounding checked elsewhere
      const want = r.transposed ? transpose(inFile, r.storedShape[0]!, r.storedShape[1]!) : inFile;
      expect(t.data, key).toEqual(want);
    }
    expect(loaded.tensors.size).toBe(f.tensors(c).length);
  });

  it('malformed configs and checkpoints get clear errors', () => {
    const base = toHfConfig(PRESETS['llama-tiny']);
    const bad = (patch: Record<string, unknown>, re: RegExp): void => {
      expect(() => parseHfConfig({ ...base, ...patch })).toThrow(InvalidConfigError);
      expect(() => parseHfConfig({ ...base, ...patch })).toThrow(re);
    };
    bad({ num_key_value_heads: 3 }, /multiple of num_key_value_heads/);
    bad({ intermediate_size: undefined }, /intermediate_size/);
    bad({ hidden_act: 'gelu' }, /hidden_act/);
    bad({ rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling/);
    bad({ hidden_size: 63, head_dim: undefined }, /divisible/);
    bad({ model_type: 'gpt-neox' }, /model_type "gpt-neox"/);
    const c = PRESETS['llama-tiny'];
    const wrong = stored(c, 1).map((t) => (t.name === 'model.layers.0.mlp.up_proj.weight' ? { ...t, shape: [c.nEmbd, c.nInner] } : t));
    expect(() => loadCheckpoint(toHfConfig(c), encodeSafetensors(wrong.map((t) => ({ ...t, dtype: 'F32' as const }))))).toThrow(WrongShapeError);
    expect(() => loadCheckpoint(toHfConfig(c), encodeSafetensors(wrong.map((t) => ({ ...t, dtype: 'F32' as const }))))).toThrow(/model\.layers\.0\.mlp\.up_proj\.weight/);
  });

  it('paper-scale presets have the published shapes', () => {
    expect(PRESETS['llama2-7b']).toMatchObject({ nLayer: 32, nEmbd: 4096, nHead: 32, nKvHead: 32, nInner: 11008 });
    expect(PRESETS['tinyllama-1.1b']).toMatchObject({ nLayer: 22, nEmbd: 2048, nHead: 32, nKvHead: 4, nInner: 5632 });
    expect(PRESETS['smollm-135m']).toMatchObject({ nLayer: 30, nEmbd: 576, nHead: 9, nKvHead: 3, nInner: 1536 });
    expect(PRESETS['qwen2-0.5b']).toMatchObject({ nLayer: 24, nEmbd: 896, nHead: 14, nKvHead: 2, nInner: 4864, qkvBias: true });
    // parameter counts as published (to the nearest percent)
    const params = (k: keyof typeof PRESETS): number => familyOf(PRESETS[k]).parameterCount(PRESETS[k] as never);
    expect(params('llama2-7b') / 6.738e9).toBeCloseTo(1, 2);
    expect(params('tinyllama-1.1b') / 1.1e9).toBeCloseTo(1, 1);
    expect(params('smollm-135m') / 134.5e6).toBeCloseTo(1, 1);
    expect(params('qwen2-0.5b') / 494e6).toBeCloseTo(1, 1);
  });
});
