import { describe, expect, it } from 'vitest';
import { PRESETS } from '../model/config.ts';
import { buildModelGraph, chunkRanges } from '../graph/model-graph.ts';
import { InvalidPlanError } from '../errors.ts';
import { apiCloudOnlyPlan, blockOwner, cloudOnlyPlan, edgeOnlyPlan, halfPlan, layerSplitPlan, ownedChunks, ownedHeads, planFromSpec, planToJson, randomPlan, validatePlan } from './partition-plan.ts';
import { schedule, syncPointsPerForward } from '../executor/schedule.ts';

const graph = buildModelGraph(PRESETS.tiny); // 2 layers, 4 heads, 4 chunks of n_inner 150

describe('validatePlan', () => {
  const ok = { layers: [{ cloudHeads: [3, 1], cloudFfnChunks: [] }, { cloudHeads: [], cloudFfnChunks: [0] }] };
  it('normalises a valid plan (sorted indices)', () => {
    expect(validatePlan(ok, graph).layers[0]!.cloudHeads).toEqual([1, 3]);
  });
  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 42, /malformed/],
    ['wrong layer count', { layers: [ok.layers[0]] }, /1 layers; the model has 2/],
    ['head out of range', { layers: [{ cloudHeads: [4], cloudFfnChunks: [] }, ok.layers[1]] }, /head index 4 is outside \[0, 4\)/],
    ['negative chunk', { layers: [ok.layers[0], { cloudHeads: [], cloudFfnChunks: [-1] }] }, /FFN chunk index -1/],
    ['duplicate head', { layers: [{ cloudHeads: [2, 2], cloudFfnChunks: [] }, ok.layers[1]] }, /listed twice/],
    ['fractional index', { layers: [{ cloudHeads: [1.5], cloudFfnChunks: [] }, ok.layers[1]] }, /malformed/],
    ['unknown key', { ...ok, extra: 1 }, /malformed/],
    ['wrong head count', { ...ok, nHead: 8 }, /8 heads per layer; the model has 4/],
    ['wrong chunk count', { ...ok, ffnChunks: 3 }, /3 FFN chunks/],
  ];
  for (const [name, input, msg] of bad) {
    it(`rejects ${name}`, () => {
      expect(() => validatePlan(input, graph)).toThrow(InvalidPlanError);
      expect(() => validatePlan(input, graph)).toThrow(msg);
    });
  }
});

describe('plan helpers', () => {
  it('presets own what they say', () => {
    expect(ownedHeads(edgeOnlyPlan(graph), 0, 'edge')).toEqual([0, 1, 2, 3]);
    expect(ownedChunks(cloudOnlyPlan(graph), 1, 'cloud')).toEqual([0, 1, 2, 3]);
    expect(ownedHeads(halfPlan(graph), 1, 'cloud')).toEqual([1, 3]);
    expect(blockOwner(layerSplitPlan(graph, 1), 0, 'attn')).toBe('edge');
    expect(blockOwner(layerSplitPlan(graph, 1), 1, 'ffn')).toBe('cloud');
    expect(blockOwner(halfPlan(graph), 0, 'ffn')).toBe('mixed');
  });
  it('random plans are deterministic in the seed and vary across seeds', () => {
    expect(randomPlan(graph, 7)).toEqual(randomPlan(graph, 7));
    const distinct = new Set(Array.from({ length: 20 }, (_, s) => JSON.stringify(randomPlan(graph, s).layers)));
    expect(distinct.size).toBeGreaterThan(15);
  });
  it('parses CLI specs and refuses unknown ones', () => {
    expect(planFromSpec('layers:1', graph)).toEqual(layerSplitPlan(graph, 1));
    expect(() => planFromSpec('layers:3', graph)).toThrow(/exceeds the model's 2 layers/);
    expect(() => planFromSpec('sideways', graph)).toThrow(InvalidPlanError);
  });
  it('FFN chunks cover n_inner exactly, nearly equal', () => {
    const r = chunkRanges(150, 4);
    expect(r.map((c) => c.width)).toEqual([38, 38, 37, 37]);
    expect(r.at(-1)!.start + r.at(-1)!.width).toBe(150);
  });
});

describe('schedule', () => {
  it('runs whole edge layers in one call each and needs no cloud', () => {
    expect(schedule(edgeOnlyPlan(graph))).toEqual([
      { type: 'edge-layer', layer: 0 },
      { type: 'edge-layer', layer: 1 },
    ]);
  });
  it('hands a run of cloud blocks over in one call', () => {
    const steps = schedule(cloudOnlyPlan(graph));
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ type: 'cloud', from: 0, to: 3 });
  });
  it('ends a cloud call at a mixed block, which the edge shares', () => {
    const plan = validatePlan({ layers: [{ cloudHeads: [0, 1, 2, 3], cloudFfnChunks: [0] }, { cloudHeads: [], cloudFfnChunks: [] }] }, graph);
    expect(schedule(plan).map((s) => (s.type === 'cloud' ? `cloud ${s.from}-${s.to}` : s.type))).toEqual(['cloud 0-1', 'edge-layer']);
    expect(syncPointsPerForward(plan)).toBe(1);
    expect(syncPointsPerForward(halfPlan(graph))).toBe(4);
  });
});

