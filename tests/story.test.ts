// The shipped story model, end to end from the command line: `splitwise generate` in one process
// and `splitwise client` against a server hosting two models, both print the story llama2.c
// writes for "Once upon a time" (packages/checkpoint/src/__fixtures__, recorded from run.c).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModel } from '@splitwise/checkpoint/node';
import { REPO, spawnServer, type ServerProcess } from './server-process.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = promisify(execFile);
const upstream = JSON.parse(readFileSync(new URL('../packages/checkpoint/src/__fixtures__/llama2c-stories260K-greedy.json', import.meta.url), 'utf8')) as { text: string };
const OPENING = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.';
const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', ...args], { cwd: REPO, maxBuffer: 1 << 24 });

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
