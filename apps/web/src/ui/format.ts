// Numbers as people read them.

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return n < 10 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

export function bitrate(bps: number): string {
  if (!Number.isFinite(bps)) return '–';
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  return `${(bps / 1e3).toFixed(0)} kbit/s`;
}

export function flops(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GFLOP`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MFLOP`;
  return `${(n / 1e3).toFixed(0)} kFLOP`;
}

export function params(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(1)} M`;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
