// Who a client is, for the limits kept per client address: the TCP peer, or, when the peer is a
// proxy we were told to trust (--trust-proxy: HAProxy, nginx), the address it puts in
// X-Forwarded-For. Plus the two per-address books: open connections or sessions by address, and
// failed access-token attempts by address (the brute-force guard).
import { isIP } from 'node:net';

/** '::ffff:127.0.0.1' → '127.0.0.1'; undefined (a socket already gone) → 'unknown'. */
export function normalizeAddress(a: string | undefined): string {
  if (!a) return 'unknown';
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

export type AddressResolver = (peer: string | undefined, forwardedFor: string | string[] | undefined) => string;

/**
 * The client's address. X-Forwarded-For is believed only from a trusted peer, and read from the
 * right: each trusted proxy appends the address it saw, so the nearest untrusted hop is the
 * client (anything to its left was written by the client and proves nothing). A malformed hop
 * stops the walk at the last address we can vouch for.
 */
export function addressResolver(trustProxy: readonly string[] = []): AddressResolver {
  const trusted = new Set(trustProxy.map(normalizeAddress));
  return (peer, forwardedFor) => {
    let addr = normalizeAddress(peer);
    if (!trusted.has(addr) || forwardedFor === undefined) return addr;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    for (let i = hops.length - 1; i >= 0 && i >= hops.length - 16; i--) {
      const hop = normalizeAddress(hops[i]);
      if (isIP(hop) === 0) return addr;
      addr = hop;
      if (!trusted.has(hop)) return hop;
    }
    return addr;
  };
}

/** How many of something (TCP connections, socket.io connections) each address holds now. */
export class AddressCounts {
  private readonly n = new Map<string, number>();
  get(addr: string): number {
    return this.n.get(addr) ?? 0;
  }
  add(addr: string): void {
    this.n.set(addr, this.get(addr) + 1);
  }
  remove(addr: string): void {
    const v = this.get(addr) - 1;
    if (v > 0) this.n.set(addr, v);
    else this.n.delete(addr);
  }
  get addresses(): number {
    return this.n.size;
  }
}

/**
 * Failed access-token attempts per address in a sliding window. An address with `max` failures in
 * the last `windowMs` is refused (even with the right token: otherwise the refusal itself would
 * tell the attacker which guess was right) until its oldest failure leaves the window. Memory is
 * bounded: at most `max` timestamps per address and `maxAddresses` addresses (the oldest entry is
 * dropped first).
 */
export class AuthFailures {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly maxAddresses = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  private recent(addr: string): number[] {
    const t = this.now(), list = this.failures.get(addr);
    if (!list) return [];
    while (list.length > 0 && list[0]! <= t - this.windowMs) list.shift();
    if (list.length === 0) this.failures.delete(addr);
    return list;
  }

  /** Milliseconds until `addr` may try again; 0 = it may now. */
  blockedForMs(addr: string): number {
    const list = this.recent(addr);
    return list.length >= this.max ? list[0]! + this.windowMs - this.now() : 0;
  }

  fail(addr: string): void {
    const list = this.recent(addr);
    if (!this.failures.has(addr)) {
      if (this.failures.size >= this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
      this.failures.set(addr, list);
    }
    list.push(this.now());
    if (list.length > this.max) list.shift();
  }

  get addresses(): number {
    return this.failures.size;
  }
}
