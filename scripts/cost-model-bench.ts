// Shared by scripts/validate-cost-model.ts and scripts/fit-link-overhead.ts: the real engine (gpt2
// shape, random weights, both sides on this machine, sessions kept across plans), timed per plan
// over a link, and the two plan sets — the validation plans and a disjoint set the per-call
// overhead is fitted on, so that the validation error with the overhead term is out of sample.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EdgeExecutor,
  PRESETS,
  cloudOnlyPlan,
  edgeOnlyPlan,
  halfPlan,
  layerSplitPlan,
  randomPlan,
  type CloudHandler,
  type CloudLink,
  type ModelGraph,
  type PartitionPlan,
  type WirePrecision,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { createEngineRig, type EngineRig } from '../packages/policy/src/node/engine.ts';
import { passTime, type CostModel, type LinkCostOptions, type NetworkState } from '../packages/policy/src/cost-model.ts';

export const config = PRESETS.gpt2;

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export const loadAverage = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const withLayers = (g: ModelGraph, f: (l: number) => { cloudHeads: number[]; cloudFfnChunks: number[] }): PartitionPlan => ({
  ...edgeOnlyPlan(g),
  layers: range(g.config.nLayer).map(f),
});

/** The 16 plans of the validation table (docs/POLICY.md section 2). */
export function validationPlans(g: ModelGraph): Array<[string, PartitionPlan]> {
  const mixedTail: PartitionPlan = {
    ...layerSplitPlan(g, 6),
    layers: layerSplitPlan(g, 6).layers.map((l, i) => (i === 5 ? { cloudHeads: [6, 7, 8, 9, 10, 11], cloudFfnChunks: [] } : l)),
  };
  const oneMixed: PartitionPlan = { ...edgeOnlyPlan(g), layers: edgeOnlyPlan(g).layers.map((l, i) => (i === 4 ? { cloudHeads: [0, 1, 2, 3, 4, 5], cloudFfnChunks: [] } : l)) };
  return [
    ['edge-only', edgeOnlyPlan(g)],
    ['cloud-only', cloudOnlyPlan(g)],
    ['half', halfPlan(g)],
    ['layers:3', layerSplitPlan(g, 3)],
    ['layers:6', layerSplitPlan(g, 6)],
    ['layers:9', layerSplitPlan(g, 9)],
    ['layers:6 + mixed boundary', mixedTail],
    ['one mixed attention', oneMixed],
    ...range(8).map((i) => [`random:${i}`, randomPlan(g, i)] as [string, PartitionPlan]),
  ];
}

/**
 * Plans to fit the overhead on, none of them a validation plan: sync counts 1 to 12 with and
 * without mixed blocks (so calls, bytes and the cloud's weight gather vary independently), and
 * random plans from other seeds.
 */
export function fitPlans(g: ModelGraph): Array<[string, PartitionPlan]> {
  const H = g.config.nHead, K = g.ffnChunks;
  const allH = range(H), allK = range(K), halfH = range(H / 2), halfK = range(K).filter((k) => k % 2 === 0);
  const none = { cloudHeads: [] as number[], cloudFfnChunks: [] as number[] };
  return [
    ['layers:2', layerSplitPlan(g, 2)],
    ['layers:10', layerSplitPlan(g, 10)],
    ['cloud layers 0,4,8', withLayers(g, (l) => (l % 4 === 0 ? { cloudHeads: allH, cloudFfnChunks: allK } : none))],
    ['cloud even layers', withLayers(g, (l) => (l % 2 === 0 ? { cloudHeads: allH, cloudFfnChunks: allK } : none))],
    ['cloud attentions', withLayers(g, () => ({ cloudHeads: allH, cloudFfnChunks: [] }))],
    ['cloud ffns', withLayers(g, () => ({ cloudHeads: [], cloudFfnChunks: allK }))],
    ['3 mixed attentions', withLayers(g, (l) => (l % 4 === 1 ? { cloudHeads: halfH, cloudFfnChunks: [] } : none))],
    ['6 mixed attentions', withLayers(g, (l) => (l % 2 === 1 ? { cloudHeads: halfH, cloudFfnChunks: [] } : none))],
    ['12 mixed ffns', withLayers(g, () => ({ cloudHeads: [], cloudFfnChunks: halfK }))],
    ['12 mixed attentions (1 head)', withLayers(g, () => ({ cloudHeads: [H - 1], cloudFfnChunks: [] }))],
    ...range(10).map((i) => [`random:${100 + i}`, randomPlan(g, 100 + i)] as [string, PartitionPlan]),
  ];
}

