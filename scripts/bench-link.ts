// npm run bench:link — what the socket.io path costs per token over the in-memory link.
// gpt2-small dimensions (random weights). The in-memory subjects run both sides in this process
// joined by InMemoryLink; the socket subjects run the edge here and the cloud in a splitwise
// server started in this same process on loopback (a model folder written once with makeModel,
// the same weights bit for bit). Both paths use the same edge sessions and the same kind of
// cloud sessions, so the difference is the link: encoding, socket.io, the loopback TCP stack.
// Plans are interleaved round by round. Also measures the error fp16 and int8 activations add
// (max |logit diff| and KL vs fp32 over a fixed 64-token text, half plan). Prints tables, writes JSON.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  PRESETS,
  argmax,
  CloudExecutor,
  EdgeExecutor,
  InMemoryLink,
  SplitSessions,
  SplitWeights,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  halfPlan,
  layerSplitPlan,
  syncPointsPerForward,
  type CloudLink,
  type PartitionPlan,
  type WirePrecision,
} from '@splitwise/core';
import { gpt2Tokenizer, makeModel, makeRandomGpt2 } from '@splitwise/checkpoint/node';
import { createMonolithic, graphSource, OrtNodeRuntime } from '@splitwise/runtime-node';
import { createCloudServer } from '@splitwise/server';
import { connectRemoteEdge, type RemoteEdge } from '@splitwise/cli/remote-edge';
import { downloadModel } from '../packages/cli/src/download.ts';
import { klFromLogits, median, percentile } from '../packages/cli/src/stats.ts';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'gpt2' },
    rounds: { type: 'string', default: '3' },
    decode: { type: 'string', default: '32' },
    prefill: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    download: { type: 'boolean', default: true },
    out: { type: 'string', default: 'out/bench-link.json' },
  },
});
const preset = args.config as keyof typeof PRESETS;
const config = PRESETS[preset];
if (!config) throw new Error(`unknown preset ${args.config}`);
const ROUNDS = Number(args.rounds), DECODE = Number(args.decode), PREFILL = Number(args.prefill), threads = Number(args.threads);
const SEED = 0;
const log = (s: string): boolean => process.stderr.write(s + '\n');

// ---------------------------------------------------------------- setup
// the fixed text of the precision measurement (checked first: it must give 64 tokens)
const text =
  'The edge and the cloud run one language model together. Each attention head and each slice of every feed-forward layer runs on one side or the other, and only the residual stream crosses the network, as rows of numbers at the precision the edge chooses for the link. Which precision to use is a trade between bytes on the wire and the error it adds to the logits.';
const ids = gpt2Tokenizer().encode(text).slice(0, 64);
if (ids.length < 64) throw new Error(`the precision text has only ${ids.length} tokens`);
const ckpt = makeRandomGpt2(config, SEED);
const graph = buildModelGraph(config);
const runtime = new OrtNodeRuntime({ intraOpNumThreads: threads });
const edgeSessions = await SplitSessions.create(runtime, graphSource(ckpt));
const memCloudSessions = await SplitSessions.create(runtime, graphSource(ckpt));

const root = await mkdtemp(join(tmpdir(), 'splitwise-bench-link-'));
log(`writing the ${preset} model folder to ${root} ...`);
await makeModel({ config, seed: SEED, outDir: join(root, 'model') });
const server = await createCloudServer({ modelDir: join(root, 'model'), port: 0, threads, maxSessions: 32, logLevel: 'warn' });
let download: { bytes: number; ms: number; mbps: number } | undefined;
if (args.download) {
  const d = await downloadModel(server.url);
  download = { bytes: d.bytes, ms: Math.round(d.ms), mbps: Math.round((d.bytes * 8) / (d.ms / 1000) / 1e6) };
  log(`model download over loopback HTTP: ${(d.bytes / 1e6).toFixed(0)} MB in ${download.ms} ms`);
}

const plans: Array<[string, PartitionPlan]> = [
  ['edge-only', edgeOnlyPlan(graph)],
  ['cloud-only', cloudOnlyPlan(graph)],
  ['half', halfPlan(graph)],
  [`layers:${config.nLayer / 2}`, layerSplitPlan(graph, config.nLayer / 2)],
];
const PRECISIONS: WirePrecision[] = ['fp32', 'fp16', 'int8'];

