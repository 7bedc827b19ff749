// The drawing pad: pointer input (mouse, pen, touch) and a keyboard pen (arrow keys move it, Space
// lowers or lifts it), so drawing does not require a pointing device. The pad can also show a
// bundled image, which is then used exactly as stored rather than re-sampled from the screen.
import { drawingToInput } from './drawing-input.js';

const STROKE = 18;
const KEY_STEP = 8;

export class DrawPad {
  private readonly ctx: CanvasRenderingContext2D;
  private drawing = false;
  private last: { x: number; y: number } | null = null;
  /** Keyboard pen position, and whether it is down. */
  private pen = { x: 0, y: 0, down: false, visible: false };
  /** A bundled image shown on the pad; cleared by any stroke. */
  private exact: Float32Array | null = null;
  private ink = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly cursor: HTMLCanvasElement,
    private readonly onChange: () => void,
    private readonly announce: (text: string) => void,
  ) {
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('this browser has no 2D canvas');
    this.ctx = ctx;
    this.pen.x = canvas.width / 2;
    this.pen.y = canvas.height / 2;
    canvas.addEventListener('pointerdown', (e) => this.pointerDown(e));
    canvas.addEventListener('pointermove', (e) => this.pointerMove(e));
    canvas.addEventListener('pointerup', () => this.pointerUp());
    canvas.addEventListener('pointercancel', () => this.pointerUp());
    canvas.addEventListener('keydown', (e) => this.key(e));
    // The pen ring is for keyboard users; a mouse click that focuses the pad should not show it.
    canvas.addEventListener('focus', () => this.showPen(canvas.matches(':focus-visible')));
    canvas.addEventListener('blur', () => this.showPen(false));
  }

  get isEmpty(): boolean {
    return !this.ink && !this.exact;
  }

  clear(): void {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.exact = null;
    this.ink = false;
    this.onChange();
  }

  /** Show a 28×28 image (values in [0, 1]) and use it verbatim as the input. */
  showImage(values: Float32Array, side = 28): void {
    const small = new ImageData(side, side);
    for (let i = 0; i < side * side; i++) {
      small.data[i * 4 + 3] = Math.round(values[i]! * 255);
    }
    const scratch = document.createElement('canvas');
    scratch.width = side;
    scratch.height = side;
    scratch.getContext('2d')!.putImageData(small, 0, 0);
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.ctx.imageSmoothingEnabled = true;
    this.ctx.drawImage(scratch, 0, 0, this.canvas.width, this.canvas.height);
    this.exact = values;
    this.ink = false;
    this.onChange();
  }

  /** The model's input for what is on the pad, or null if it is empty. */
  input(): Float32Array | null {
    if (this.exact) return this.exact;
    if (!this.ink) return null;
    const { width, height } = this.canvas;
    const rgba = this.ctx.getImageData(0, 0, width, height).data;
    const coverage = new Float32Array(width * height);
    for (let i = 0; i < coverage.length; i++) coverage[i] = rgba[i * 4 + 3]! / 255;
    return drawingToInput(coverage, width, height);
  }

  private position(e: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  private startStroke(): void {
    if (this.exact) {
      // Drawing over a shown image turns it into a drawing like any other.
      this.exact = null;
      this.ink = true;
    }
    this.ctx.strokeStyle = '#000';
    this.ctx.fillStyle = '#000';
    this.ctx.lineWidth = STROKE;
    this.ctx.lineCap = 'round';
    this.ctx.lineJoin = 'round';
  }

  private segment(from: { x: number; y: number }, to: { x: number; y: number }): void {
    this.ctx.beginPath();
    this.ctx.moveTo(from.x, from.y);
    this.ctx.lineTo(to.x, to.y);
    this.ctx.stroke();
    this.ink = true;
  }

  private pointerDown(e: PointerEvent): void {
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.startStroke();
    this.drawing = true;
    this.last = this.position(e);
    this.segment(this.last, this.last);
  }

  private pointerMove(e: PointerEvent): void {
    if (!this.drawing || !this.last) return;
    const p = this.position(e);
    this.segment(this.last, p);
    this.last = p;
  }

  private pointerUp(): void {
    if (!this.drawing) return;
    this.drawing = false;
    this.last = null;
    this.onChange();
  }

  private key(e: KeyboardEvent): void {
    const step = e.shiftKey ? KEY_STEP * 3 : KEY_STEP;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[e.key];
    if (move) {
      e.preventDefault();
      const from = { x: this.pen.x, y: this.pen.y };
      this.pen.x = Math.max(0, Math.min(this.canvas.width, this.pen.x + move[0]));
      this.pen.y = Math.max(0, Math.min(this.canvas.height, this.pen.y + move[1]));
      if (this.pen.down) this.segment(from, this.pen);
      this.showPen(true);
      return;
    }
    if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      this.pen.down = !this.pen.down;
      if (this.pen.down) {
        this.startStroke();
        this.segment(this.pen, this.pen);
      } else {
        this.onChange();
      }
      this.showPen(true);
      this.announce(this.pen.down ? 'Pen down: arrow keys draw' : 'Pen up: arrow keys move without drawing');
    }
  }

  /** The keyboard pen's ring, on an overlay canvas so it never becomes ink. */
  private showPen(visible: boolean): void {
    this.pen.visible = visible;
    const ctx = this.cursor.getContext('2d')!;
    ctx.clearRect(0, 0, this.cursor.width, this.cursor.height);
    if (!visible) return;
    ctx.beginPath();
    ctx.arc(this.pen.x, this.pen.y, STROKE / 2 + 2, 0, Math.PI * 2);
    ctx.lineWidth = 2;
    ctx.strokeStyle = this.pen.down ? '#c2410c' : '#2563eb';
    ctx.stroke();
  }
}
