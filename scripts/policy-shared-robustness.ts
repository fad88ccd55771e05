// Issue 10: does the page's congestion toll (the version-4 rule, fitted on 8 edges that all run it)
// still pay where its fit never looked? On a server that serves one call at a time (beta 1, the only
// server the page tolls), Markov Wi-Fi and LTE, light (rho 0.5) and heavy (rho 0.9) load:
//   - fleets of 4 and 16 edges (the rates scale so that rho is the same), every edge running the
//     version-4 policy (the fitted toll over the switch-priced solver, DPP layer+switch, as in
//     scripts/policy-shared-cloud.ts), against every edge running the solver without the toll;
//   - 8 edges of which only half, or only one, run the toll (the others run the solver): what the
//     toll costs the edges that pay it, and what it buys the ones that do not, against all 8
//     running the solver.
// The whole fleet is also compared with every edge running the DPP layer rule (no switch price),
// the per-decision planner that did best under heavy load on 8 edges (policy-shared-cloud.md).
// 12 test episodes per block (seeds 1,000,000+, never fitted on), each edge's first 24 requests,
// paired bootstrap 95 % intervals over episodes. Output: docs/policy-shared-robustness.{md,json}.
//
// A mixed fleet (--kinds mixed: even edges on Wi-Fi, odd on LTE) also runs 8 edges all tolled, and
// reports each channel's edges apart.
//
// --form reciprocal runs the page's rule instead: the toll in proportion to the share of the
// others' load held by edges that price congestion (reciprocalToll; the tolled edges say they do).
// With every edge paying it is the fitted toll, and a lone payer's share is 0, so only fleets where
// some edges pay are new (--settings half).
//
//   nice npx tsx scripts/policy-shared-robustness.ts [--episodes 12] [--kinds wifi,lte,mixed] [--loads light,heavy] [--form fitted|reciprocal] [--settings 4,16,half,one,all8 (all8: the mixed fleet's 8 edges all tolled)]
//   (in parts: --kinds wifi --part /tmp/a.json, then --render /tmp/a.json,/tmp/b.json)
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PRESETS } from '@splitwise/core';
import { CongestionPricePlanner, reciprocalToll, tollOf, type TollRule } from '../packages/policy/src/congestion-price.ts';
import { DEFAULT_SWITCHING } from '../packages/policy/src/dynamics.ts';
import { runSharedCloudEpisode, type SharedEpisodeLog } from '../packages/policy/src/env/shared-cloud.ts';
import { bootstrapDiff } from '../packages/policy/src/evaluate.ts';
import { AdaptiveLayerSplitPlanner } from '../packages/policy/src/planners.ts';
import { FixedPricePlanner } from '../packages/policy/src/price-policy.ts';
import { costModelFor, EVAL_SEED_BASE } from '../packages/policy/src/scenario.ts';
import { sharedCloudConfig, type SharedRegime } from '../packages/policy/src/shared-cloud-scenario.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';

const { values: args } = parseArgs({
  options: {
    episodes: { type: 'string', default: '12' },
    kinds: { type: 'string', default: 'wifi,lte,mixed' },
    loads: { type: 'string', default: 'light,heavy' },
    form: { type: 'string', default: 'fitted' },
    settings: { type: 'string', default: '4,16,half,one,all8' },
    rule: { type: 'string', default: 'packages/policy/trained/v4-toll-gpt2xl-rpi5/toll-rule.json' },
    out: { type: 'string', default: 'docs' },
    name: { type: 'string', default: 'policy-shared-robustness' },
    part: { type: 'string' },
    render: { type: 'string' },
  },
});