interface Subject {
  plan: string;
  link: string;
  edge: EdgeExecutor;
  linkStats: CloudLink['stats'];
  before?: () => void;
  decode: number[];
  calls: number;
  up: number;
  down: number;
  tokens: number;
}

const subjects: Subject[] = [];
const remotes: RemoteEdge[] = [];
for (const [name, plan] of plans) {
  const link = new InMemoryLink(new CloudExecutor(graph, new SplitWeights(ckpt, graph), memCloudSessions));
  const edge = await EdgeExecutor.create(graph, new SplitWeights(ckpt, graph), edgeSessions, link, plan);
  subjects.push({ plan: name, link: 'in-memory', edge, linkStats: link.stats, decode: [], calls: 0, up: 0, down: 0, tokens: 0 });
  // one connection per plan; its precision is switched per subject
  const r = await connectRemoteEdge({ server: server.url, plan, checkpoint: { ckpt }, sessions: edgeSessions, probeEveryMs: 0 });
  remotes.push(r);
  for (const p of PRECISIONS) {
    subjects.push({ plan: name, link: `socket ${p}`, edge: r.edge, linkStats: r.link.stats, before: () => (r.link.precision = p), decode: [], calls: 0, up: 0, down: 0, tokens: 0 });
  }
}

// ---------------------------------------------------------------- per-token latency
const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 7919) % config.vocabSize);
const decodeIds = Array.from({ length: DECODE }, (_, i) => (i * 104729 + 13) % config.vocabSize);
for (let round = 0; round <= ROUNDS; round++) {
  for (const s of subjects) {
    s.before?.();
    await s.edge.reset();
    await s.edge.forward(prompt);
    const at = { ...s.linkStats }, dec: number[] = [];
    for (const id of decodeIds) {
      const t = performance.now();
      await s.edge.forward([id]);
      dec.push(performance.now() - t);
    }
    if (round === 0) continue; // warm-up
    s.decode.push(...dec);
    s.calls += s.linkStats.calls - at.calls;
    s.up += s.linkStats.bytesUp - at.bytesUp;
    s.down += s.linkStats.bytesDown - at.bytesDown;
    s.tokens += DECODE;
  }
  log(`round ${round}/${ROUNDS}`);
}

// loopback RTT of an idle connection (the floor under every sync point)
const rtts: number[] = [];
for (let i = 0; i < 200; i++) rtts.push(await remotes[0]!.link.probe());

const rows = subjects.map((s) => {
  const mem = subjects.find((m) => m.plan === s.plan && m.link === 'in-memory')!;
  const d = median(s.decode), sync = syncPointsPerForward(s.edge.plan);
  const overhead = d - median(mem.decode);
  return {
    plan: s.plan,
    link: s.link,
    decodeMsMedian: +d.toFixed(3),
    decodeMsP95: +percentile(s.decode, 0.95).toFixed(3),
    overheadMsPerToken: s.link === 'in-memory' ? 0 : +overhead.toFixed(3),
    overheadMsPerSyncPoint: s.link === 'in-memory' || sync === 0 ? null : +(overhead / sync).toFixed(3),
    syncPointsPerToken: sync,
    callsPerToken: +(s.calls / s.tokens).toFixed(2),
    bytesUpPerToken: Math.round(s.up / s.tokens),
    bytesDownPerToken: Math.round(s.down / s.tokens),
  };
});

// ---------------------------------------------------------------- precision error
const half = remotes[plans.findIndex(([n]) => n === 'half')]!;
const teacherForced = async (forward: (id: number) => Promise<Float32Array>): Promise<Float32Array[]> => {
  const out: Float32Array[] = [];
  for (const id of ids) out.push(await forward(id));
  return out;
};
const viaSocket = async (p: WirePrecision): Promise<Float32Array[]> => {
  half.link.precision = p;
  await half.edge.reset();
  return teacherForced((id) => half.edge.forward([id]));
};
const mono = await createMonolithic(ckpt, { intraOpNumThreads: threads });
const monoLogits = await teacherForced((id) => mono.forward([id]));
const exact = await viaSocket('fp32');
const memHalf = subjects.find((s) => s.plan === 'half' && s.link === 'in-memory')!.edge;
await memHalf.reset();
const memLogits = await teacherForced((id) => memHalf.forward([id]));
const precisionRows = [
  { compare: 'socket fp32 vs monolithic', ...errors(exact, monoLogits) },
  { compare: 'socket fp32 vs in-memory fp32', ...errors(exact, memLogits) },
];
// one after the other: the runs share the half-plan edge
for (const p of ['fp16', 'int8'] as const) precisionRows.push({ compare: `socket ${p} vs socket fp32`, ...errors(await viaSocket(p), exact) });

