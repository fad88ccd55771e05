// The per-decision drift-plus-penalty objective (Neely, "Stochastic Network Optimization with
// Application to Communication and Queueing Systems", 2010), which both the environment's reward
// and the exact-optimum baseline use.
//
// Queues, sampled at each decision (one request served per decision):
//   Q    requests waiting, including the one about to be served;   Q' = max(1, Q - 1 + arrivals)
//   Z_e  energy virtual queue, in budgets:     Z_e' = max(0, Z_e + e / (Ebar g) - 1)
//   Z_a  accuracy virtual queue, in budgets:   Z_a' = max(0, Z_a + a / Abar - 1)
// where e is the request's edge energy (J), g its generated tokens, Ebar the energy budget per
// generated token, a the mean KL per token and Abar its budget: both constraints are time averages
// per token. Lyapunov function L(Θ) = ½(Q² + Z_e² + Z_a²); drift Δ = L(Θ') - L(Θ).
// Penalty (V times): p = L_s / g + w_e e / (Ebar g) + w_a a / Abar  (seconds per token, and budgets).
// Reward r = -(Δ + V p).
//
// The standard bound on E[Δ + V p | Θ] is, up to constants the plan does not change,
//   J(plan) = Q λ L + Z_e e / (Ebar g) + Z_a a / Abar + V (L / g + w_e e / (Ebar g) + w_a a / Abar)
// with λ the arrival rate (per second) and L the service time in seconds: λL is the expected number
// of arrivals while the request is served. The exact optimum minimises J over all plans.
import { expectedTailJ, requestCost, type CompiledPlan, type CostModel, type EnergyModel, type NetworkState, type RequestCost, type RequestShape } from './cost-model.ts';

export interface ObjectiveConfig {
  /** V: weight of the penalty against the drift. */
  V: number;
  /** Penalty weights of energy and accuracy, in seconds of latency per budget. */
  wEnergy: number;
  wAccuracy: number;
  /** Edge-energy budget per generated token at full battery, J; scaled by (0.5 + 0.5 battery). */
  energyBudgetJ: number;
  /** Accuracy budget: mean KL per generated token, nats. */
  accuracyBudget: number;
}

/** What a decision knows besides the request: queue, virtual queues, arrival rate, battery. */
export interface QueueState {
  Q: number;
  Ze: number;
  Za: number;
  lambdaPerS: number;
  battery: number;
}

export const energyBudget = (o: ObjectiveConfig, battery: number): number => o.energyBudgetJ * (0.5 + 0.5 * Math.max(0, Math.min(1, battery)));

/** Coefficients of J in latency (s), energy (J) and accuracy (KL) for a request of `gen` tokens. */
export function objectiveCoefficients(o: ObjectiveConfig, s: QueueState, gen: number): { cL: number; cE: number; cA: number } {
  const Eb = energyBudget(o, s.battery) * gen;
  return {
    cL: s.Q * s.lambdaPerS + o.V / gen,
    cE: (s.Ze + o.V * o.wEnergy) / Eb,
    cA: (s.Za + o.V * o.wAccuracy) / o.accuracyBudget,
  };
}

export interface Evaluated {
  cost: RequestCost;
  /** Edge energy including the expected LTE tail. */
  energyJ: number;
  J: number;
}

/** J of one compiled plan for a request at a (constant) measured network. */
export function evaluateObjective(
  model: CostModel,
  plan: CompiledPlan,
  req: RequestShape,
  net: NetworkState,
  energy: EnergyModel,
  o: ObjectiveConfig,
  s: QueueState,
): Evaluated {
  const cost = requestCost(model, plan, req, net, energy);
  const energyJ = cost.energyJ + (plan.usesCloud ? expectedTailJ(energy.radio, s.Q > 1, s.lambdaPerS) : 0);
  const { cL, cE, cA } = objectiveCoefficients(o, s, req.gen);
  return { cost, energyJ, J: cL * (cost.latencyMs / 1000) + cE * energyJ + cA * cost.accuracyLoss };
}
