// Which cloud worker this process is: reported in hello (the edge logs it, and tests see a
// failover change it) and in /api/health and /api/stats.
import os from 'node:os';

export const WORKER_ID = `${os.hostname()}:${process.pid}`;
