// npm run chaos: SIGKILL real cloud server processes at random points of greedy answers (seeded),
// at every wire precision, and count how many recovered answers equal the undisturbed answer with
// the same settings (plan, precision): tokens, and logits bit for bit. Kills alternate between a
// failover (two servers, the serving one dies) and a restart on the same port (one server).
// Not a test: it prints a JSON object and a table (docs/BENCHMARKS.md has the latest figures).
//
//   npm run chaos -- [--kills 20 (at least this many kills, and answers, per precision)] [--tokens 48] [--layers 6 --heads 6 --embd 384] [--plans half,random:3]
//                    [--precisions fp32,fp16,int8] [--seed 1] [--json out.json]
import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PRESETS, SplitSessions, gpt2Config, WIRE_PRECISIONS, type WirePrecision } from '@splitwise/core';
import { loadGpt2FromDir, makeModel } from '@splitwise/checkpoint/node';
import { graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { answer, callsPerAnswer, firstDifference, maxLogitDiff, ServerSlot, type Answer, type AnswerSettings } from '../tests/kill-kit.ts';
import { pct } from '../tests/server-process.ts';

const { values: o } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    tokens: { type: 'string', default: '48' },
    layers: { type: 'string', default: '6' },
    heads: { type: 'string', default: '6' },
    embd: { type: 'string', default: '384' },
    plans: { type: 'string', default: 'half,random:3' },
    precisions: { type: 'string', default: 'fp32,fp16,int8' },
    seed: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const KILLS = Number(o.kills), TOKENS = Number(o.tokens);
const precisions = o.precisions.split(',') as WirePrecision[];
for (const p of precisions) if (!WIRE_PRECISIONS.includes(p)) throw new Error(`--precisions: unknown precision "${p}" (have ${WIRE_PRECISIONS.join(', ')})`);
const plans = o.plans.split(',');
const E = Number(o.embd);
const config = gpt2Config({ ...PRESETS.gpt2, nLayer: Number(o.layers), nHead: Number(o.heads), nEmbd: E, nInner: 4 * E, nPositions: Math.max(128, 2 * TOKENS) });
const PROMPT = [464, 5044, 290, 262, 6279];

let seed = Number(o.seed) >>> 0 || 1;
const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);

const root = await mkdtemp(join(tmpdir(), 'splitwise-chaos-'));
const dir = join(root, 'model');
await makeModel({ config, seed: 11, outDir: dir });
const ckpt = await loadGpt2FromDir(dir);
const sessions = await SplitSessions.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), graphSource(ckpt));
const args = ['--model', dir, '--threads', '1'];
const [a, b] = await Promise.all([ServerSlot.start(args), ServerSlot.start(args)]);
console.error(`chaos: ${config.nLayer} layers x ${config.nEmbd} wide, ${TOKENS} tokens, plans ${plans.join(', ')}, ${KILLS} kills per precision, seed ${o.seed}`);

