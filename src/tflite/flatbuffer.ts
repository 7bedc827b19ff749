// Bounded FlatBuffer access for untrusted files. Every offset is checked against the buffer
// before it is followed and every vector length against the bytes that remain, so a hostile
// file can neither read out of bounds nor make us allocate more than it holds. The schema we
// read is fixed-depth (model → subgraph → tensor → quantization), so no walk recurses on data.
import { FormatError } from '../errors.js';

export class FlatReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  readonly what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.what = what;
  }

  fail(message: string): never {
    throw new FormatError(`${this.what}: ${message}`);
  }

  private need(pos: number, size: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + size > this.bytes.length) {
      this.fail(`${what} at byte ${pos} (+${size}) lies outside the ${this.bytes.length} B file (truncated or corrupt)`);
    }
  }

  u8(pos: number, what = 'byte'): number {
    this.need(pos, 1, what);
    return this.view.getUint8(pos);
  }
  i8(pos: number, what = 'byte'): number {
    this.need(pos, 1, what);
    return this.view.getInt8(pos);
  }
  u16(pos: number, what = 'u16'): number {
    this.need(pos, 2, what);
    return this.view.getUint16(pos, true);
  }
  i32(pos: number, what = 'i32'): number {
    this.need(pos, 4, what);
    return this.view.getInt32(pos, true);
  }
  u32(pos: number, what = 'u32'): number {
    this.need(pos, 4, what);
    return this.view.getUint32(pos, true);
  }
  f32(pos: number, what = 'f32'): number {
    this.need(pos, 4, what);
    return this.view.getFloat32(pos, true);
  }
  i64AsNumber(pos: number, what = 'i64'): number {
    this.need(pos, 8, what);
    const v = this.view.getBigInt64(pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) this.fail(`${what} ${v} does not fit a safe integer`);
    return Number(v);
  }

  /** Follows a uoffset stored at pos. */
  indirect(pos: number, what: string): number {
    const target = pos + this.u32(pos, what);
    this.need(target, 4, what);
    return target;
  }

  /** The table at pos; its vtable is checked to lie inside the file. */
  table(pos: number, what: string): Table {
    this.need(pos, 4, what);
    const vt = pos - this.i32(pos, `${what} vtable offset`);
    this.need(vt, 4, `${what} vtable`);
    const vtBytes = this.u16(vt, `${what} vtable`);
    const tableBytes = this.u16(vt + 2, `${what} vtable`);
    if (vtBytes < 4 || vtBytes % 2 !== 0) this.fail(`${what}: vtable of ${vtBytes} B is malformed`);
    this.need(vt, vtBytes, `${what} vtable`);
    this.need(pos, tableBytes, `${what} inline data`);
    return new Table(this, pos, vt, vtBytes, tableBytes, what);
  }

  /** A vector at pos: [length][elements], each elementBytes wide; checked against the file. */
  vector(pos: number, elementBytes: number, what: string, maxLength: number): { start: number; length: number } {
    const length = this.u32(pos, `${what} length`);
    if (length > maxLength) this.fail(`${what} has ${length} entries, more than the limit of ${maxLength}`);
    this.need(pos + 4, length * elementBytes, `${what} (${length} × ${elementBytes} B)`);
    return { start: pos + 4, length };
  }
}

export class Table {
  constructor(
    readonly r: FlatReader,
    readonly pos: number,
    private readonly vt: number,
    private readonly vtBytes: number,
    private readonly tableBytes: number,
    readonly what: string,
  ) {}

  /** Absolute position of field `slot`, or 0 if it is absent. */
  field(slot: number, size: number): number {
    const entry = 4 + 2 * slot;
    if (entry + 2 > this.vtBytes) return 0;
    const off = this.r.u16(this.vt + entry);
    if (off === 0) return 0;
    if (off + size > this.tableBytes) this.r.fail(`${this.what}: field ${slot} at +${off} runs past its table (${this.tableBytes} B)`);
    return this.pos + off;
  }

  int(slot: number, fallback: number): number {
    const p = this.field(slot, 4);
    return p ? this.r.i32(p) : fallback;
  }
  uint(slot: number, fallback: number): number {
    const p = this.field(slot, 4);
    return p ? this.r.u32(p) : fallback;
  }
  byte(slot: number, fallback: number): number {
    const p = this.field(slot, 1);
    return p ? this.r.i8(p) : fallback;
  }
  ubyte(slot: number, fallback: number): number {
    const p = this.field(slot, 1);
    return p ? this.r.u8(p) : fallback;
  }
  float(slot: number, fallback: number): number {
    const p = this.field(slot, 4);
    return p ? this.r.f32(p) : fallback;
  }
  bool(slot: number): boolean {
    return this.ubyte(slot, 0) !== 0;
  }

  child(slot: number, what: string): Table | undefined {
    const p = this.field(slot, 4);
    return p ? this.r.table(this.r.indirect(p, what), what) : undefined;
  }

  string(slot: number, what: string, maxLength = 4096): string {
    const p = this.field(slot, 4);
    if (!p) return '';
    const { start, length } = this.r.vector(this.r.indirect(p, what), 1, what, maxLength);
    return new TextDecoder('utf-8').decode(this.r.bytes.subarray(start, start + length));
  }

  private vec(slot: number, elementBytes: number, what: string, maxLength: number): { start: number; length: number } | undefined {
    const p = this.field(slot, 4);
    if (!p) return undefined;
    return this.r.vector(this.r.indirect(p, what), elementBytes, what, maxLength);
  }

  ints(slot: number, what: string, maxLength: number): number[] {
    const v = this.vec(slot, 4, what, maxLength);
    if (!v) return [];
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.i32(v.start + 4 * i);
    return out;
  }
  floats(slot: number, what: string, maxLength: number): number[] {
    const v = this.vec(slot, 4, what, maxLength);
    if (!v) return [];
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.f32(v.start + 4 * i);
    return out;
  }
  longs(slot: number, what: string, maxLength: number): number[] {
    const v = this.vec(slot, 8, what, maxLength);
    if (!v) return [];
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.i64AsNumber(v.start + 8 * i, what);
    return out;
  }
  /** A byte vector as a view into the file (no copy). */
  bytesView(slot: number, what: string, maxLength: number): Uint8Array | undefined {
    const v = this.vec(slot, 1, what, maxLength);
    return v ? this.r.bytes.subarray(v.start, v.start + v.length) : undefined;
  }
  tables(slot: number, what: string, maxLength: number): Table[] {
    const v = this.vec(slot, 4, what, maxLength);
    if (!v) return [];
    const out: Table[] = [];
    for (let i = 0; i < v.length; i++) out.push(this.r.table(this.r.indirect(v.start + 4 * i, `${what}[${i}]`), `${what}[${i}]`));
    return out;
  }
}
