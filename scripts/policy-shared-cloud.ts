// Issue 10: several edges share one cloud, and the contention each meets is made by the others'
// decisions (packages/policy/src/env/shared-cloud.ts). Does the version-4 learned policy (a
// congestion toll over the switch-priced DPP solver, packages/policy/src/congestion-price.ts,
// trained by scripts/train-toll-policy.ts) have a lower episode cost than every per-decision planner?
//
// 8 Raspberry Pi 5 edges with gpt2-xl share the node-epyc cloud, switching costs on; every edge runs
// the same planner. Blocks: Markov Wi-Fi and LTE x light (rho 0.5) and heavy (rho 0.9) load x a
// server that serves one call at a time (beta 1) and a batching one (beta 0.4), where rho is the
// cloud's utilisation if every request went to it as API cloud-only. 12 test episodes per block
// (seeds 1,000,000+, never trained or validated on), paired bootstrap 95 % intervals over episodes.
//
//   nice npx tsx scripts/policy-shared-cloud.ts [--episodes 12] [--kinds wifi,lte] [--name policy-shared-cloud]
//   (in parts on two cores: --kinds wifi --part /tmp/a.json, --kinds lte --part /tmp/b.json, or
//    --planners 'DPP exact;DPP exact+switch' for some planners only; then --render /tmp/a.json,/tmp/b.json)
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PRESETS } from '@splitwise/core';
import { CongestionPricePlanner, reciprocalToll, tollOf, type TollRule } from '../packages/policy/src/congestion-price.ts';
import { DEFAULT_CONTENTION, DEFAULT_SWITCHING } from '../packages/policy/src/dynamics.ts';
import { CHANNEL_SPECS, MarkovChannel } from '../packages/policy/src/env/channel.ts';
import { DEFAULT_WORKLOAD, type EnvConfig } from '../packages/policy/src/env/simulator.ts';
import { runEpisodes, summarize } from '../packages/policy/src/evaluate.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { runSharedCloudEpisode, summarizeShared } from '../packages/policy/src/env/shared-cloud.ts';
import { bootstrap, bootstrapDiff } from '../packages/policy/src/evaluate.ts';
import { barChart } from '../packages/policy/src/svg-plot.ts';
import { AdaptiveLayerSplitPlanner, ApiCloudOnlyPlanner, CloudOnlyPlanner, EdgeOnlyPlanner, OptimumPlanner, SwitchAwarePlanner, type Planner } from '../packages/policy/src/planners.ts';
import { FixedPricePlanner } from '../packages/policy/src/price-policy.ts';
import { costModelFor, envConfig, EVAL_SEED_BASE, memoryRange, OBJECTIVE, TRAIN_SEED_BASE } from '../packages/policy/src/scenario.ts';
import { apiServiceS, sharedCloudConfig, SHARED_EDGES, type SharedRegime } from '../packages/policy/src/shared-cloud-scenario.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';

const { values: args } = parseArgs({
  options: {
    episodes: { type: 'string', default: '12' },
    kinds: { type: 'string', default: 'wifi,lte' },
    rule: { type: 'string', default: 'packages/policy/trained/v4-toll-gpt2xl-rpi5/toll-rule.json' },
    planners: { type: 'string' },
    betas: { type: 'string', default: '1,0.4' },
    exogenous: { type: 'string', default: 'yes' },
    name: { type: 'string', default: 'policy-shared-cloud' },
    out: { type: 'string', default: 'docs' },
    part: { type: 'string' },
    render: { type: 'string' },
  },
});

interface Row { planner: string; latency: number[]; reward: number[]; energyPerToken: number[]; cloudFraction: number[]; meanLoad: number[]; switches: number[] }
interface Block { regime: SharedRegime; label: string; rows: Row[]; seconds: number }
/** The single-edge contention families (the load an outside process): what the toll costs an edge whose load is not its peers'. */
interface ExoBlock { label: string; rows: Array<{ planner: string; latency: number[]; reward: number[] }> }

const SUBJECT = 'fitted toll (v4)';
/**
 * What the page's Policy mode does (apps/web/src/policy-mode.ts): its solver (DPP exact+switch)
 * with the fitted toll when the server says it serves each session's calls on their own (beta 1),
 * and without one when it batches (where the toll buys nothing measurable). The page's toll is
 * reciprocal (in proportion to the share of the others' load that prices congestion too); here every
 * edge runs the page, so the share is 1 whenever there is load and the row is the fitted toll's
 * (shared-cloud.test.ts checks that the episodes are identical).
 */
