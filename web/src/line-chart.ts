// A small SVG line chart: fixed axes, a few series, redrawn in place. Hand-written so the page ships
// no charting library; the chart's accessible name is kept up to date with the latest values.

export interface Series {
  label: string;
  className: string;
  points: { x: number; y: number }[];
}

export interface ChartOptions {
  xMax: number;
  yMin: number;
  yMax: number;
  yTicks: number[];
  formatY: (y: number) => string;
  /** Accessible description of the current state. */
  describe: (series: readonly Series[]) => string;
}

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 320;
const HEIGHT = 170;
const PAD = { left: 40, right: 10, top: 8, bottom: 22 };

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export class LineChart {
  private readonly plot: SVGGElement;
  private readonly axes: SVGGElement;
  private readonly legend: HTMLElement;

  constructor(private readonly svg: SVGSVGElement, legend: HTMLElement, private options: ChartOptions, private series: Series[]) {
    svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    svg.setAttribute('role', 'img');
    this.axes = el('g', { class: 'axes' });
    this.plot = el('g', { class: 'plot' });
    svg.replaceChildren(this.axes, this.plot);
    this.legend = legend;
    this.render();
  }

  private x(v: number): number {
    return PAD.left + (v / Math.max(1, this.options.xMax)) * (WIDTH - PAD.left - PAD.right);
  }

  private y(v: number): number {
    const { yMin, yMax } = this.options;
    const t = (Math.min(yMax, Math.max(yMin, v)) - yMin) / (yMax - yMin);
    return HEIGHT - PAD.bottom - t * (HEIGHT - PAD.top - PAD.bottom);
  }

  reset(options: Partial<ChartOptions>, series: Series[]): void {
    this.options = { ...this.options, ...options };
    this.series = series;
    this.render();
  }

  /** Redraw the lines (cheap: one path per series). */
  update(): void {
    this.plot.replaceChildren(
      ...this.series.map((s) => {
        const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${this.x(p.x).toFixed(1)},${this.y(p.y).toFixed(1)}`).join('');
        return el('path', { d: d || 'M0,0', class: `line ${s.className}`, fill: 'none' });
      }),
    );
    this.svg.setAttribute('aria-label', this.options.describe(this.series));
  }

  private render(): void {
    const { xMax, yTicks, formatY } = this.options;
    const children: SVGElement[] = [];
    for (const t of yTicks) {
      children.push(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: this.y(t), y2: this.y(t), class: 'grid' }));
      children.push(el('text', { x: PAD.left - 5, y: this.y(t) + 3.5, 'text-anchor': 'end', class: 'tick' }, formatY(t)));
    }
    const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * xMax));
    for (const t of xTicks) children.push(el('text', { x: this.x(t), y: HEIGHT - 6, 'text-anchor': 'middle', class: 'tick' }, String(t)));
    children.push(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: HEIGHT - PAD.bottom, y2: HEIGHT - PAD.bottom, class: 'axis' }));
    this.axes.replaceChildren(...children);
    this.legend.replaceChildren(
      ...this.series.map((s) => {
        const item = document.createElement('span');
        item.className = `key ${s.className}`;
        item.textContent = s.label;
        return item;
      }),
    );
    this.update();
  }
}
