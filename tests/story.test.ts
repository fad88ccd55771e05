// The shipped story model, end to end from the command line: `splitwise generate` in one process
// and `splitwise client` against a server hosting two models, both print the story llama2.c
// writes for "Once upon a time" (packages/checkpoint/src/__fixtures__, recorded from run.c).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFromDir, loadTokenizerFromDir, makeModel } from '@splitwise/checkpoint/node';
import { argmax, buildModelGraph, cloudOnlyPlan, edgeOnlyPlan, halfPlan, layerSplitPlan, randomPlan } from '@splitwise/core';
import { createLocalSplit } from '@splitwise/runtime-node';
import { REPO, spawnServer, type ServerProcess } from './server-process.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = promisify(execFile);
const upstream = JSON.parse(readFileSync(new URL('../packages/checkpoint/src/__fixtures__/llama2c-stories260K-greedy.json', import.meta.url), 'utf8')) as {
  text: string;
  promptIds: number[];
  generatedIds: number[];
};
const OPENING = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.';
const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', ...args], { cwd: REPO, maxBuffer: 1 << 24 });

describe('the story model under every plan', () => {
  it("greedy decoding gives llama2.c's 76 tokens under whole-side, layer, half and 12 random plans, with plan changes", async () => {
    const ckpt = await loadModelFromDir(join(REPO, 'models/stories260K')), graph = buildModelGraph(ckpt.config);
    const tok = await loadTokenizerFromDir(join(REPO, 'models/stories260K'));
    expect(tok.encodePrompt('Once upon a time')).toEqual(upstream.promptIds);
    const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph));
    const plans = [edgeOnlyPlan(graph), cloudOnlyPlan(graph), halfPlan(graph), layerSplitPlan(graph, 2), ...Array.from({ length: 12 }, (_, i) => randomPlan(graph, 40 + i))];
    for (const [i, plan] of plans.entries()) {
      await split.edge.reset(plan);
      const out: number[] = [];
      let logits = await split.edge.forward(upstream.promptIds);
      while (out.length < upstream.generatedIds.length) {
        out.push(argmax(logits));
        if (out.length === 30 && i % 3 === 2) await split.edge.setPlan(randomPlan(graph, 900 + i)); // moved units rebuild their KV
        logits = await split.edge.forward([out.at(-1)!]);
      }
      expect(out, `plan ${i}`).toEqual(upstream.generatedIds);
    }
  });
});

describe('the story model from the command line', () => {
  let server: ServerProcess, tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'splitwise-story-'));
    await makeModel({ config: 'tiny', seed: 0, outDir: join(tmp, 'gpt2tiny') });
    // the story model is the default; a GPT-2 beside it shows the server picks by hello's modelId
    server = await spawnServer(['--model', 'models/stories260K', '--model', join(tmp, 'gpt2tiny')]);
  });
  afterAll(async () => {
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('generate --plan random:3 prints the upstream opening', async () => {
    const { stdout } = await cli(['generate', '--prompt', 'Once upon a time', '--max-new-tokens', '40', '--plan', 'random:3']);
    expect(stdout).toContain(OPENING);
    expect(upstream.text.startsWith(stdout.trim())).toBe(true);
  });

  for (const [plan, precision] of [['half', 'fp32'], ['cloud', 'fp16']] as const) {
    it(`client --plan ${plan} --precision ${precision} against the server prints it too`, async () => {
      const { stdout, stderr } = await cli(['client', '--server', server.url, '--prompt', 'Once upon a time', '--max-new-tokens', '40', '--plan', plan, '--precision', precision]);
      expect(stdout).toContain(OPENING);
      expect(JSON.parse(stderr.trim().split('\n').at(-1)!)).toMatchObject({ newTokens: 40 });
    });
  }

  it('the server hosts both models; a client picks the GPT-2 by id, and an unknown id is refused by name', async () => {
    const list = (await (await fetch(`${server.url}/api/models`)).json()) as { default: string; models: Array<{ id: string; family: string }> };
    expect(list.default).toBe('stories260K');
    expect(list.models.map((m) => [m.id, m.family])).toEqual([['stories260K', 'llama'], ['gpt2tiny', 'gpt2']]);
    const { stderr } = await cli(['client', '--server', server.url, '--model', 'gpt2tiny', '--prompt', 'Hello', '--max-new-tokens', '4', '--plan', 'half']);
    expect(JSON.parse(stderr.trim().split('\n').at(-1)!)).toMatchObject({ newTokens: 4 });
    const bad = await cli(['client', '--server', server.url, '--model', 'nope', '--prompt', 'Hi', '--max-new-tokens', '2']).then(
      () => '',
      (e: { stderr: string }) => e.stderr,
    );
    expect(bad).toMatch(/no model "nope"/);
  });
});