/** Per episode, the mean reward and latency of a group of edges (each edge's mean first, then over the group). */
interface Group { reward: number[]; latency: number[] }
interface Block {
  label: string; kind: string; load: string; setting: string; edges: number; tolledEdges: number; tolled: Group; untolled: Group; baseline: { tolled: Group; untolled: Group }; layerBaseline: Group; seconds: number;
  /** A mixed fleet (even edges on Wi-Fi, odd on LTE): each channel's edges in the run with the toll, in the baseline and with every edge on DPP layer. */
  channels?: Record<'wifi' | 'lte', { run: Group; baseline: Group; layer: Group }>;
}

const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / Math.max(1, xs.length);
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;

function groupOf(ep: SharedEpisodeLog, edges: number[]): { reward: number; latency: number } {
  return {
    reward: mean(edges.map((i) => mean(ep.edges[i]!.map((r) => r.reward)))),
    latency: mean(edges.map((i) => mean(ep.edges[i]!.map((r) => r.latencyS)))),
  };
}

function render(blocks: Block[], meta: Record<string, unknown>): void {
  const diff = (a: Group, b: Group, seed: number) => {
    const d = bootstrapDiff(a.reward, b.reward, seed), won = a.reward.filter((x, i) => x > b.reward[i]!).length;
    return `${signed(mean(a.reward) - mean(b.reward))} [${signed(d.lo)}, ${signed(d.hi)}], ${won}/${a.reward.length}`;
  };
  const ratio = (a: Group, b: Group) => (mean(a.latency) / mean(b.latency)).toFixed(2);
  const lines = [
    meta.form === 'reciprocal'
      ? '# The reciprocal congestion toll (the page\'s rule): the fitted toll in proportion to the share of the others\' load that pays it too'
      : '# The congestion toll where its fit never looked: other fleet sizes, and half the edges paying it',
    '',
    `Generated by \`npx tsx scripts/policy-shared-robustness.ts${meta.form === 'reciprocal' ? ' --form reciprocal --settings half' : ''}\` (${(meta.seconds as number).toFixed(0)} s of computing). The shared-cloud simulator (packages/policy/src/env/shared-cloud.ts) on a server that serves one call at a time (beta 1), gpt2-xl on Raspberry Pi 5 edges, switching costs on; rho is the cloud's utilisation if every request went to it as API cloud-only. "Tolled" edges run the version-4 policy (the switch-priced solver over layer cuts and API cloud-only, DPP layer+switch, deciding with the fitted toll, ${meta.rule}); the others, and every edge of the baseline, run the solver without it. The baseline is the same episode (same seeds: channels, arrivals, requests) with no edge tolled. The last column compares the whole fleet with the same episode where every edge runs the DPP layer rule, the per-decision planner that did best under heavy load on 8 edges (policy-shared-cloud.md). ${meta.episodes} test episodes per block; reward is the drift-plus-penalty objective per request (higher = lower episode cost), averaged per edge, then over the edges of the group; paired bootstrap 95 % intervals and episodes won.${blocks.some((b) => b.channels) ? ' Blocks "mixed" are fleets on two channels, even edges on Wi-Fi and odd ones on LTE (by channel in the last table).' : ''}`,
    '',
    '| block | setting | tolled edges − the same edges untolled [95 % CI], won | their latency over baseline | untolled edges − the same edges in the baseline [95 % CI], won | their latency over baseline | every edge − the baseline [95 % CI], won | every edge − every edge on DPP layer [95 % CI], won |',
    '|---|---|---|---:|---|---:|---|---|',
  ];
  let seed = 1;
  for (const b of blocks) {
    const untolled = b.untolled.reward.length ? `${diff(b.untolled, b.baseline.untolled, seed++)} | ${ratio(b.untolled, b.baseline.untolled)}` : '— | —';
    // the whole fleet: each edge counts the same, as in policy-shared-cloud.ts
    const w = b.tolledEdges / b.edges, fleet = (t: Group, u: Group): Group => ({ reward: t.reward.map((x, i) => w * x + (1 - w) * (u.reward[i] ?? 0)), latency: t.latency.map((x, i) => w * x + (1 - w) * (u.latency[i] ?? 0)) });
    lines.push(`| ${b.kind}, ${b.load} | ${b.setting} | ${diff(b.tolled, b.baseline.tolled, seed++)} | ${ratio(b.tolled, b.baseline.tolled)} | ${untolled} | ${diff(fleet(b.tolled, b.untolled), fleet(b.baseline.tolled, b.baseline.untolled), seed++)} | ${diff(fleet(b.tolled, b.untolled), b.layerBaseline, seed++)} |`);
  }
  lines.push('');
  const mixed = blocks.filter((b) => b.channels);
  if (mixed.length) {
    lines.push(
      '## A fleet on two channels',
      '',
      'Even edges on Markov Wi-Fi, odd ones on LTE, sharing the cloud (the toll was fitted on fleets of one channel). Each channel\'s edges in the run with the setting\'s toll against the same edges in the baseline (no edge tolled) and with every edge on DPP layer. With half of 8 edges tolled, edges 0–3 pay it: two on each channel.',
      '',
      '| block | setting | Wi-Fi edges − baseline [95 % CI], won | LTE edges − baseline [95 % CI], won | Wi-Fi edges − DPP layer fleet | LTE edges − DPP layer fleet |',
      '|---|---|---|---|---|---|',
    );
    for (const b of mixed) {
      const c = b.channels!;
      lines.push(`| ${b.kind}, ${b.load} | ${b.setting} | ${diff(c.wifi.run, c.wifi.baseline, seed++)} | ${diff(c.lte.run, c.lte.baseline, seed++)} | ${diff(c.wifi.run, c.wifi.layer, seed++)} | ${diff(c.lte.run, c.lte.layer, seed++)} |`);
    }
    lines.push('');
  }
  writeFileSync(`${args.out}/${args.name}.md`, lines.join('\n'));
  writeFileSync(`${args.out}/${args.name}.json`, JSON.stringify({ meta, blocks }, null, 1) + '\n');
  console.log(lines.slice(4).join('\n'));
}

