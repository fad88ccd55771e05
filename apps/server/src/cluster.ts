// More than one cloud worker on one host: Node's cluster. The primary holds the listening socket
// and hands each accepted TCP connection to a worker (round-robin, cluster.SCHED_RR, the default
// on Linux); each worker is a whole cloud server (createCloudServer) that loads the model itself
// and owns the sessions of the connections it was handed. The primary restarts a worker that dies.
//
// Why no sticky sessions: the edge's SocketLink speaks the WebSocket transport only
// (transports: ['websocket']), so one socket.io connection is one TCP connection, which stays with
// the worker that accepted it for its whole life. With HTTP long-polling enabled, each poll is a
// new HTTP request that round-robin could hand to another worker, which does not know the
// engine.io session id ("Session ID unknown"). Polling would then need the primary to route by
// connection instead of round-robin, and the workers to share broadcasts. socket.io's packages do
// both, roughly:
//
//   // primary
//   import { setupMaster } from '@socket.io/sticky';
//   import { setupPrimary } from '@socket.io/cluster-adapter';
//   const http = createServer();
//   setupMaster(http, { loadBalancingMethod: 'least-connection' }); // routes each request by its sid
//   setupPrimary();                                              // relays adapter packets between workers
//   cluster.setupPrimary({ serialization: 'advanced' });         // packets with binary over IPC
//   http.listen(8080);
//   for (let i = 0; i < n; i++) cluster.fork();
//   // worker
//   import { setupWorker } from '@socket.io/sticky';
//   import { createAdapter } from '@socket.io/cluster-adapter';
//   const io = new Server(createServer(app));  // this http server does not listen()
//   io.adapter(createAdapter());
//   setupWorker(io);                           // takes connections from the primary
//
// Our protocol never broadcasts (every message is a request and its ack on one socket) and a
// session's state is only ever needed by its own connection, so we need neither. The other
// deployment is separate hosts (or containers), each running `main.ts` without --workers, behind
// a load balancer with sticky sessions (nginx `ip_hash` or `hash $remote_addr consistent`,
// HAProxy `balance source` or a cookie, a cloud LB's session affinity), with WebSocket upgrades
// passed through (`proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade;
// proxy_set_header Connection "upgrade"`). Stickiness there matters only for polling, as here.
// Either way a client whose worker dies reconnects (SocketLink.reconnect) to the same address or
// the next of its list, gets a fresh worker, and rebuilds the session from its checkpoint.
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import type { Logger } from 'pino';

/** Messages a worker sends its primary. */
export type WorkerMessage = { type: 'splitwise:listening'; url: string; worker: string };

export interface ClusterOptions {
  workers: number;
  /** 0 = a free port, chosen once by the primary so every worker (and every restart) shares it. */
  port: number;
  host: string;
  log: Logger;
  /** Environment variable through which workers learn the port. */
  portEnv?: string;
}

export interface ClusterPrimary {
  url: string;
  port: number;
  /** Live workers' process ids. */
  pids(): number[];
  restarts(): number;
  close(): Promise<void>;
}

export const CLUSTER_PORT_ENV = 'SPLITWISE_CLUSTER_PORT';

/** A free port on `host`: the primary fixes one, so a worker restarted later listens on the same. */
async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, host, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * Run in the primary: fork `workers` copies of this process's entry script (each calls
 * createCloudServer and then reportListening), restart any that dies, and resolve once the first
 * one listens. A worker that dies before it ever listened (a bad model folder, a port in use) is
 * restarted with a growing delay (1 s doubling to 30 s), so a broken configuration does not spin.
 */
export async function startPrimary(o: ClusterOptions): Promise<ClusterPrimary> {
  if (!cluster.isPrimary) throw new Error('startPrimary runs in the cluster primary only');
  const port = o.port === 0 ? await freePort(o.host) : o.port;
  const env = { [o.portEnv ?? CLUSTER_PORT_ENV]: String(port) };
  let closing = false, restarts = 0, startupFailures = 0;
  const listening = new Set<Worker>();
  let firstUrl: ((url: string) => void) | undefined;
  const ready = new Promise<string>((resolve) => (firstUrl = resolve));

  const fork = (): void => {
    const w = cluster.fork(env);
    w.on('message', (m: WorkerMessage) => {
      if (m?.type !== 'splitwise:listening') return;
      listening.add(w);
      startupFailures = 0;
      o.log.info({ event: 'worker_listening', pid: w.process.pid, worker: m.worker, url: m.url });
      firstUrl?.(m.url);
    });
  };

  cluster.on('exit', (w, code, signal) => {
    const wasListening = listening.delete(w);
    if (closing) return;
    restarts++;
    const delay = wasListening ? 0 : Math.min(30_000, 1000 * 2 ** Math.min(startupFailures++, 5));
    o.log.warn({ event: 'worker_exit', pid: w.process.pid, code, signal, restartInMs: delay });
    setTimeout(() => {
      if (!closing) fork();
    }, delay).unref();
  });

  for (let i = 0; i < o.workers; i++) fork();
  const url = await ready;
  return {
    url,
    port,
    pids: () => Object.values(cluster.workers ?? {}).flatMap((w) => (w?.process.pid && !w.isDead() ? [w.process.pid] : [])),
    restarts: () => restarts,
    close: async () => {
      closing = true;
      const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
      await Promise.all(
        all.map(
          (w) =>
            new Promise<void>((resolve) => {
              const t = setTimeout(() => w.process.kill('SIGKILL'), 5000);
              w.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** In a worker: the port the primary fixed. */
export function workerPort(env: NodeJS.ProcessEnv = process.env, name = CLUSTER_PORT_ENV): number | undefined {
  const v = env[name];
  return cluster.isWorker && v !== undefined ? Number(v) : undefined;
}

/** In a worker: tell the primary this worker serves. */
export function reportListening(url: string, worker: string): void {
  if (cluster.isWorker && process.send) process.send({ type: 'splitwise:listening', url, worker } satisfies WorkerMessage);
}
