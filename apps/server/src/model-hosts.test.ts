// The models one server hosts: the first is the default (also reachable as "default"), ids are
// unique, and an unknown id is the client's error, by name.
import { describe, expect, it } from 'vitest';
import { ModelHosts, type ModelHost } from './model-host.ts';

const host = (id: string): ModelHost => ({ id }) as unknown as ModelHost;

describe('ModelHosts', () => {
  it('finds models by id; "default" and no id mean the first', () => {
    const m = new ModelHosts([host('stories260K'), host('gpt2')]);
    expect(m.get().id).toBe('stories260K');
    expect(m.get('default').id).toBe('stories260K');
    expect(m.get('gpt2').id).toBe('gpt2');
    expect(() => m.get('nope')).toThrow(/no model "nope"; it has stories260K, gpt2/);
  });

  it('refuses duplicate ids, and "default" for any model but the first', () => {
    expect(() => new ModelHosts([host('a'), host('a')])).toThrow(/unique/);
    expect(() => new ModelHosts([host('a'), host('default')])).toThrow(/"default" is the first model's name/);
    expect(new ModelHosts([host('default'), host('b')]).get('default').id).toBe('default');
  });
});