const PAGE = "page's Policy mode";
/**
 * What the page did before the server reported its contention factor: it priced the cloud 1 + L
 * whatever the server, so on a batching server (slowdown 1 + beta L) it decided as if the cloud
 * were 1/beta times as contended, that is with a constant toll 1/beta - 1 (1.5 at beta 0.4).
 */
const PAGE_UNREPORTED = "page pricing 1 + L (no contention report)";
const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
const f1 = (x: number) => x.toFixed(1), f2 = (x: number) => x.toFixed(2), f3 = (x: number) => x.toFixed(3);
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;

function render(blocks: Block[], exo: ExoBlock[], seconds: number, meta: Record<string, unknown>): void {
  const lines: string[] = [
    '# Several edges sharing one cloud: a fitted congestion toll against the per-decision planners',
    '',
    `Generated by \`npx tsx scripts/policy-shared-cloud.ts\` (${seconds.toFixed(0)} s of computing). ${SHARED_EDGES} Raspberry Pi 5 edges with gpt2-xl share the node-epyc cloud (packages/policy/src/env/shared-cloud.ts), switching costs on, every edge running the same planner; a cloud kernel runs 1 + beta L slower with L the other edges' requests the cloud holds, and the server reports that figure. rho is the cloud's utilisation if every request went to it as API cloud-only, unloaded (S_api ${f1(meta.apiServiceS as number)} s). ${meta.episodes} test episodes per block (seeds ${EVAL_SEED_BASE}+), each edge's first 24 requests; figures are averaged per edge, then over edges. Objective as scenario.ts (V = 2, energy budget 3 J/token, accuracy budget 1e-5).`,
    '',
    `${/a = 1, b = 0 /.test(String(meta.rule)) ? 'The fit (`npm run train:policy:v4`) kept the textbook toll, so the subject\'s rows equal the textbook toll\'s. ' : ''}Subject: **${SUBJECT}**, the switch-priced DPP solver over layer cuts, API cloud-only and the plan in place, deciding with the cloud's slowdown raised by a toll the policy sets from what the edge sees (congestion-price.ts: tau = a + b (f_bar - 1), f_bar the slowdown reported over the last 8 s and now; ${meta.rule}). "textbook toll" is the same solver with tau = 1, the marginal cost for a slowdown linear in the load held now. "DPP layer+switch" is the solver itself (tau = 0). "${PAGE}" is what the page's Policy mode does: its solver, DPP exact+switch, with the fitted toll where beta = 1 (the server says it does not batch) and without it where beta = 0.4, pricing the slowdown 1 + beta L with the contention factor beta the server reports. "${PAGE_UNREPORTED}" (beta = 0.4 blocks only) is what the page did before the server reported beta: 1 + L on every server, on a batching one a constant toll 1 / beta - 1 = 1.5.`,
    '',
    'Columns: mean latency [95 % CI]; latency over DPP exact\'s [paired CI]; mean reward per request (the drift-plus-penalty objective, higher = lower episode cost); the subject\'s reward minus this planner\'s [paired CI] and the episodes the subject wins of the block\'s; edge energy per token; the share of units on the cloud; the cloud\'s mean load (requests it holds).',
    '',
  ];
  const withPage = blocks.every((b) => b.rows.some((r) => r.planner === PAGE));
  const summary: string[] = [
    `| block | subject latency s | best per-decision planner by reward | subject − it [95 % CI] | subject − API cloud-only | subject − textbook toll |${withPage ? ` ${PAGE} − the best per-decision planner [95 % CI], episodes won |` : ''}`,
    `|---|---:|---|---|---|---|${withPage ? '---|' : ''}`,
  ];
  for (const b of blocks) {
    const exact = b.rows.find((r) => r.planner === 'DPP exact')!, subj = b.rows.find((r) => r.planner === SUBJECT)!;
    lines.push(`## ${b.label}`, '', '| planner | latency s [95 % CI] | vs DPP exact | reward [95 % CI] | subject − this [95 % CI], episodes won | J/token | cloud share | cloud load |', '|---|---:|---|---:|---|---:|---:|---:|');
    for (const r of b.rows) {
      const li = bootstrap(r.latency, undefined, 1), lr = bootstrap(r.latency, exact.latency, 2), ri = bootstrap(r.reward, undefined, 3);
      const d = bootstrapDiff(subj.reward, r.reward, 4), won = subj.reward.filter((x, i) => x > r.reward[i]!).length;
      lines.push(`| ${r.planner} | ${f1(mean(r.latency))} [${f1(li.lo)}, ${f1(li.hi)}] | ${f3(mean(r.latency) / mean(exact.latency))} [${f3(lr.lo)}, ${f3(lr.hi)}] | ${f2(mean(r.reward))} [${f2(ri.lo)}, ${f2(ri.hi)}] | ${r === subj ? '—' : `${signed(mean(subj.reward) - mean(r.reward))} [${signed(d.lo)}, ${signed(d.hi)}] ${won}/${r.reward.length}`} | ${f2(mean(r.energyPerToken))} | ${f2(mean(r.cloudFraction))} | ${f2(mean(r.meanLoad))} |`);
    }
    lines.push('');
    const perDecision = b.rows.filter((r) => PER_DECISION.includes(r.planner));
    const bestPd = perDecision.reduce((a, r) => (mean(r.reward) > mean(a.reward) ? r : a));
    const diff = (o: Row) => { const d = bootstrapDiff(subj.reward, o.reward, 5); return `${signed(mean(subj.reward) - mean(o.reward))} [${signed(d.lo)}, ${signed(d.hi)}]`; };
    const page = b.rows.find((r) => r.planner === PAGE);
    const pageCell = page ? (() => { const d = bootstrapDiff(page.reward, bestPd.reward, 6); return ` ${signed(mean(page.reward) - mean(bestPd.reward))} [${signed(d.lo)}, ${signed(d.hi)}], ${page.reward.filter((x, i) => x > bestPd.reward[i]!).length}/${page.reward.length} |`; })() : '';
    summary.push(`| ${b.label} | ${f1(mean(subj.latency))} | ${bestPd.planner} | ${diff(bestPd)} | ${diff(b.rows.find((r) => r.planner === 'API cloud-only')!)} | ${diff(b.rows.find((r) => r.planner === 'textbook toll (tau = 1)')!)} |${withPage ? pageCell : ''}`);
  }
  if (exo.length) {
    lines.push(
      '## Where the load is not the edges\' own',
      '',
      'One edge on the single-edge contention families (`npm run eval:policy:contention`\'s setting: Markov Wi-Fi or LTE, the cloud\'s load an outside OU process, switching costs on, energy budget 3 J/token, light and heavy load, 12 test episodes of 48 requests). The toll here only makes the edge pay for a load its restraint cannot lower; the other users\' gain is outside the simulation, so this measures what the toll costs an edge whose cloud is loaded by others.',
      '',
      '| family, load | planner | latency s [95 % CI] | reward [95 % CI] | this − DPP layer+switch [95 % CI], episodes won |',
      '|---|---|---:|---:|---|',
    );
    for (const b of exo) {
      const ref = b.rows.find((r) => r.planner === 'DPP layer+switch')!;
      for (const r of [ref, ...b.rows.filter((r) => r !== ref)]) {
        const li = bootstrap(r.latency, undefined, 11), ri = bootstrap(r.reward, undefined, 12), d = bootstrapDiff(r.reward, ref.reward, 13);
        lines.push(`| ${b.label} | ${r.planner} | ${f1(mean(r.latency))} [${f1(li.lo)}, ${f1(li.hi)}] | ${f2(mean(r.reward))} [${f2(ri.lo)}, ${f2(ri.hi)}] | ${r === ref ? '—' : `${signed(mean(r.reward) - mean(ref.reward))} [${signed(d.lo)}, ${signed(d.hi)}] ${r.reward.filter((x, i) => x > ref.reward[i]!).length}/${r.reward.length}`} |`);
      }
    }
    lines.push('');
  }
  lines.splice(8, 0, '## Summary', '', ...summary, '', `Per-decision planners: ${PER_DECISION.join(', ')}.`, '');
  // the picture: mean latency and mean reward per block, for the planners a reader compares
  const shown = ['API cloud-only', 'edge-only', 'DPP layer', 'DPP exact', 'DPP exact+switch', SUBJECT];
  const series = (f: (r: Row) => number) => shown.map((name) => ({ name, values: blocks.map((b) => { const r = b.rows.find((x) => x.planner === name); return r ? f(r) : NaN; }) }));
  const cats = blocks.map((b) => `${b.regime.kind} ${b.regime.rho === 0.9 ? 'heavy' : 'light'} β${b.regime.beta}`);
  writeFileSync(`${args.out}/${args.name}-latency.svg`, barChart({ title: 'mean end-to-end latency (s), 8 edges sharing one cloud', yLabel: 'mean latency (s)', categories: cats, series: series((r) => mean(r.latency)), width: 1150 }));
  writeFileSync(`${args.out}/${args.name}-cost.svg`, barChart({ title: 'mean episode cost per request (−reward), 8 edges sharing one cloud', yLabel: '−reward per request', categories: cats, series: series((r) => -mean(r.reward)), width: 1150 }));
  lines.push(`Plots: \`${args.name}-latency.svg\`, \`${args.name}-cost.svg\`.`, '');
  writeFileSync(`${args.out}/${args.name}.md`, lines.join('\n'));
  writeFileSync(`${args.out}/${args.name}.json`, JSON.stringify({ meta: { ...meta, seconds }, blocks, exogenous: exo }, null, 1) + '\n');
  console.log(summary.join('\n'));
}

