// A small seeded generator (mulberry32 over a splitmix-scrambled seed): every draw of the
// environment and of the trainer comes from one of these, so runs are reproducible bit for bit.
export class Rng {
  private s: number;
  constructor(seed: number) {
    let z = (seed >>> 0) ^ 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.s = (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  exponential(rate: number): number {
    return -Math.log(Math.max(1 - this.next(), 1e-12)) / rate;
  }

  /** Poisson count with mean m (inversion; fine for the small means used here). */
  poisson(m: number): number {
    if (m > 50) return Math.max(0, Math.round(m + Math.sqrt(m) * this.normal()));
    const l = Math.exp(-m);
    let k = 0, p = this.next();
    while (p > l) {
      k++;
      p *= this.next();
    }
    return k;
  }

  logUniform(lo: number, hi: number): number {
    return Math.exp(this.uniform(Math.log(lo), Math.log(hi)));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  /** A child generator, independent of later draws of this one. */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 2 ** 32));
  }
}
