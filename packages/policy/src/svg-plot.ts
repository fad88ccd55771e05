// A small SVG line and bar chart writer (no dependencies): training curves and evaluation plots.

export interface Series {
  name: string;
  points: Array<[number, number]>;
  color?: string;
  dashed?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number): string => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4))));

export function lineChart(o: { title: string; xLabel: string; yLabel: string; series: Series[]; width?: number; height?: number; yLog?: boolean }): string {
  const W = o.width ?? 760, H = o.height ?? 420, m = { l: 70, r: 200, t: 40, b: 50 };
  const pts = o.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!o.yLog || y > 0));
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => (o.yLog ? Math.log10(p[1]) : p[1]));
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const X = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (y: number): number => H - m.b - (((o.yLog ? Math.log10(y) : y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1)) parts.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/><text x="${X(t)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(t)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    const v = o.yLog ? 10 ** t : t, y = o.yLog ? Y(v) : Y(t);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="16" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const c = s.color ?? PALETTE[i % PALETTE.length]!;
    const d = s.points
      .filter(([, y]) => Number.isFinite(y) && (!o.yLog || y > 0))
      .map(([x, y], j) => `${j ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    const ly = m.t + 14 + i * 18;
    parts.push(`<line x1="${W - m.r + 12}" x2="${W - m.r + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${W - m.r + 42}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Grouped bars: one group per category, one bar per series. */
export function barChart(o: { title: string; yLabel: string; categories: string[]; series: Array<{ name: string; values: number[] }>; width?: number; height?: number }): string {
  const W = o.width ?? 900, H = o.height ?? 420, m = { l: 70, r: 210, t: 40, b: 60 };
  const all = o.series.flatMap((s) => s.values).filter(Number.isFinite);
  const y1 = Math.max(...all, 0) * 1.08 || 1;
  const Y = (v: number): number => H - m.b - (v / y1) * (H - m.t - m.b);
  const gw = (W - m.l - m.r) / o.categories.length, bw = (gw * 0.8) / o.series.length;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(W - m.r) / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
  ];
  for (const t of niceTicks(0, y1)) parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(t)}" y2="${Y(t)}" stroke="#eee"/><text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  o.categories.forEach((c, i) => parts.push(`<text x="${m.l + gw * (i + 0.5)}" y="${H - m.b + 18}" text-anchor="middle">${esc(c)}</text>`));
  o.series.forEach((s, j) => {
    const col = PALETTE[j % PALETTE.length]!;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = m.l + gw * i + gw * 0.1 + j * bw;
      parts.push(`<rect x="${x.toFixed(1)}" y="${Y(v).toFixed(1)}" width="${(bw * 0.92).toFixed(1)}" height="${(H - m.b - Y(v)).toFixed(1)}" fill="${col}"/>`);
    });
    const ly = m.t + 14 + j * 18;
    parts.push(`<rect x="${W - m.r + 12}" y="${ly - 10}" width="14" height="10" fill="${col}"/><text x="${W - m.r + 32}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<text x="16" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})">${esc(o.yLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