// ---------------------------------------------------------------- report
const serverStats = server.stats();
for (const r of remotes) await r.close();
await server.close();
await rm(root, { recursive: true, force: true });

const result = {
  benchmark: 'link',
  date: new Date().toISOString(),
  model: { preset, nLayer: config.nLayer, nHead: config.nHead, nEmbd: config.nEmbd, ffnChunks: graph.ffnChunks },
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
  note: `edge and cloud share this machine's ${os.cpus().length} cores and (socket subjects) one Node process and event loop: the server runs in-process on loopback. Overheads are the link's cost on loopback, not a network's; add the network's RTT per sync point.`,
  runtime: `onnxruntime-node 1.30.0, cpu EP, intraOpNumThreads=${threads} per side; socket.io 4.8 websocket transport, binary attachments`,
  method: `${ROUNDS} rounds after 1 warm-up, subjects interleaved; prefill ${PREFILL} tokens, then ${DECODE} decode steps (context ${PREFILL}..${PREFILL + DECODE}); overhead = socket median - in-memory median for the same plan`,
  loopbackRttMs: { p50: +median(rtts).toFixed(3), p95: +percentile(rtts, 0.95).toFixed(3) },
  download,
  rows,
  precision: { text: `${ids.length} tokens, teacher-forced one at a time, half plan`, rows: precisionRows },
  server: { totals: serverStats.totals },
};
await mkdir(dirname(args.out!), { recursive: true });
await writeFile(args.out!, JSON.stringify(result, null, 2) + '\n');

const pad = (v: unknown, n: number): string => String(v ?? '-').padStart(n);
console.log(`\nsocket.io link vs in-memory link — ${preset} (${config.nLayer}L ${config.nHead}H ${config.nEmbd}E), ${result.runtime}`);
console.log(`NOTE: ${result.note}`);
console.log(`idle loopback probe RTT p50 ${result.loopbackRttMs.p50} ms, p95 ${result.loopbackRttMs.p95} ms` + (download ? `; model download ${(download.bytes / 1e6).toFixed(0)} MB in ${download.ms} ms (${download.mbps} Mbit/s)` : '') + '\n');
console.log(['plan'.padEnd(10), 'link'.padEnd(12), 'decode ms', 'p95 ms', '+ms/tok', '+ms/sync', 'sync/tok', 'B/tok up', 'B/tok down'].join(' | '));
for (const r of rows) {
  console.log([r.plan.padEnd(10), r.link.padEnd(12), pad(r.decodeMsMedian.toFixed(2), 9), pad(r.decodeMsP95.toFixed(2), 6), pad(r.overheadMsPerToken.toFixed(2), 7), pad(r.overheadMsPerSyncPoint?.toFixed(3), 8), pad(r.syncPointsPerToken, 8), pad(r.bytesUpPerToken, 8), pad(r.bytesDownPerToken, 10)].join(' | '));
}
console.log(`\nwire precision error — ${result.precision.text}`);
console.log(['compare'.padEnd(30), 'max |dlogit|', 'mean KL (nats)', 'max KL', 'argmax agree'].join(' | '));
for (const r of precisionRows) console.log([r.compare.padEnd(30), pad(r.maxAbs.toExponential(2), 12), pad(r.meanKl.toExponential(2), 14), pad(r.maxKl.toExponential(2), 6), pad(`${r.argmaxAgree}/${ids.length}`, 12)].join(' | '));
console.log(`\nJSON: ${args.out}`);

function errors(got: Float32Array[], ref: Float32Array[]): { maxAbs: number; meanKl: number; maxKl: number; argmaxAgree: number } {
  let maxAbs = 0, sumKl = 0, maxKl = 0, agree = 0;
  got.forEach((g, i) => {
    const r = ref[i]!;
    for (let j = 0; j < g.length; j++) maxAbs = Math.max(maxAbs, Math.abs(g[j]! - r[j]!));
    const k = klFromLogits(r, g);
    sumKl += k;
    maxKl = Math.max(maxKl, k);
    if (argmax(g) === argmax(r)) agree++;
  });
  return { maxAbs, meanKl: sumKl / got.length, maxKl, argmaxAgree: agree };
}