const PER_DECISION = ['DPP layer', 'DPP exact', 'DPP+switch H=1', 'DPP layer+switch', 'DPP exact+switch'];

if (args.render) {
  const parts = args.render.split(',').map((p) => JSON.parse(readFileSync(p, 'utf8')) as { meta: Record<string, unknown>; blocks: Block[]; exogenous?: ExoBlock[] });
  // parts may split the blocks, the planners or both: merge rows by block, in the planners' order
  const byLabel = new Map<string, Block>();
  // a planner in a later part replaces the same planner in an earlier one (a rerun with a new rule)
  const mergeRows = <R extends { planner: string }>(into: R[], rows: R[]): void => {
    for (const r of rows) {
      const i = into.findIndex((x) => x.planner === r.planner);
      if (i >= 0) into[i] = r;
      else into.push(r);
    }
  };
  for (const b of parts.flatMap((p) => p.blocks)) {
    const have = byLabel.get(b.label);
    if (have) { mergeRows(have.rows, b.rows); have.seconds += b.seconds; } else byLabel.set(b.label, { ...b, rows: [...b.rows] });
  }
  const exoByLabel = new Map<string, ExoBlock>();
  for (const b of parts.flatMap((p) => p.exogenous ?? [])) {
    const have = exoByLabel.get(b.label);
    if (have) mergeRows(have.rows, b.rows);
    else exoByLabel.set(b.label, { ...b, rows: [...b.rows] });
  }
  const order = ['API cloud-only', 'checkpointed cloud-only', 'edge-only', ...PER_DECISION, 'textbook toll (tau = 1)', SUBJECT, PAGE, PAGE_UNREPORTED];
  const blocks = [...byLabel.values()].map((b) => ({ ...b, rows: order.map((n) => b.rows.find((r) => r.planner === n)).filter((r): r is Row => r !== undefined) }));
  render(blocks, [...exoByLabel.values()], parts.reduce((a, p) => a + (p.meta.seconds as number), 0), ([...parts].reverse().find((p) => p.meta.rule) ?? parts[0]!).meta); // the subject's rule: the last part that ran it
} else {
  const t0 = performance.now();
  const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
  const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS['gpt2-xl'] });
  const only = args.planners?.split(';');
  // the subject's rule is read only when the subject is run (other planners may run in a part of their own)
  const rule = !only || only.includes(SUBJECT) || only.includes(PAGE) || only.includes(PAGE_UNREPORTED) ? (JSON.parse(readFileSync(args.rule, 'utf8')) as TollRule) : undefined;
  const toll = rule ? tollOf(rule) : () => 0;
  const solver = (exact: boolean) => new FixedPricePlanner(1, DEFAULT_SWITCHING, exact);
  const planners = (regime: SharedRegime): Array<[string, () => Planner]> => [
    ['API cloud-only', () => new ApiCloudOnlyPlanner()],
    ['checkpointed cloud-only', () => new CloudOnlyPlanner()],
    ['edge-only', () => new EdgeOnlyPlanner()],
    ['DPP layer', () => new AdaptiveLayerSplitPlanner()],
    ['DPP exact', () => new OptimumPlanner()],
    ['DPP+switch H=1', () => new SwitchAwarePlanner(DEFAULT_SWITCHING, 1)],
    ['DPP layer+switch', () => solver(false)],
    ['DPP exact+switch', () => solver(true)],
    ['textbook toll (tau = 1)', () => new CongestionPricePlanner(solver(false), () => 1, 'toll 1')],
    [SUBJECT, () => new CongestionPricePlanner(solver(false), toll, 'fitted toll')],
    [PAGE, () => new CongestionPricePlanner(solver(true), regime.beta === 1 ? reciprocalToll(toll) : () => 0, regime.beta === 1 ? 'fitted toll (serial server)' : 'no toll (batching server)')],
    [PAGE_UNREPORTED, () => new CongestionPricePlanner(solver(true), regime.beta === 1 ? toll : () => 1 / regime.beta - 1, regime.beta === 1 ? 'fitted toll (serial server)' : `priced 1 + L (toll ${(1 / regime.beta - 1).toFixed(2)})`)],
  ];
  const seeds = Array.from({ length: Number(args.episodes) }, (_, i) => EVAL_SEED_BASE + 40_000 + i);
  const blocks: Block[] = [];
  for (const kind of args.kinds.split(',') as Array<'wifi' | 'lte'>) {
    for (const [load, rho] of [['light', 0.5], ['heavy', 0.9]] as const) {
      for (const beta of args.betas.split(',').map(Number)) {
        const tb = performance.now(), regime: SharedRegime = { kind, rho, beta };
        const cfg = sharedCloudConfig(model, edge, regime);
        const rows: Row[] = [];
        for (const [name, make] of planners(regime)) {
          if (only && !only.includes(name)) continue;
          const r: Row = { planner: name, latency: [], reward: [], energyPerToken: [], cloudFraction: [], meanLoad: [], switches: [] };
          for (const seed of seeds) {
            // every edge of the page's row says it prices congestion (the reciprocal toll reads the share)
            const s = summarizeShared(await runSharedCloudEpisode(name === PAGE ? { ...cfg, pricing: () => true } : cfg, make, seed));
            r.latency.push(s.latencyS); r.reward.push(s.reward); r.energyPerToken.push(s.energyPerToken); r.cloudFraction.push(s.cloudFraction); r.meanLoad.push(s.meanLoad); r.switches.push(s.switches);
          }
          rows.push(r);
          console.log(`${kind} ${load} beta ${beta}: ${name.padEnd(24)} latency ${f1(mean(r.latency))} s, reward ${f2(mean(r.reward))} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
        }
        blocks.push({ regime, label: `${kind}, ${load} load (rho ${rho}), beta ${beta}`, rows, seconds: (performance.now() - tb) / 1000 });
      }
    }
  }
  const exo: ExoBlock[] = [];
  if (args.exogenous === 'yes' && rule) {
    const memory = memoryRange(model, edge, modelFootprint(model.graph));
    const testSeeds = Array.from({ length: Number(args.episodes) }, (_, i) => EVAL_SEED_BASE + i);
    const dynamics = { switching: DEFAULT_SWITCHING, contention: DEFAULT_CONTENTION };
    let salt = 0;
    for (const kind of args.kinds.split(',') as Array<'wifi' | 'lte'>) {
      // as scripts/policy-contention.ts: S_ref from the DPP layer rule at a trickle of load on training seeds
      const base = envConfig(model, edge, (r) => new MarkovChannel(CHANNEL_SPECS[kind], r), 48, memory);
      const calSeeds = Array.from({ length: 12 }, (_, i) => TRAIN_SEED_BASE + 300_000 + salt * 1000 + i + 50_000);
      salt += 3;
      const refS = summarize(await runEpisodes({ ...base, workload: { ...DEFAULT_WORKLOAD, loadMin: 0.02, loadMax: 0.02 }, episodeLength: 24, dynamics }, new AdaptiveLayerSplitPlanner(), calSeeds)).meanServiceS;
      for (const [load, range] of [['light', [0.1, 0.3]], ['heavy', [0.45, 0.65]]] as const) {
        const cfg: EnvConfig = { ...base, objective: OBJECTIVE, nominalServiceS: refS, workload: { ...DEFAULT_WORKLOAD, loadMin: range[0], loadMax: range[1] }, dynamics };
        const rows: ExoBlock['rows'] = [];
        for (const [name, p] of [['DPP layer+switch', solver(false)], ['textbook toll (tau = 1)', new CongestionPricePlanner(solver(false), () => 1, 'toll 1')], [SUBJECT, new CongestionPricePlanner(solver(false), toll, 'fitted toll')]] as const) {
          if (only && !only.includes(name)) continue;
          const logs = await runEpisodes(cfg, p, testSeeds);
          rows.push({ planner: name, latency: logs.map((l) => mean(l.infos.map((i) => i.latencyS))), reward: logs.map((l) => mean(l.rewards)) });
          console.log(`${kind}+contention ${load}: ${name.padEnd(24)} latency ${f1(mean(rows.at(-1)!.latency))} s, reward ${f2(mean(rows.at(-1)!.reward))} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
        }
        exo.push({ label: `${kind}+contention, ${load}`, rows });
      }
    }
  }
  const meta = { episodes: seeds.length, apiServiceS: apiServiceS(model), ...(rule ? { rule: `a = ${rule.a}, b = ${rule.b} (${args.rule})` } : {}), seconds: (performance.now() - t0) / 1000 };
  if (args.part) writeFileSync(args.part, JSON.stringify({ meta, blocks, exogenous: exo }) + '\n');
  else render(blocks, exo, meta.seconds, meta);
}
