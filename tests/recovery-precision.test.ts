// A fault never changes an answer, at any wire precision: the serving cloud process is SIGKILLed
// mid-answer (failover to a second server, or the same server restarted on its port), and the
// recovered answer equals the undisturbed answer with the same settings, token for token and
// logit for logit, at fp32, fp16 and int8, under mixed plans and across a plan change.
//
// The model is a small random GPT-2 (4 layers, 128 wide) rather than `tiny`: without the rule of
// docs/ARCHITECTURE.md ("Recovery is exact at every precision") its fp16 and int8 answers came out
// of a rebuild with logits 1e-4 to 4e-3 off, and its fp32 ones 4e-7 off (one-row GEMV vs GEMM);
// the last case is a prompt where that changed an int8 answer's tokens.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRESETS, SplitSessions, type WirePrecision } from '@splitwise/core';
import { loadGpt2FromDir, makeModel, type LoadedGpt2Checkpoint } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { answer, callsPerAnswer, firstDifference, maxLogitDiff, ServerSlot, type Answer, type AnswerSettings } from './kill-kit.ts';
import { pidOf } from './server-process.ts';

const CONFIG = { ...PRESETS.tiny, nLayer: 4, nHead: 4, nEmbd: 128, nInner: 512 };
const PROMPT = [464, 5044, 290, 262, 6279];
const NEW_TOKENS = 32;

let root: string, ckpt: LoadedGpt2Checkpoint, sessions: SplitSessions, a: ServerSlot, b: ServerSlot;
let seed = 4242;
const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
/** A call index in the middle half of the answer. */
const midAnswer = (s: AnswerSettings, from = 0.25, to = 0.75): number => {
  const n = callsPerAnswer(s);
  return Math.max(2, Math.floor(n * (from + (to - from) * rnd())));
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'splitwise-precision-'));
  const dir = join(root, 'model');
  await makeModel({ config: CONFIG, seed: 11, outDir: dir });
  ckpt = await loadGpt2FromDir(dir);
  sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
  const args = ['--model', dir, '--threads', '1'];
  [a, b] = await Promise.all([ServerSlot.start(args), ServerSlot.start(args)]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await sessions?.release();
  if (root) await rm(root, { recursive: true, force: true });
});

function expectSame(got: Answer, ref: Answer, what: string): void {
  expect(got.kills, `${what}: the kill happened`).toBe(1);
  expect(got.noticed, `${what}: the kill landed mid-answer`).toBe(1);
  expect(got.tokens, what).toEqual(ref.tokens);
  // bit for bit: a rounding that differs anywhere shows here long before it flips a token
  expect({ firstDifferentStep: firstDifference(got, ref), maxLogitDiff: maxLogitDiff(got, ref) }, what).toEqual({ firstDifferentStep: -1, maxLogitDiff: 0 });
}

describe('recovery is exact at every wire precision (real processes, SIGKILL mid-answer)', () => {
  for (const precision of ['fp32', 'fp16', 'int8'] as WirePrecision[]) {
    it(`${precision}: failover and same-port restart under mixed plans and a cloud run, and a kill after a plan change`, async () => {
      if (!a.alive) await a.restart(); // a failed case before this one may have left it dead
      // half: every block mixed; random:3: mixed and cloud blocks, calls ending in a mixed
      // attention block; layers:1: a run of three cloud layers (checkpoint rows come back)
      for (const plan of ['half', 'random:3', 'layers:1']) {
        const s: AnswerSettings = { ckpt, sessions, prompt: PROMPT, newTokens: NEW_TOKENS, plan, precision };
        const ref = await answer([a.url], s);
        expect(ref.events).toEqual([]);

        // failover: the first server dies, the link moves to the second
        const n1 = midAnswer(s);
        const failover = await answer([a.url, b.url], s, (n) => (n === n1 ? () => void a.proc.kill() : undefined));
        expectSame(failover, ref, `${precision} ${plan} failover at call ${n1}`);
        expect(pidOf(failover.workers.at(-1)!)).toBe(b.pid);
        await a.restart();
        if (plan === 'layers:1') continue; // the restart path is the same as under the other two

        // restart: the only server dies and comes back on the same port
        const n2 = midAnswer(s);
        let back: Promise<void> | undefined;
        const restart = await answer([a.url], s, (n) => (n === n2 ? () => void (back = a.proc.kill().then(() => a.restart())) : undefined));
        await back;
        expectSame(restart, ref, `${precision} ${plan} restart at call ${n2}`);
        expect(pidOf(restart.workers.at(-1)!)).toBe(a.pid);
        expect(restart.workers.length).toBeGreaterThan(1);
      }

      // a plan change moves heads (rebuilt from the checkpoint), then the cloud dies
      const s: AnswerSettings = { ckpt, sessions, prompt: PROMPT, newTokens: NEW_TOKENS, plan: 'half', precision, planChange: { at: 12, plan: 'random:7' } };
      const ref = await answer([a.url], s);
      // after the reset, 12 tokens under half and the plan request: strike within the next 20 calls
      const n3 = callsPerAnswer({ ...s, newTokens: 12, planChange: undefined }) + 3 + Math.floor(rnd() * 20);
      const changed = await answer([a.url, b.url], s, (n) => (n === n3 ? () => void a.proc.kill() : undefined));
      expectSame(changed, ref, `${precision} plan change then failover at call ${n3}`);
      await a.restart();
    }, 240_000);
  }

  it('int8: a prompt whose tokens the old rebuild changed (token 16, after a kill at token 6)', async () => {
    if (!a.alive) await a.restart();
    // found by searching prompts against the code before the rule: the first answer token that
    // differed was the 17th; with the rule the answer is the undisturbed one
    const s: AnswerSettings = { ckpt, sessions, prompt: [37236, 6268, 15231, 49854, 43268], newTokens: NEW_TOKENS, plan: 'half', precision: 'int8' };
    const ref = await answer([a.url], s);
    const at = 1 + 6 * (callsPerAnswer({ ...s, newTokens: 1 })) + 1; // the first call of token 6
    const got = await answer([a.url, b.url], s, (n) => (n === at ? () => void a.proc.kill() : undefined));
    expectSame(got, ref, 'int8 half failover at token 6');
    await a.restart();
  }, 120_000);
});
