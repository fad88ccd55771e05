// API cloud-only: the edge sends token ids, the cloud runs the embeddings, every layer and the LM
// head, and sends back the last position's logits (all of them at fp32, or the K largest a greedy
// or top-k sampler reads). Its tokens are the monolithic graph's, in one process and against a
// real server (the shipped story model and a random GPT-2); bad input gets typed errors while the
// server keeps serving; and a cloud killed mid-answer is rebuilt from the token ids the edge kept,
// with the answer unchanged logit for logit.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import {
  apiCloudOnlyPlan,
  argmax,
  CloudExecutor,
  LinkError,
  RecoveringEdge,
  SplitWeights,
  type CloudLink,
  type CloudReply,
  type CloudRequest,
  type Fallback,
  type RecoveryEvent,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  generate,
  halfPlan,
  planToJson,
  PRESETS,
  randomPlan,
  SplitSessions,
  validatePlan,
  type Gpt2Checkpoint,
  type ModelGraph,
} from '@splitwise/core';
import { loadModelFromDir, makeModel, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { connectRemoteEdge } from '@splitwise/cli/remote-edge';
import { encodeTokenIds } from '@splitwise/protocol';
import { createLocalSplit, createMonolithic, graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { ask, helloClient, helloFor, rawClient } from '../apps/server/src/test-support.ts';
import { answer, callsPerAnswer, firstDifference, maxLogitDiff, ServerSlot, type Answer, type AnswerSettings } from './kill-kit.ts';
import { maxAbsDiff } from './helpers.ts';
import { getJson, REPO, spawnServer, type ServerProcess } from './server-process.ts';

const STORY_DIR = join(REPO, 'models/stories260K');
const PROMPT = [1, 403, 407, 261, 378]; // "Once upon a time" with BOS (llama2.c's encoding)
const NEW_TOKENS = 40;

/** The monolithic graph's greedy continuation and the logits of every step: the ground truth. */
async function monolithicAnswer(ckpt: Gpt2Checkpoint, prompt: number[], n: number): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  const mono = await createMonolithic(ckpt, { intraOpNumThreads: 1 });
  const out = { tokens: [] as number[], logits: [] as Float32Array[] };
  let logits = await mono.forward(prompt);
  for (let i = 0; i < n; i++) {
    out.logits.push(logits);
    out.tokens.push(argmax(logits));
    if (i + 1 < n) logits = await mono.forward([out.tokens.at(-1)!]);
  }
  return out;
}

describe('API cloud-only in one process', () => {
  it('the plan: its JSON round-trips, every layer stays whole on the cloud, and the flag is not a cloud-only plan', () => {
    const graph = buildModelGraph(PRESETS['llama-tiny']); // plan checks need no weights
    const api = apiCloudOnlyPlan(graph);
    expect(validatePlan(planToJson(api, graph), graph)).toEqual(api);
    expect(validatePlan(cloudOnlyPlan(graph), graph).apiCloudOnly).toBeUndefined();
    const partial = { ...api, layers: api.layers.map((l, i) => (i === 1 ? { ...l, cloudHeads: [0] } : l)) };
    expect(() => validatePlan(partial, graph)).toThrow(/runs every layer on the cloud; layer 1 keeps part of itself on the edge/);
  });

  it('story model: the monolithic tokens and logits (within 1e-4), greedy with 8 bytes down a token, and through plan changes into and out of it', async () => {
    const ckpt = await loadModelFromDir(STORY_DIR), graph = buildModelGraph(ckpt.config);
    const ref = await monolithicAnswer(ckpt, PROMPT, NEW_TOKENS);
    const split = await createLocalSplit(ckpt, apiCloudOnlyPlan(graph), { intraOpNumThreads: 1 });

    // all logits at fp32: the monolithic graph's to float tolerance
    let logits = await split.edge.forward(PROMPT);
    const tokens: number[] = [];
    for (let i = 0; i < NEW_TOKENS; i++) {
      expect(maxAbsDiff(logits, ref.logits[i]!), `step ${i}`).toBeLessThan(1e-4);
      tokens.push(argmax(logits));
      if (i + 1 < NEW_TOKENS) logits = await split.edge.forward([tokens.at(-1)!]);
    }
    expect(tokens).toEqual(ref.tokens);
    expect(split.edge.runner.kvBytes()).toBe(0); // the edge computes nothing: the cloud holds every cache
    expect(split.cloud.runner.kvBytes()).toBeGreaterThan(0);

    // generate() asks for the one logit greedy reads: 4 bytes up and 8 down per decoded token
    await split.edge.reset(apiCloudOnlyPlan(graph));
    const before = { ...split.link.stats };
    const greedy: number[] = [];
    for await (const t of generate(split.edge, PROMPT, { maxNewTokens: NEW_TOKENS })) greedy.push(t.id);
    expect(greedy).toEqual(ref.tokens);
    const s = split.link.stats;
    expect(s.calls - before.calls).toBe(1 + NEW_TOKENS); // the reset, then one round trip a token
    expect(s.bytesUp - before.bytesUp).toBe(4 * (PROMPT.length + NEW_TOKENS - 1));
    expect(s.bytesDown - before.bytesDown).toBe(8 * NEW_TOKENS);

    // plans change mid-answer: API -> half (the edge replays the ids) -> API (the cloud replays them) -> random -> API
    const changes = new Map([[8, halfPlan(graph)], [16, apiCloudOnlyPlan(graph)], [24, randomPlan(graph, 5)], [32, apiCloudOnlyPlan(graph)]]);
    const moved: number[] = [];
    for await (const t of generate(split.edge, PROMPT, { maxNewTokens: NEW_TOKENS, planFor: (step) => changes.get(step) })) moved.push(t.id);
    expect(moved).toEqual(ref.tokens);
    await split.sessions.edge.release();
    await split.sessions.cloud.release();
  });

  for (const fallback of ['edge-now', 'edge-after-retries', 'wait'] as Fallback[]) {
    it(`story model, 10 kills of the cloud, fallback ${fallback}: the same tokens (the edge replays the ids it kept when it takes over)`, async () => {
      const ckpt = await loadModelFromDir(STORY_DIR), graph = buildModelGraph(ckpt.config);
      const ref = await monolithicAnswer(ckpt, PROMPT, 60);
      const split = await createLocalSplit(ckpt, apiCloudOnlyPlan(graph), { intraOpNumThreads: 1 });
      // a cloud that can die: requests fail while it is down, and it comes back with no session state
      let down = false, cloud = split.cloud, kills = 0;
      const link: CloudLink = {
        stats: { calls: 0, bytesUp: 0, bytesDown: 0 },
        request: async (req: CloudRequest): Promise<CloudReply> => {
          if (down) throw new LinkError('worker is down', 'link_closed');
          return structuredClone(await cloud.handle(structuredClone(req)));
        },
        close: async () => undefined,
      };
      (split.edge as unknown as { link: CloudLink }).link = link;
      let rng = 99;
      const random = (): number => ((rng = (Math.imul(rng, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const events: RecoveryEvent[] = [];
      const edge = new RecoveringEdge(split.edge, {
        fallback,
        backoff: { initialMs: 1, maxMs: 4, maxAttempts: fallback === 'wait' ? 40 : 3 },
        reconnect: async () => {
          if (down && random() < 0.25) down = false; // the worker restarts after a while
        },
        onEvent: (e) => events.push(e),
        random,
      });
      const killAt = new Set([3, 9, 14, 20, 27, 33, 38, 44, 50, 55]);
      const tokens: number[] = [];
      for await (const t of generate(edge, PROMPT, { maxNewTokens: 60 })) {
        tokens.push(t.id);
        if (killAt.has(tokens.length)) {
          kills++;
          down = true;
          cloud = new CloudExecutor(graph, new SplitWeights(ckpt, graph), split.sessions.cloud);
        }
      }
      expect(kills).toBe(10);
      expect(tokens).toEqual(ref.tokens);
      expect(events.some((e) => e.type === 'failure')).toBe(true);
      // the edge took over at least once (whether the cloud also came back before the answer ended
      // depends on timers racing the tokens; handing back is counted in tests/faults.test.ts)
      if (fallback !== 'wait') expect(events.some((e) => e.type === 'fallback')).toBe(true);
      await split.sessions.edge.release();
      await split.sessions.cloud.release();
    });
  }
});

describe('API cloud-only against a real server', () => {
  let server: ServerProcess, tmp: string, story: LoadedGpt2Checkpoint, gpt2: LoadedGpt2Checkpoint, storyGraph: ModelGraph;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'splitwise-api-'));
    await makeModel({ config: 'tiny', seed: 3, outDir: join(tmp, 'gpt2tiny') });
    [story, gpt2] = await Promise.all([loadModelFromDir(STORY_DIR), loadModelFromDir(join(tmp, 'gpt2tiny'))]);
    storyGraph = buildModelGraph(story.config);
    server = await spawnServer(['--model', STORY_DIR, '--model', join(tmp, 'gpt2tiny'), '--threads', '1']);
  }, 120_000);
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const [id, prompt] of [['stories260K', PROMPT], ['gpt2tiny', [464, 5044, 290, 262, 6279]]] as const) {
    it(`${id}: the monolithic graph's tokens, and its logits within 1e-4, over socket.io`, async () => {
      const ckpt = id === 'stories260K' ? story : gpt2;
      const ref = await monolithicAnswer(ckpt, [...prompt], NEW_TOKENS);
      const remote = await connectRemoteEdge({ server: server.url, model: id, plan: 'api', checkpoint: { ckpt }, probeEveryMs: 0, threads: 1 });
      try {
        expect(remote.edge.plan.apiCloudOnly).toBe(true);
        await remote.recovering.reset();
        let logits = await remote.recovering.forward([...prompt]);
        const tokens: number[] = [];
        for (let i = 0; i < NEW_TOKENS; i++) {
          expect(maxAbsDiff(logits, ref.logits[i]!), `${id} step ${i}`).toBeLessThan(1e-4);
          tokens.push(argmax(logits));
          if (i + 1 < NEW_TOKENS) logits = await remote.recovering.forward([tokens.at(-1)!]);
        }
        expect(tokens).toEqual(ref.tokens);
        // greedy through generate(): only the top logit comes back
        const before = { ...remote.link.stats };
        const greedy: number[] = [];
        for await (const t of generate(remote.recovering, [...prompt], { maxNewTokens: NEW_TOKENS })) greedy.push(t.id);
        expect(greedy).toEqual(ref.tokens);
        expect(remote.link.stats.bytesDown - before.bytesDown).toBe(8 * NEW_TOKENS);
        // sampling with top-k reads the k largest: the same draws as from the whole row in one process
        const sampling = { maxNewTokens: 16, temperature: 0.9, topK: 5, seed: 7 };
        const local = await createLocalSplit(ckpt, edgeOnlyPlan, { intraOpNumThreads: 1 });
        const want: number[] = [], got: number[] = [];
        for await (const t of generate(local.edge, [...prompt], sampling)) want.push(t.id);
        for await (const t of generate(remote.recovering, [...prompt], sampling)) got.push(t.id);
        expect(got).toEqual(want);
        await local.sessions.edge.release();
        await local.sessions.cloud.release();
      } finally {
        await remote.close();
      }
    });
  }

  it('client --plan api prints the story and says that token ids leave the device', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'packages/cli/src/main.ts', 'client', '--server', server.url, '--prompt', 'Once upon a time', '--max-new-tokens', '30', '--plan', 'api'],
      { cwd: REPO, maxBuffer: 1 << 24 },
    );
    expect(stdout).toContain('Once upon a time, there was a little girl named Lily.');
    expect(stderr).toMatch(/API cloud-only: token ids leave this device/);
    expect(JSON.parse(stderr.trim().split('\n').at(-1)!)).toMatchObject({ newTokens: 30, plan: 'api', syncPointsPerToken: 1, bytesUpPerToken: 4, bytesDownPerToken: 8 });
  });

  it('bad input gets typed errors and the server keeps serving', async () => {
    const code = (r: { error?: { code: string } }): string | undefined => r.error?.code;
    const tokens = (session: string, ids: number[], o: { seq?: number; start?: number; topK?: number } = {}) => ({
      session,
      type: 'tokens',
      seq: o.seq ?? 1,
      start: o.start ?? 0,
      ids: encodeTokenIds(ids),
      ...(o.topK !== undefined ? { topK: o.topK } : {}),
    });
    const raw = await rawClient(server.url);
    sockets.push(raw);
    expect(code(await ask(raw, 'cloud', tokens('whatever', [1])))).toBe('unknown_session');
    // protocol 3 only adds messages: an edge of version 2 is still served
    expect((await ask(raw, 'hello', helloFor(storyGraph, { protocol: 2 }))).ok).toBe(true);

    const { s, session } = await helloClient(server.url, storyGraph);
    sockets.push(s);
    expect(code(await ask(s, 'cloud', tokens('not-mine', [1])))).toBe('unknown_session');
    // a partition plan: token ids are refused
    expect((await ask(s, 'cloud', { session, type: 'reset', plan: cloudOnlyPlan(storyGraph) })).type).toBe('ok');
    const partition = await ask(s, 'cloud', tokens(session, [1]));
    expect(partition.error).toMatchObject({ code: 'out_of_order', message: expect.stringMatching(/need an API cloud-only plan/) });
    // an API plan that leaves part of a layer on the edge
    const api = apiCloudOnlyPlan(storyGraph);
    const partial = { ...api, layers: api.layers.map((l, i) => (i === 0 ? { ...l, cloudFfnChunks: [] } : l)) };
    expect(code(await ask(s, 'cloud', { session, type: 'reset', plan: partial }))).toBe('invalid_plan');
    expect((await ask(s, 'cloud', { session, type: 'reset', plan: api })).type).toBe('ok');

    const vocab = story.config.vocabSize;
    const outOfRange = await ask(s, 'cloud', tokens(session, [1, vocab]));
    expect(outOfRange.error).toMatchObject({ code: 'bad_tensor', message: `token id ${vocab} is outside [0, ${vocab})` });
    expect(code(await ask(s, 'cloud', tokens(session, [-3])))).toBe('bad_tensor');
    const fp32 = await ask(s, 'cloud', { ...tokens(session, [1]), ids: { dtype: 'fp32', data: new Uint8Array(new Float32Array([1]).buffer) } });
    expect(fp32.error).toMatchObject({ code: 'bad_tensor', message: 'token ids must be int32, got "fp32"' });
    expect(code(await ask(s, 'cloud', { ...tokens(session, [1]), ids: { dtype: 'int32', data: new Uint8Array(6) } }))).toBe('bad_tensor');
    expect(code(await ask(s, 'cloud', { ...tokens(session, [1]), ids: [1, 403] }))).toBe('malformed');
    expect(code(await ask(s, 'cloud', tokens(session, [])))).toBe('bad_tensor');
    expect(code(await ask(s, 'cloud', tokens(session, [1], { topK: vocab + 1 })))).toBe('bad_tensor');
    expect(code(await ask(s, 'cloud', tokens(session, [1], { start: 3 })))).toBe('out_of_order'); // a gap
    expect(code(await ask(s, 'cloud', tokens(session, [1], { start: storyGraph.config.nPositions })))).toBe('too_large');
    // a reset whose ids do not match its length
    expect(code(await ask(s, 'cloud', { session, type: 'reset', plan: api, length: 3, ids: encodeTokenIds([1, 2]) }))).toBe('bad_tensor');
    expect((await ask(s, 'cloud', { session, type: 'reset', plan: api })).type).toBe('ok');

    // none of that was applied: the first pass still runs, and its logits are the whole model's
    const ok = await ask(s, 'cloud', tokens(session, PROMPT, { seq: 1 }));
    expect(ok.type).toBe('logits');
    expect(ok.values).toMatchObject({ dtype: 'fp32', rows: 1, cols: vocab });
    expect(code(await ask(s, 'cloud', tokens(session, [7], { seq: 1, start: PROMPT.length })))).toBe('out_of_order'); // repeated seq
    const top = await ask(s, 'cloud', tokens(session, [7], { seq: 2, start: PROMPT.length, topK: 3 }));
    expect(top).toMatchObject({ type: 'logits', seq: 2, values: { cols: 3 }, ids: { dtype: 'int32' } });
    expect((await getJson<{ ok: boolean }>(`${server.url}/api/health`)).ok).toBe(true);
  });
});

