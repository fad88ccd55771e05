// A congestion price for a shared cloud (issue 10: the version-4 policy is this toll over the DPP solver, its rule fitted).
//
// Every per-decision planner prices the cloud at the slowdown the server reports, f = 1 + beta L:
// what its own request will meet. It does not price what its request does to the others': while it
// holds the cloud, each of the L other requests there runs slower too. When every edge decides that
// way the cloud is used past the point that is best for the edges together (a congestion game; the
// classic remedy is a Pigouvian toll, the marginal cost a user imposes on the others). A toll tau
// makes a planner decide as if the cloud were slowed 1 + (1 + tau)(f - 1): tau = 0 is the planner
// itself, tau = 1 the marginal cost for a slowdown linear in the load held now, and under queueing
// (M/M/1 processor sharing) the marginal cost grows with the load, tau = f. Which tau is right
// depends on how loaded the cloud is and how long it stays so; the fitted policy (`tollOf`)
// sets it from the load the edge sees, with the two numbers of its rule fitted on the shared-cloud
// simulator's training episodes (scripts/train-toll-policy.ts).
//
// Without a load report (no contention, or a server that does not send one) every toll leaves the
// decision exactly as the inner planner's.
import type { DecisionState } from './features.ts';
import type { Decision, PlanContext, Planner } from './planners.ts';

/** The decision state with the reported slowdown raised by the toll: 1 + (1 + tau)(f - 1). */
export function withCongestionPrice(s: DecisionState, tau: number): DecisionState {
  if (!s.cloud || tau === 0) return s;
  const slowdown = 1 + (1 + tau) * (s.cloud.slowdown - 1);
  return { ...s, cloud: { ...s.cloud, slowdown, load: 1 - 1 / slowdown } };
}

/** Any planner, deciding with the cloud at its congestion price; `toll` may depend on the state. */
export class CongestionPricePlanner implements Planner {
  readonly name: string;
  constructor(
    readonly inner: Planner,
    readonly toll: (s: DecisionState) => number,
    label: string,
  ) {
    this.name = `${inner.name}, ${label}`;
  }
  decide(s: DecisionState, ctx: PlanContext): Decision | Promise<Decision> {
    return this.inner.decide(withCongestionPrice(s, this.toll(s)), ctx);
  }
}

/** The largest toll the fitted rule can set. */
export const TOLL_MAX = 16;

/**
 * The cloud's smoothed slowdown as the edge sees it: the mean of the slowdowns the server reported
 * over the last HISTORY seconds and now (the load a request that starts now will mostly meet).
 */
export function smoothedSlowdown(s: DecisionState): number {
  if (!s.cloud) return 1;
  const past = s.cloud.history.map((load) => 1 / (1 - Math.min(0.999, Math.max(0, load))));
  return (past.reduce((a, v) => a + v, 0) + s.cloud.slowdown) / (past.length + 1);
}

/**
 * The version-4 rule: tau = a + b (f_bar - 1), clamped to [0, TOLL_MAX], with f_bar the smoothed
 * slowdown. a = 1, b = 0 is the textbook toll; b > 0 makes the toll grow with the load, as the
 * marginal cost does under queueing (M/M/1 processor sharing: tau = f). a and b are fitted on
 * training episodes of the shared-cloud simulator (scripts/train-toll-policy.ts).
 */
export interface TollRule {
  version: 4;
  a: number;
  b: number;
}

export function tollOf(rule: TollRule): (s: DecisionState) => number {
  if (rule.version !== 4 || !Number.isFinite(rule.a) || !Number.isFinite(rule.b)) throw new Error('toll rule: expected version 4 with finite a and b');
  return (s) => (s.cloud ? Math.min(TOLL_MAX, Math.max(0, rule.a + rule.b * (smoothedSlowdown(s) - 1))) : 0);
}

/**
 * The toll in proportion to how much of the others' load is held by sessions that price congestion
 * too (the server reports that share; DecisionState.cloud.pricingShare): `toll(s) * share`, and no
 * toll when no share is known. Why: the toll is a restraint that pays its payer back only through
 * the others' restraint. With every edge paying, the fleet's edges each gained under heavy load;
 * a lone payer, or one edge facing load from outside (other users, the CLI, fixed plans), gives up
 * its own reward for others and gains nothing back (docs/POLICY.md section 12). Scaling by the
 * share keeps the first and drops the second. No number here is fitted.
 */
export function reciprocalToll(toll: (s: DecisionState) => number): (s: DecisionState) => number {
  return (s) => (s.cloud?.pricingShare ? toll(s) * Math.min(1, Math.max(0, s.cloud.pricingShare)) : 0);
}