interface Row {
  precision: WirePrecision;
  answers: number;
  kills: number;
  midAnswer: number;
  identicalTokens: number;
  identicalLogits: number;
  maxLogitDiff: number;
  recoveryMs: { failover: number[]; restart: number[] };
  wallMs: number;
}
const rows: Row[] = [];
try {
  for (const precision of precisions) {
    const t0 = performance.now();
    const row: Row = { precision, answers: 0, kills: 0, midAnswer: 0, identicalTokens: 0, identicalLogits: 0, maxLogitDiff: 0, recoveryMs: { failover: [], restart: [] }, wallMs: 0 };
    const refs = new Map<string, Answer>();
    // at least KILLS kills and at least KILLS answers, each with at least one kill
    for (let i = 0; row.kills < KILLS || row.answers < KILLS; i++) {
      const plan = plans[i % plans.length]!;
      const s: AnswerSettings = { ckpt, sessions, prompt: PROMPT, newTokens: TOKENS, plan, precision };
      if (!refs.has(plan)) refs.set(plan, await answer([a.url], s));
      const ref = refs.get(plan)!;
      // failover (even answers): two servers, the serving one dies and the other takes over;
      // restart (odd answers): the only server dies and is started again on its port while the
      // edge retries. One kill per failover answer, one or two per restart answer, at random calls
      // (the reset is call 1).
      const restart = i % 2 === 1, calls = callsPerAnswer(s);
      const want = restart ? 1 + Math.floor(rnd() * 2) : 1;
      const at = new Set<number>();
      while (at.size < want) at.add(2 + Math.floor(rnd() * (calls - 2)));
      let back: Promise<void> = Promise.resolve();
      const got = await answer(restart ? [a.url] : [a.url, b.url], s, (n) =>
        at.has(n) ? () => void (back = back.then(() => a.proc.kill()).then(() => a.restart())) : undefined,
      );
      await back;
      row.answers++;
      row.kills += got.kills;
      row.midAnswer += got.noticed;
      if (got.tokens.join() === ref.tokens.join()) row.identicalTokens++;
      if (firstDifference(got, ref) === -1) row.identicalLogits++;
      row.maxLogitDiff = Math.max(row.maxLogitDiff, maxLogitDiff(got, ref));
      row.recoveryMs[restart ? 'restart' : 'failover'].push(...got.recoveryMs);
      console.error(`  ${precision} ${plan} ${restart ? 'restart ' : 'failover'} kills at ${[...at].join(',')} of ${calls}: ${got.tokens.join() === ref.tokens.join() ? 'same tokens' : 'TOKENS DIFFER'}, max |dlogit| ${maxLogitDiff(got, ref).toExponential(1)}`);
    }
    row.wallMs = performance.now() - t0;
    rows.push(row);
  }
} finally {
  await Promise.all([a.stop(), b.stop()]);
  await sessions.release();
  await rm(root, { recursive: true, force: true });
}

const ms = (xs: number[], p: number): number => (xs.length ? Math.round(pct(xs, p)) : NaN);
const result = {
  model: { nLayer: config.nLayer, nHead: config.nHead, nEmbd: config.nEmbd },
  tokens: TOKENS,
  plans,
  seed: Number(o.seed),
  rows: rows.map((r) => ({
    precision: r.precision,
    answers: r.answers,
    kills: r.kills,
    midAnswer: r.midAnswer,
    identicalTokens: r.identicalTokens,
    identicalLogits: r.identicalLogits,
    maxLogitDiff: r.maxLogitDiff,
    recoveryMs: {
      failover: { n: r.recoveryMs.failover.length, p50: ms(r.recoveryMs.failover, 0.5), p95: ms(r.recoveryMs.failover, 0.95) },
      restart: { n: r.recoveryMs.restart.length, p50: ms(r.recoveryMs.restart, 0.5), p95: ms(r.recoveryMs.restart, 0.95) },
      all: { p50: ms([...r.recoveryMs.failover, ...r.recoveryMs.restart], 0.5), p95: ms([...r.recoveryMs.failover, ...r.recoveryMs.restart], 0.95) },
    },
    wallS: +(r.wallMs / 1000).toFixed(1),
  })),
};
console.log(JSON.stringify(result, null, 1));
if (o.json) await writeFile(o.json, JSON.stringify(result, null, 1));

const table = [
  ['precision', 'answers', 'kills', 'mid-answer', 'same tokens', 'same logits', 'max dlogit', 'failover p50/p95 ms', 'restart p50/p95 ms'],
  ...result.rows.map((r) => [
    r.precision,
    String(r.answers),
    String(r.kills),
    String(r.midAnswer),
    `${r.identicalTokens}/${r.answers}`,
    `${r.identicalLogits}/${r.answers}`,
    r.maxLogitDiff.toExponential(1),
    `${r.recoveryMs.failover.p50} / ${r.recoveryMs.failover.p95}`,
    `${r.recoveryMs.restart.p50} / ${r.recoveryMs.restart.p95}`,
  ]),
];
const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
for (const [i, r] of table.entries()) {
  console.log(`| ${r.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
