// Node only: the profiles and the accuracy table committed with the package, read from disk.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseProfile, type DeviceProfile } from '../profile.ts';
import type { AccuracyTable } from '../cost-model.ts';

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
  return { klPerResidual: j.klPerResidual, klPerPartial: j.klPerPartial, source: `profiles/accuracy-gpt2-random.json (${j.command})` };
}