if (args.render) {
  const parts = args.render.split(',').map((p) => JSON.parse(readFileSync(p, 'utf8')) as { meta: Record<string, unknown>; blocks: Block[] });
  render(parts.flatMap((p) => p.blocks), { ...parts[0]!.meta, seconds: parts.reduce((a, p) => a + (p.meta.seconds as number), 0) });
} else {
  const t0 = performance.now();
  const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
  const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS['gpt2-xl'] });
  const rule = JSON.parse(readFileSync(args.rule, 'utf8')) as TollRule;
  if (args.form !== 'fitted' && args.form !== 'reciprocal') throw new Error(`--form: fitted or reciprocal, got ${args.form}`);
  const reciprocal = args.form === 'reciprocal';
  const toll = reciprocal ? reciprocalToll(tollOf(rule)) : tollOf(rule);
  // over layer cuts: the exact split bought nothing measurable in the shared cloud (policy-shared-cloud.md) and costs far more time
  const solver = () => new FixedPricePlanner(1, DEFAULT_SWITCHING, false);
  const tolled = () => new CongestionPricePlanner(solver(), toll, reciprocal ? 'reciprocal toll (serial server)' : 'fitted toll (serial server)');
  const seeds = Array.from({ length: Number(args.episodes) }, (_, i) => EVAL_SEED_BASE + 40_000 + i);
  const wanted = new Set(args.settings.split(','));
  const settings: Array<{ key: string; setting: string; edges: number; tolledEdges: number }> = [
    { key: '4', setting: '4 edges, all tolled', edges: 4, tolledEdges: 4 },
    { key: '16', setting: '16 edges, all tolled', edges: 16, tolledEdges: 16 },
    { key: 'half', setting: '8 edges, half tolled', edges: 8, tolledEdges: 4 },
    { key: 'one', setting: '8 edges, one tolled', edges: 8, tolledEdges: 1 },
  ].filter((s) => wanted.has(s.key));
  const blocks: Block[] = [];
  for (const kind of args.kinds.split(',') as Array<SharedRegime['kind']>) {
    for (const load of args.loads.split(',') as Array<'light' | 'heavy'>) {
      const regime: SharedRegime = { kind, rho: load === 'heavy' ? 0.9 : 0.5, beta: 1 };
      // one channel's 8-edge fleet is policy-shared-cloud.md's; a mixed one is new at every size
      for (const s of kind === 'mixed' && wanted.has('all8') ? [{ key: 'all8', setting: '8 edges, all tolled', edges: 8, tolledEdges: 8 }, ...settings] : settings) {
        const tb = performance.now(), base = sharedCloudConfig(model, edge, regime, 24, s.edges);
        // the tolled edges say so at hello; the reciprocal toll reads the share of load they hold
        const cfg = reciprocal ? { ...base, pricing: (i: number) => i < s.tolledEdges } : base;
        const inTolled = Array.from({ length: s.tolledEdges }, (_, i) => i), inUntolled = Array.from({ length: s.edges - s.tolledEdges }, (_, i) => s.tolledEdges + i);
        const empty = (): Group => ({ reward: [], latency: [] });
        const b: Block = { label: `${kind}, ${load}, ${s.setting}`, kind, load, setting: s.setting, edges: s.edges, tolledEdges: s.tolledEdges, tolled: empty(), untolled: empty(), baseline: { tolled: empty(), untolled: empty() }, layerBaseline: empty(), seconds: 0 };
        const push = (g: Group, x: { reward: number; latency: number }) => { g.reward.push(x.reward); g.latency.push(x.latency); };
        const onChannel = (parity: number) => Array.from({ length: s.edges }, (_, i) => i).filter((i) => i % 2 === parity);
        if (kind === 'mixed') b.channels = { wifi: { run: empty(), baseline: empty(), layer: empty() }, lte: { run: empty(), baseline: empty(), layer: empty() } };
        for (const seed of seeds) {
          const base = await runSharedCloudEpisode(cfg, () => solver(), seed);
          const mixed = await runSharedCloudEpisode(cfg, (i) => (i < s.tolledEdges ? tolled() : solver()), seed);
          push(b.baseline.tolled, groupOf(base, inTolled));
          push(b.tolled, groupOf(mixed, inTolled));
          if (inUntolled.length) { push(b.baseline.untolled, groupOf(base, inUntolled)); push(b.untolled, groupOf(mixed, inUntolled)); }
          const layer = await runSharedCloudEpisode(cfg, () => new AdaptiveLayerSplitPlanner(), seed);
          push(b.layerBaseline, groupOf(layer, [...inTolled, ...inUntolled]));
          if (b.channels) {
            for (const [ch, parity] of [['wifi', 0], ['lte', 1]] as const) {
              push(b.channels[ch].run, groupOf(mixed, onChannel(parity)));
              push(b.channels[ch].baseline, groupOf(base, onChannel(parity)));
              push(b.channels[ch].layer, groupOf(layer, onChannel(parity)));
            }
          }
        }
        b.seconds = (performance.now() - tb) / 1000;
        blocks.push(b);
        console.log(`${b.label}: tolled ${mean(b.tolled.reward).toFixed(2)} vs ${mean(b.baseline.tolled.reward).toFixed(2)}${inUntolled.length ? `, untolled ${mean(b.untolled.reward).toFixed(2)} vs ${mean(b.baseline.untolled.reward).toFixed(2)}` : ''} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      }
    }
  }
  const meta = { episodes: seeds.length, form: args.form, rule: `a = ${rule.a}, b = ${rule.b} (${args.rule})${reciprocal ? ', times the share of the others\' load held by tolled edges' : ''}`, seconds: (performance.now() - t0) / 1000 };
  if (args.part) writeFileSync(args.part, JSON.stringify({ meta, blocks }) + '\n');
  else render(blocks, meta);
}