export interface Timing {
  /** Median over reps of the prompt's prefill (each right after a reset, as a request starts). */
  prefill: number;
  /** Median over reps of the median decode step. */
  decode: number;
}

export const prompt = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7919 + 11) % config.vocabSize);

/** One warm-up round (graphs, gathered weights), then `reps` rounds of reset + prefill + `decode` steps. */
export async function timePlan(edge: EdgeExecutor, ids: number[], decode: number, reps: number): Promise<Timing> {
  const round = async (): Promise<Timing> => {
    await edge.reset();
    let t = performance.now();
    await edge.forward(ids);
    const prefill = performance.now() - t;
    const d: number[] = [];
    for (let k = 0; k < decode; k++) {
      t = performance.now();
      await edge.forward([(k * 104729 + 13) % config.vocabSize]);
      d.push(performance.now() - t);
    }
    return { prefill, decode: median(d) };
  };
  await round();
  const rs: Timing[] = [];
  for (let r = 0; r < reps; r++) rs.push(await round());
  return { prefill: median(rs.map((r) => r.prefill)), decode: median(rs.map((r) => r.decode)) };
}

export interface Bench {
  rig: EngineRig;
  graph: ModelGraph;
  /** Time `plan` over the link `makeLink` builds around the in-process cloud. */
  inProcess(plan: PartitionPlan, makeLink: (cloud: CloudHandler) => CloudLink, o: { prompt: number; decode: number; reps: number }): Promise<Timing>;
  release(): Promise<void>;
}

export async function createBench(): Promise<Bench> {
  const rig = await createEngineRig(makeRandomGpt2(config, 0));
  return {
    rig,
    graph: rig.graph,
    async inProcess(plan, makeLink, o) {
      const { edge, link } = await rig.pair(plan, makeLink);
      const t = await timePlan(edge, prompt(o.prompt), o.decode, o.reps);
      await link.close();
      return t;
    },
    release: () => rig.release(),
  };
}

export interface LoopbackCloud {
  /** Median RTT of 50 probes (an empty acknowledged round trip). */
  rttMs: number;
  /** Time `plan` with the real SocketLink to the real server. */
  time(plan: PartitionPlan, o: { prompt: number; decode: number; reps: number }): Promise<Timing>;
  close(): Promise<void>;
}

/** A real createCloudServer on loopback, in this process (gpt2 shape, the same random weights). */
export async function startLoopbackCloud(bench: Bench): Promise<LoopbackCloud> {
  const { createCloudServer } = await import('@splitwise/server');
  const { SocketLink } = await import('@splitwise/link-socketio');
  const { makeModel } = await import('@splitwise/checkpoint/node');
  const root = await mkdtemp(join(tmpdir(), 'splitwise-validate-'));
  await makeModel({ config: 'gpt2', seed: 0, outDir: join(root, 'model') });
  const server = await createCloudServer({ modelDir: join(root, 'model'), port: 0, logLevel: 'silent', threads: 2 });
  const probe = await SocketLink.connect(bench.graph, { url: server.url, probeEveryMs: 0 });
  const rtts: number[] = [];
  for (let i = 0; i < 50; i++) rtts.push(await probe.probe());
  await probe.close();
  return {
    rttMs: median(rtts),
    async time(plan, o) {
      const link = await SocketLink.connect(bench.graph, { url: server.url, precision: 'fp32', probeEveryMs: 0 });
      try {
        const { edge } = await bench.rig.pair(plan, () => link);
        return await timePlan(edge, prompt(o.prompt), o.decode, o.reps);
      } finally {
        await link.close();
      }
    },
    async close() {
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The cost model's prediction for what timePlan measures: the prefill (a sequence start) and the
 * median decode step over P = prompt .. prompt + decode - 1.
 */
export function predictPlan(
  model: CostModel,
  plan: PartitionPlan,
  precision: WirePrecision,
  net: NetworkState,
  o: { prompt: number; decode: number },
  link: LinkCostOptions = {},
): Timing {
  const c = model.compile(plan, precision);
  const prefill = passTime(c.prefill(o.prompt), c.rowBytes, 0, net, { ...link, sequenceStart: true }).ms;
  const decode = median(Array.from({ length: o.decode }, (_, k) => passTime(c.decode, c.rowBytes, o.prompt + k, net, link).ms));
  return { prefill, decode };
}