describe('API cloud-only recovery (real processes, SIGKILL mid-answer)', () => {
  let ckpt: LoadedGpt2Checkpoint, sessions: SplitSessions, a: ServerSlot, b: ServerSlot;
  beforeAll(async () => {
    ckpt = await loadModelFromDir(STORY_DIR);
    sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
    const args = ['--model', STORY_DIR, '--threads', '1'];
    [a, b] = await Promise.all([ServerSlot.start(args), ServerSlot.start(args)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await sessions?.release();
  });

  function expectSame(got: Answer, ref: Answer, what: string): void {
    expect(got.kills, `${what}: the kill happened`).toBe(1);
    expect(got.noticed, `${what}: the kill landed mid-answer`).toBe(1);
    expect(got.tokens, what).toEqual(ref.tokens);
    // the cloud replays the kept ids in the passes that first made them: the same caches, bit for bit
    expect({ firstDifferentStep: firstDifference(got, ref), maxLogitDiff: maxLogitDiff(got, ref) }, what).toEqual({ firstDifferentStep: -1, maxLogitDiff: 0 });
  }

  it('the only server restarted on its port, failover to a second one, and a kill after a plan change into API cloud-only', async () => {
    const s: AnswerSettings = { ckpt, sessions, prompt: PROMPT, newTokens: NEW_TOKENS, plan: 'api', precision: 'fp32' };
    const ref = await answer([a.url], s);
    expect(ref.events).toEqual([]);
    expect(ref.tokens).toEqual((await monolithicAnswer(ckpt, PROMPT, NEW_TOKENS)).tokens);

    // restart: the only server dies mid-answer and comes back empty on the same port
    const n1 = Math.floor(callsPerAnswer(s) / 2);
    let back: Promise<void> | undefined;
    const restarted = await answer([a.url], s, (n) => (n === n1 ? () => void (back = a.proc.kill().then(() => a.restart())) : undefined));
    await back;
    expectSame(restarted, ref, `restart at call ${n1}`);
    expect(restarted.workers.length).toBeGreaterThan(1);

    // failover: the first server dies, the link moves to the second, which replays the ids
    const n2 = Math.floor(callsPerAnswer(s) / 3);
    const failover = await answer([a.url, b.url], s, (n) => (n === n2 ? () => void a.proc.kill() : undefined));
    expectSame(failover, ref, `failover at call ${n2}`);
    await a.restart();

    // half, then API cloud-only from token 12 (the cloud replays the ids), then a kill
    const changed: AnswerSettings = { ...s, plan: 'half', planChange: { at: 12, plan: 'api' } };
    const refChanged = await answer([a.url], changed);
    expect(refChanged.tokens).toEqual(ref.tokens);
    const n3 = callsPerAnswer({ ...changed, newTokens: 12, planChange: undefined }) + 5;
    const killed = await answer([a.url, b.url], changed, (n) => (n === n3 ? () => void a.proc.kill() : undefined));
    expectSame(killed, refChanged, `plan change into API cloud-only, then failover at call ${n3}`);
    await a.restart();
  }, 240_000);
});
