// @splitwise/policy/node: Node-only helpers (onnxruntime-node engine rigs, committed profiles).
export * from '../index.ts';
export { createEngineRig, type EngineRig } from './engine.ts';
export { loadAccuracy, loadLinkCost, loadLinkOverheadProfile, loadProfile } from './files.ts';
