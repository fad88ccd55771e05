// Node only: the profiles and the accuracy table committed with the package, read from disk.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseLinkOverheadProfile, parseProfile, type DeviceProfile, type LinkOverheadProfile, type OverheadLink } from '../profile.ts';
import type { AccuracyTable, LinkCostOptions } from '../cost-model.ts';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export function loadProfile(name: string): DeviceProfile {
  return parseProfile(JSON.parse(readFileSync(here(`../../profiles/${name}.json`), 'utf8')));
}

export function loadAccuracy(): AccuracyTable {
  const j = JSON.parse(readFileSync(here('../../profiles/accuracy-gpt2-random.json'), 'utf8')) as {
    klPerResidual: AccuracyTable['klPerResidual'];
    klPerPartial: AccuracyTable['klPerPartial'];
    command: string;
  };
  // quantized weights: the same model's figures (gpt2-small shape, random weights), from measure:quant
  const w = JSON.parse(readFileSync(here('../../profiles/accuracy-weights.json'), 'utf8')) as { command: string; models: Record<string, { klPerWeights: AccuracyTable['klPerWeights'] }> };
  return {
    klPerResidual: j.klPerResidual,
    klPerPartial: j.klPerPartial,
    klPerWeights: w.models['gpt2-random']!.klPerWeights,
    source: `profiles/accuracy-gpt2-random.json (${j.command}); profiles/accuracy-weights.json (${w.command})`,
  };
}

/** A committed link-overhead profile (profiles/link-overhead-node.json unless named). */
export function loadLinkOverheadProfile(name = 'link-overhead-node'): LinkOverheadProfile {
  return parseLinkOverheadProfile(JSON.parse(readFileSync(here(`../../profiles/${name}.json`), 'utf8')));
}

/** The cost model's LinkCostOptions for one measured link: its overhead, and shared cores when it was measured so. */
export function loadLinkCost(link: OverheadLink, name?: string): LinkCostOptions {
  const e = loadLinkOverheadProfile(name).links[link];
  return { overhead: { msPerCall: e.msPerCall, msPerByte: e.msPerByte, gatherMsPerByte: e.gatherMsPerByte }, sharedCores: e.sharedCores };
}
