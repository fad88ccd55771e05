// The emulator: a TCP proxy between the edge and the cloud. Each direction is a queue of chunks
// released in order when (a) their delay has passed and (b) the bandwidth budget allows, so
// socket.io (or anything over TCP) sees real latency, throughput limits, stalls and cuts.
// The kernel here has no netem qdisc, which is why this lives in userspace.
import net from 'node:net';
import { conditionsAt, type Conditions, type Schedule } from './conditions.ts';

export interface NetemOptions {
  /** Where the cloud listens. */
  target: { host: string; port: number };
  /** Port to listen on (0 = any free port). */
  port?: number;
  host?: string;
  schedule?: Schedule;
  /** Seed-free jitter uses Math.random; pass a generator for repeatable runs. */
  random?: () => number;
}

export interface NetemStats {
  connections: number;
  open: number;
  bytesUp: number;
  bytesDown: number;
  cuts: number;
}

interface Pending {
  due: number;
  data: Buffer;
}

/** One direction of one connection. */
class Pipe {
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private lastDue = 0;
  /** When the link is free again (bandwidth serialisation), ms since epoch. */
  private linkFreeAt = 0;

  constructor(
    private readonly to: net.Socket,
    private readonly now: () => number,
    private readonly conditions: () => Conditions,
    private readonly random: () => number,
    private readonly count: (n: number) => void,
  ) {}

  push(data: Buffer): void {
    const c = this.conditions();
    // order is kept: a chunk is never due before the one ahead of it
    const due = Math.max(this.now() + c.delayMs + this.random() * c.jitterMs, this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, data });
    this.pump();
  }

  pump(): void {
    if (this.timer) return;
    const t = this.now(), c = this.conditions();
    if (c.stall) return this.wait(20);
    const head = this.queue[0];
    if (!head) return;
    if (head.due > t) return this.wait(head.due - t);
    if (Number.isFinite(c.bandwidthBps)) {
      if (c.bandwidthBps <= 0) return this.wait(20);
      if (this.linkFreeAt > t) return this.wait(this.linkFreeAt - t);
      // send at most ~5 ms worth of bytes at a time so rate changes take effect quickly
      const budget = Math.max(1, Math.floor((c.bandwidthBps / 8) * 0.005));
      const piece = head.data.subarray(0, budget);
      head.data = head.data.subarray(piece.length);
      if (head.data.length === 0) this.queue.shift();
      this.linkFreeAt = Math.max(this.linkFreeAt, t) + (piece.length * 8 * 1000) / c.bandwidthBps;
      this.write(piece);
    } else {
      this.queue.shift();
      this.write(head.data);
    }
    this.pump();
  }

  private write(b: Buffer): void {
    if (this.to.destroyed) return;
    this.count(b.length);
    this.to.write(b);
  }

  private wait(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
  }

  drained(): boolean {
    return this.queue.length === 0;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.queue = [];
  }
}

export class NetemProxy {
  readonly stats: NetemStats = { connections: 0, open: 0, bytesUp: 0, bytesDown: 0, cuts: 0 };
  private server: net.Server;
  private start = Date.now();
  private sockets = new Set<net.Socket>();
  private schedule: Schedule;
  private cutTimer?: NodeJS.Timeout;
  port = 0;

  private constructor(private readonly o: NetemOptions) {
    this.schedule = o.schedule ?? { phases: [] };
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
  }

  static async listen(o: NetemOptions): Promise<NetemProxy> {
    const p = new NetemProxy(o);
    await new Promise<void>((resolve) => p.server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
    p.port = (p.server.address() as net.AddressInfo).port;
    // cuts are enforced on a timer too, so open connections drop when a cut window begins
    p.cutTimer = setInterval(() => {
      if (p.conditions().cut && p.sockets.size > 0) p.cutAll();
    }, 10);
    return p;
  }

  get url(): string {
    return `http://${this.o.host ?? '127.0.0.1'}:${this.port}`;
  }

  conditions(): Conditions {
    return conditionsAt(this.schedule, Date.now() - this.start);
  }

  /** Replace the schedule; its clock restarts now. */
  setSchedule(s: Schedule): void {
    this.start = Date.now();
    this.schedule = s;
  }

  /** Drop every open connection now (a cut of zero length). */
  cutAll(): void {
    this.stats.cuts++;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private accept(client: net.Socket): void {
    if (this.conditions().cut) {
      client.destroy();
      return;
    }
    this.stats.connections++;
    const upstream = net.connect({ ...this.o.target, allowHalfOpen: true, noDelay: true });
    // no Nagle on either leg: the proxy releases chunks when the schedule says, and Nagle holding
    // a small write until the previous one is acknowledged (40 ms delayed ACK on Linux) would add
    // delay that no schedule asked for (a socket.io message with attachments is several writes)
    client.setNoDelay(true);
    this.sockets.add(client).add(upstream);
    this.stats.open = this.sockets.size / 2;
    const now = (): number => Date.now();
    const cond = (): Conditions => this.conditions();
    const rnd = this.o.random ?? Math.random;
    const up = new Pipe(upstream, now, cond, rnd, (n) => (this.stats.bytesUp += n));
    const down = new Pipe(client, now, cond, rnd, (n) => (this.stats.bytesDown += n));
    client.on('data', (d) => up.push(d));
    upstream.on('data', (d) => down.push(d));
    const close = (): void => {
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      this.stats.open = this.sockets.size / 2;
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  }

  async close(): Promise<void> {
    if (this.cutTimer) clearInterval(this.cutTimer);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
