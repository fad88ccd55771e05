// `splitwise quantize` writes a model folder that every --model command reads back as the same
// quantized weights that quantizing at load makes: the folder's story equals `--weights q4`'s
// token for token, and what does not fit (another precision, another FFN chunking, an unknown
// precision) is refused with a typed error.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuantizationError, buildModelGraph, edgeOnlyPlan, quantizeCheckpoint, type Checkpoint } from '@splitwise/core';
import { loadModelFromDir } from '@splitwise/checkpoint/node';
import { createLocalSplit } from '@splitwise/runtime-node';

const REPO = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', ...args], { cwd: REPO, maxBuffer: 1 << 24 });
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitwise-quantize-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('splitwise quantize', () => {
  for (const weights of ['int8', 'q4'] as const) {
    it(`--weights ${weights}: a folder whose weights are those quantizing at load makes, and whose story is the same`, async () => {
      const out = join(tmp, weights);
      const { stdout } = await cli(['quantize', '--weights', weights, '--out', out]);
      const r = JSON.parse(stdout) as { precision: string; bytes: number; sourceBytes: number; ffnChunks: number };
      expect(r).toMatchObject({ precision: weights, ffnChunks: 8 });
      expect(r.bytes / r.sourceBytes).toBeLessThan(weights === 'q4' ? 0.4 : 0.5);
      expect((await readdir(out)).sort()).toEqual(['README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);

      const loaded = await loadModelFromDir(out), fp32 = await loadModelFromDir(join(REPO, 'models/stories260K'));
      const atLoad = quantizeCheckpoint(fp32 as Checkpoint, weights);
      expect(loaded.quantized).toMatchObject({ precision: weights, ffnChunks: 8, activations: 'fp32' });
      expect([...loaded.quantized!.matrices.keys()].sort()).toEqual([...atLoad.quantized!.matrices.keys()].sort());
      for (const [name, m] of atLoad.quantized!.matrices) {
        const got = loaded.quantized!.matrices.get(name)!;
        expect(Buffer.from(got.data).equals(Buffer.from(m.data)), name).toBe(true);
        expect(Buffer.from(got.scales.buffer).equals(Buffer.from(m.scales.buffer)), name).toBe(true);
        expect(got.segments).toEqual(m.segments);
      }
      expect([...loaded.tensors.keys()].sort()).toEqual([...atLoad.tensors.keys()].sort());

      const story = ['--prompt', 'Once upon a time', '--max-new-tokens', '30', '--plan', 'random:3'];
      const fromFolder = await cli(['generate', '--model', out, ...story]);
      const quantizedAtLoad = await cli(['generate', '--weights', weights, ...story]);
      expect(fromFolder.stdout).toBe(quantizedAtLoad.stdout);
      expect(fromFolder.stdout).toMatch(/^Once upon a time, there was a little girl named Lily/);
    });
  }

  it('refuses what does not fit, by name', async () => {
    const q4 = join(tmp, 'q4');
    await expect(cli(['generate', '--model', q4, '--weights', 'int8', '--prompt', 'Hi', '--max-new-tokens', '2'])).rejects.toMatchObject({ stderr: expect.stringMatching(/quantization: this checkpoint holds q4 weights; int8 needs the fp32 checkpoint/) });
    await expect(cli(['quantize', '--weights', 'fp16', '--out', join(tmp, 'x')])).rejects.toMatchObject({ stderr: expect.stringMatching(/--weights must be one of fp32, int8, q4/) });
    const ckpt = await loadModelFromDir(q4);
    // the folder was cut for 8 FFN chunks: a graph of 4 would cut quantized blocks
    await expect(createLocalSplit(ckpt, edgeOnlyPlan(buildModelGraph(ckpt.config, { ffnChunks: 4 })), { ffnChunks: 4 })).rejects.toThrow(QuantizationError);
  });
});
