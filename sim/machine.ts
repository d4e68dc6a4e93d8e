// Architectural state of the NPU: DRAM, scratchpad, accumulator memory, scalar and vector registers,
// the vector length, and the MXU's two weight buffers. Every memory access goes through a bounds check
// that raises a Fault naming the memory, the range and the size.
import type { BufferSymbol, MemorySpace } from '../isa/asm.js';
import type { MachineConfig } from './config.js';
import type { TimingModel } from './timing.js';
import { MxuMemory, simWasmActive } from './wasm-mxu.js';

export const SPACE_DRAM = 0;
export const SPACE_SPAD = 1;
export const SPACE_ACC = 2;
export const SPACE_NAMES = ['dram', 'spad', 'acc'] as const;

/** An error inside the simulated machine; the run loop adds pc, instruction, cycle and source line. */
export class Fault extends Error {
  override readonly name = 'Fault';
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * A DRAM relocation table: the program's DRAM buffers (local address ranges [lo, hi)) bound to other addresses of
 * the machine's DRAM (`to`). Set by a chained run (sim/chain.ts), where each kernel program of a layer addresses its
 * own buffers from 0 and the chain binds them to the layer's tensors, as a loader applies a relocation table.
 */
export interface DramSegment {
  readonly lo: number;
  readonly hi: number;
  readonly to: number;
  readonly name: string;
}

export class Machine {
  readonly cfg: MachineConfig;
  dram: Uint8Array;
  readonly spad: Int8Array;
  /** The same scratchpad bytes read as unsigned (mxu.mm.u8). */
  readonly spadU8: Uint8Array;
  readonly acc: Int32Array;
  readonly sregs = new Int32Array(32);
  readonly lanes: number;
  /** 32 vector registers of `lanes` int32 each, one flat array. */
  readonly vregs: Int32Array;
  vl: number;
  /** Two weight buffers in the MAC loop's packed form: column pairs [n/2][k], k-stride mxu.rows. */
  readonly wbuf: [Float64Array, Float64Array];
  readonly wK: [number, number] = [0, 0];
  readonly wN: [number, number] = [0, 0];
  /** mxu.mm runs on WebAssembly SIMD (sim/wasm-mxu.ts), chosen when the machine is created. */
  readonly wasmMxu: boolean;
  /**
   * For the WebAssembly MXU: the instance memory holding spad, acc and the weight buffers (which are then views of
   * it), and running mxu.mm on them in place; undefined on the TypeScript MXU.
   */
  readonly mxu: MxuMemory | undefined;
  /** For the WebAssembly MXU: the two weight buffers as int16 columns [cols][wqDepth], zero beyond k. */
  readonly wq: [Int16Array, Int16Array];
  /** Row length of `wq` (mxu.rows rounded up to 8 lanes). */
  readonly wqDepth: number;
  /** Buffer the next mxu.mm reads (the one most recently loaded); -1 before any mxu.wload. */
  wActive = -1;
  /** Sizes in each space's own elements (bytes, bytes, words). */
  sizes: readonly [number, number, number];
  /** The program's DRAM relocation (sorted by lo), or undefined: addresses are the machine's own. */
  private segments: readonly DramSegment[] | undefined;
  /**
   * A timing model a chained run continues (sim/chain.ts): the next program on this machine is priced after the
   * previous one, with every hazard between them tracked. Undefined: each simulation starts its own clock at 0.
   */
  continueTiming: TimingModel | undefined;
  /**
   * What the host wrote into each buffer before the run, by buffer name (the arrays as given, not copied):
   * so a kernel run can be replayed from its listing (`intnpu kernel --emit-asm --emit-inputs`).
   */
  readonly hostWrites = new Map<string, { readonly sym: BufferSymbol; readonly data: Int8Array | Int16Array | Int32Array | Uint8Array }>();

  /**
   * `dramBytes` sizes the simulated DRAM below the configured capacity (a kernel runner passes what its program
   * allocated: the rest is never touched, and a 64-256 MiB allocation per kernel run costs time and memory).
   * An access past it faults as an access past the capacity would. `wasm` picks the MXU engine (default: the
   * WebAssembly one where supported, see sim/wasm-mxu.ts).
   */
  constructor(cfg: MachineConfig, opts: { readonly dramBytes?: number; readonly wasm?: boolean } = {}) {
    this.cfg = cfg;
    const dramBytes = opts.dramBytes === undefined ? cfg.dram.sizeBytes : Math.min(cfg.dram.sizeBytes, Math.max(0, Math.ceil(opts.dramBytes)));
    this.dram = new Uint8Array(dramBytes);
    const mxu = opts.wasm ?? simWasmActive() ? MxuMemory.create(cfg.spad.sizeBytes, cfg.acc.sizeBytes / 4, cfg.mxu.cols, cfg.mxu.rows, cfg.vpu.lanes) : undefined;
    this.mxu = mxu;
    this.wasmMxu = mxu !== undefined;
    this.spad = mxu ? mxu.spad : new Int8Array(cfg.spad.sizeBytes);
    this.spadU8 = mxu ? mxu.spadU8 : new Uint8Array(this.spad.buffer);
    this.acc = mxu ? mxu.acc : new Int32Array(cfg.acc.sizeBytes / 4);
    this.lanes = cfg.vpu.lanes;
    this.vregs = mxu ? mxu.vregs : new Int32Array(32 * this.lanes);
    this.vl = this.lanes;
    this.wqDepth = mxu ? mxu.depth : 0;
    this.wq = mxu ? mxu.wq : [new Int16Array(0), new Int16Array(0)];
    const wsize = mxu ? 0 : cfg.mxu.rows * Math.ceil(cfg.mxu.cols / 2);
    this.wbuf = [new Float64Array(wsize), new Float64Array(wsize)];
    this.sizes = [this.dram.length, this.spad.length, this.acc.length];
  }

