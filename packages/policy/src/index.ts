// @splitwise/policy, platform-neutral part (browser and Node): device profiles, the cost model,
// the drift-plus-penalty objective and its exact optimum, the simulator, the hierarchical action,
// the exported policy (ONNX) and the PolicyRunner that evaluates it on any core RuntimeAdapter.
// Node-only: ./node (engine rigs for profiling and validation), ./train (PPO on TensorFlow.js).
export * from './profile.ts';
export * from './profiler.ts';
export * from './devices.ts';
export * from './cost-model.ts';
export * from './objective.ts';
export * from './optimum.ts';
export * from './features.ts';
export * from './action.ts';
export * from './network.ts';
export * from './export-onnx.ts';
export * from './policy-runner.ts';
export * from './planners.ts';
export * from './emulated-link.ts';
export * from './env/channel.ts';
export * from './env/simulator.ts';
export * from './evaluate.ts';
export * from './scenario.ts';
export * from './dynamics.ts';
export * from './cut-policy.ts';
export * from './svg-plot.ts';
export { Rng } from './rng.ts';
export * from './price-policy.ts';
export * from './congestion-price.ts';
export * from './weights.ts';
