export { NetemProxy, type NetemOptions, type NetemStats } from './proxy.ts';
export { conditionsAt, scheduleFromTrace, UNLIMITED, type Conditions, type Phase, type Schedule } from './conditions.ts';
