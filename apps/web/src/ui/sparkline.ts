// A small SVG line chart of recent values (token latency, RTT, bandwidth). The viewBox stretches
// to the card's width; strokes keep their width (vector-effect) so it stays crisp at any size.
import { svg } from './dom.ts';

const W = 100, H = 32, PAD = 2;

export class Sparkline {
  readonly el: SVGSVGElement;
  private readonly area: SVGPathElement;
  private readonly line: SVGPolylineElement;
  private readonly median: SVGLineElement;

  constructor(label: string, readonly tone: 'edge' | 'cloud' | 'neutral' = 'neutral') {
    this.el = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: `spark spark-${tone}`, role: 'img', 'aria-label': label });
    this.area = svg('path', { class: 'spark-area' });
    this.median = svg('line', { class: 'spark-median', x1: 0, x2: W, 'vector-effect': 'non-scaling-stroke' });
    this.line = svg('polyline', { class: 'spark-line', 'vector-effect': 'non-scaling-stroke' });
    this.el.append(this.area, this.median, this.line);
  }

  /** Draw `values` (oldest first), scaled from 0 to their max; `mid` draws a reference line. */
  update(values: readonly number[], mid?: number): void {
    const vs = values.filter(Number.isFinite);
    if (vs.length === 0) {
      this.line.setAttribute('points', '');
      this.area.setAttribute('d', '');
      this.median.setAttribute('visibility', 'hidden');
      return;
    }
    const max = Math.max(...vs) * 1.1 || 1;
    const x = (i: number): number => (vs.length === 1 ? W / 2 : (i / (vs.length - 1)) * W);
    const y = (v: number): number => H - PAD - (v / max) * (H - 2 * PAD);
    const pts = vs.map((v, i) => `${x(i).toFixed(2)},${y(v).toFixed(2)}`);
    this.line.setAttribute('points', pts.join(' '));
    this.area.setAttribute('d', `M${x(0).toFixed(2)},${H} L${pts.join(' L')} L${x(vs.length - 1).toFixed(2)},${H} Z`);
    if (mid !== undefined && Number.isFinite(mid)) {
      const my = y(mid).toFixed(2);
      this.median.setAttribute('y1', my);
      this.median.setAttribute('y2', my);
      this.median.setAttribute('visibility', 'visible');
    } else {
      this.median.setAttribute('visibility', 'hidden');
    }
  }
}