  /** Grows the simulated DRAM to at least `bytes` (contents kept), up to the configured capacity. */
  growDram(bytes: number): void {
    if (bytes <= this.dram.length) return;
    if (bytes > this.cfg.dram.sizeBytes) throw new Fault('out-of-bounds', `the chained programs need ${bytes} bytes of DRAM, but dram.sizeBytes is ${this.cfg.dram.sizeBytes}`);
    const d = new Uint8Array(bytes);
    d.set(this.dram);
    this.dram = d;
    this.sizes = [d.length, this.spad.length, this.acc.length];
  }

  /**
   * Binds the next program's DRAM buffers (see DramSegment); undefined: no relocation. `bound` names the buffers
   * that hold an earlier program's output: the host does not write them (writeBuffer skips them).
   */
  setDramSegments(segments: readonly DramSegment[] | undefined, bound: ReadonlySet<string> = new Set()): void {
    this.segments = segments === undefined ? undefined : [...segments].sort((a, b) => a.lo - b.lo);
    this.bound = bound;
  }
  private bound: ReadonlySet<string> = new Set();

  /**
   * The machine address of a program's DRAM region (rows of len bytes, stride apart, from base): the identity
   * without relocation; else the region must lie in one bound buffer, and moves with it.
   */
  dramAddress(base: number, rows: number, len: number, stride: number): number {
    const segs = this.segments;
    if (segs === undefined || rows === 0 || len === 0) return base;
    const last = base + (rows - 1) * stride;
    const lo = Math.min(base, last), hi = Math.max(base, last) + len;
    for (const s of segs) {
      if (lo >= s.lo && hi <= s.hi) return base - s.lo + s.to;
    }
    throw new Fault('out-of-bounds', `dram access [${lo}, ${hi}) (base ${base}, ${rows} row${rows === 1 ? '' : 's'} of ${len}, stride ${stride}) does not lie within one buffer of the program (a chained run relocates each DRAM buffer on its own)`);
  }

  /** Fault unless [lo, hi) of a 2-D region (rows of len elements, stride apart) lies in the space. */
  check2d(space: number, base: number, rows: number, len: number, stride: number): void {
    if (rows < 0 || len < 0) throw new Fault('bad-operand', `negative ${rows < 0 ? 'row count' : 'length'} (${rows < 0 ? rows : len}) for ${SPACE_NAMES[space]}`);
    if (rows === 0 || len === 0) return;
    const last = base + (rows - 1) * stride;
    const lo = Math.min(base, last);
    const hi = Math.max(base, last) + len;
    const size = this.sizes[space]!;
    if (lo < 0 || hi > size) {
      const unit = space === SPACE_ACC ? 'words' : 'bytes';
      throw new Fault(
        'out-of-bounds',
        `${SPACE_NAMES[space]} access [${lo}, ${hi}) ${unit} (base ${base}, ${rows} row${rows === 1 ? '' : 's'} of ${len}, stride ${stride}) is outside ${SPACE_NAMES[space]} [0, ${size})`,
      );
    }
  }

  private spaceOf(sym: BufferSymbol): Int8Array | Uint8Array | Int32Array {
    return sym.space === 'dram' ? this.dram : sym.space === 'spad' ? this.spad : this.acc;
  }

  /** Host write of typed data into a .buffer (DRAM buffers take raw bytes of the given element type). */
  writeBuffer(sym: BufferSymbol, data: Int8Array | Int16Array | Int32Array | Uint8Array): void {
    if (this.bound.has(sym.name)) return; // a chained program's input: its producer wrote these bytes
    this.hostWrites.set(sym.name, { sym, data });
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (sym.space === 'acc') {
      if (!(data instanceof Int32Array)) throw new Fault('host', `accumulator buffer '${sym.name}' takes int32 data`);
      this.assertFits(sym, data.length);
      this.acc.set(data, sym.address);
      return;
    }
    this.assertFits(sym, bytes.length);
    const target = this.spaceOf(sym);
    new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(bytes, this.addressOf(sym, bytes.length));
  }

  /** A buffer's address in its space (DRAM buffers through the relocation table). */
  private addressOf(sym: BufferSymbol, n: number): number {
    return sym.space === 'dram' && n > 0 ? this.dramAddress(sym.address, 1, n, 0) : sym.address;
  }

  private assertFits(sym: BufferSymbol, n: number): void {
    if (n > sym.size) throw new Fault('host', `buffer '${sym.name}' holds ${sym.size} ${sym.space === 'acc' ? 'words' : 'bytes'}, ${n} given`);
  }

  readBytes(sym: BufferSymbol, n = sym.size): Uint8Array {
    this.assertFits(sym, n);
    if (sym.space === 'acc') return new Uint8Array(this.acc.buffer, this.acc.byteOffset + sym.address * 4, n * 4).slice();
    const src = this.spaceOf(sym);
    return new Uint8Array(src.buffer, src.byteOffset + this.addressOf(sym, n), n).slice();
  }
}

export function spaceIndex(space: MemorySpace): number {
  return space === 'dram' ? SPACE_DRAM : space === 'spad' ? SPACE_SPAD : SPACE_ACC;
}