describe('plan files: version 2 names its units; version 1 still loads', () => {
  const llama = buildModelGraph(PRESETS['llama-tiny']); // 3 layers, 8 query heads in 4 KV groups
  it('a LLaMA graph places KV groups, not query heads', () => {
    expect(llama.attnUnits).toBe(4);
    expect(llama.queryHeadsPerUnit).toBe(2);
    expect(llama.layers[1]!.heads.map((h) => h.id)).toEqual([0, 1, 2, 3].map((g) => `layers.1.attn.group.${g}`));
    expect(() => validatePlan({ layers: llama.layers.map(() => ({ cloudHeads: [5], cloudFfnChunks: [] })) }, llama)).toThrow(/attention unit index 5 is outside \[0, 4\)/);
  });

  it('round-trips through planToJson (version 2) for both families', () => {
    for (const g of [graph, llama]) {
      const p = randomPlan(g, 3), json = JSON.parse(JSON.stringify(planToJson(p, g))) as Record<string, unknown>;
      expect(json).toMatchObject({ version: 2, family: g.config.family, attnUnit: g.config.family === 'gpt2' ? 'head' : 'kv-group', attnUnits: g.attnUnits });
      expect(validatePlan(json, g)).toEqual(p);
    }
  });

  it('API cloud-only: --plan api, its JSON round-trips, and it must keep every layer whole on the cloud', () => {
    const api = planFromSpec('api', llama);
    expect(api).toEqual(apiCloudOnlyPlan(llama));
    expect(api.layers.every((l) => l.cloudHeads.length === llama.attnUnits && l.cloudFfnChunks.length === llama.ffnChunks)).toBe(true);
    expect(validatePlan(JSON.parse(JSON.stringify(planToJson(api, llama))), llama)).toEqual(api);
    expect(validatePlan({ ...cloudOnlyPlan(llama), apiCloudOnly: true }, llama).apiCloudOnly).toBe(true);
    expect(() => validatePlan({ ...halfPlan(llama), apiCloudOnly: true }, llama)).toThrow(/every layer on the cloud; layer 0 keeps part of itself on the edge/);
    expect(() => validatePlan({ ...cloudOnlyPlan(llama), apiCloudOnly: false }, llama)).toThrow(/malformed/);
    expect(cloudOnlyPlan(llama).apiCloudOnly).toBeUndefined(); // checkpointed cloud-only is another plan
  });

  it('version 1 files load as before; a file for another family or unit is refused by name', () => {
    const v1 = { version: 1, nHead: 4, layers: [{ cloudHeads: [1], cloudFfnChunks: [0] }, { cloudHeads: [], cloudFfnChunks: [] }] };
    expect(validatePlan(v1, graph).layers[0]!.cloudHeads).toEqual([1]);
    const v2 = planToJson(halfPlan(llama), llama);
    expect(() => validatePlan({ ...v2, family: 'gpt2' }, llama)).toThrow(/for the gpt2 family; the model is llama/);
    expect(() => validatePlan({ ...v2, attnUnit: 'head' }, llama)).toThrow(/attention unit is a kv-group/);
    expect(() => validatePlan({ ...v2, attnUnits: 8 }, llama)).toThrow(/8 attention units \(KV groups\) per layer; the model has 4/);
  });
});
