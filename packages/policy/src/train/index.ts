// @splitwise/policy/train: PPO on TensorFlow.js (pure-JS CPU backend).
export { DEFAULT_PPO, PpoTrainer, type PpoConfig, type UpdateLog } from './ppo.ts';
export { TfPolicy, initTf, type TfPolicyOptions } from './tf-policy.ts';
