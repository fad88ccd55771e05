// @splitwise/server: the cloud half of the split engine as an HTTP + socket.io server.
export { createCloudServer, type CloudServer } from './server.ts';
export { DEFAULT_MAX_MESSAGE_BYTES, type CloudServerOptions } from './options.ts';
export type { ServerStats, SessionStats, ServerTotals } from './stats.ts';
export type { PlanSummary } from './connection.ts';
export { MAX_REFERENCE_TOKENS } from './http/api.ts';
export type { BatcherStats } from './batcher.ts';
