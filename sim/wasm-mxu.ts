// The MXU tile (mxu.mm) on WebAssembly SIMD, chosen automatically where the runtime validates the module
// (sim/wasm/mxu.wat, built by scripts/build-wasm.mjs). matmulTile in exec.ts stays the definition: the two are
// tested equal on every kernel test (INTNPU_WASM=0 or setSimWasm(false) forces the TypeScript loop).
// A Machine on this engine keeps its scratchpad, accumulators, both weight buffers and its vector registers in its own
// instance's memory (MxuMemory), so the kernel reads the input rows and adds into the accumulator rows in place,
// strides and all: PERF, no copy of a tile into or out of WebAssembly memory per mxu.mm. The weights of an mxu.wload
// are kept there as int16 columns [cols][depth], zero beyond k. The VPU's widening multiplies (vmacr, vmulr.vx,
// vmulr.vv) run there too, on i64 arithmetic, against mulAddRoundShift in sim/intops.ts as their definition.
import { MXU_WASM_BASE64 } from './wasm/mxu.wasm.js';

/** The slice of the WebAssembly JS API used here (the project's lib settings carry no WebAssembly types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: object };
}
const WASM = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** mm_s8 / mm_u8 (x, xs, rows, w, ws, kp, n, o, os, acc), byte addresses and strides: see sim/wasm/mxu.wat. */
type MmKernel = (x: number, xs: number, rows: number, w: number, ws: number, kp: number, n: number, o: number, os: number, acc: number) => void;
interface MxuExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly mm_s8: MmKernel;
  readonly mm_u8: MmKernel;
  readonly wload: (src: number, js: number, ks: number, k: number, n: number, dst: number, ds: number) => void;
  readonly vmacr: (d: number, a: number, b: number, c: number, n: number, s: number, rm: number, sat: number) => void;
  readonly vmulr_vx: (d: number, a: number, mul: number, n: number, s: number, rm: number, sat: number) => void;
  readonly vmulr_vv: (d: number, a: number, b: number, sh: number, n: number, rm: number, sat: number) => void;
}

let enabled = typeof process === 'undefined' || process.env['INTNPU_WASM'] !== '0';
let compiled: object | null | undefined;

/** Turns the WebAssembly MXU on or off for machines created afterwards (default: on where supported, off with INTNPU_WASM=0). */
export function setSimWasm(on: boolean): void {
  enabled = on;
}

/** The compiled module (shared by every machine's instance), or null where the runtime lacks WebAssembly SIMD. */
function moduleOf(): object | null {
  if (compiled === undefined) {
    try {
      const bytes = Buffer.from(MXU_WASM_BASE64, 'base64');
      compiled = WASM !== undefined && WASM.validate(bytes) ? new WASM.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** True when machines created now run mxu.mm on WebAssembly SIMD. */
export function simWasmActive(): boolean {
  return enabled && moduleOf() !== null;
}

/** The padded depth of the int16 weight columns for an array of `rows` (a multiple of 8 lanes). */
export const paddedDepth = (rows: number): number => Math.ceil(rows / 8) * 8;

const up = (v: number, m: number): number => Math.ceil(v / m) * m;
const PAGE = 65536;

/**
 * A machine's on-chip memories inside one WebAssembly instance's memory, laid out
 *   spad bytes | acc int32 | weight buffer 0 | weight buffer 1 | vector registers | slack
 * each part 16-byte aligned; the scratchpad at offset 0 (so `spad.buffer` starts with it, as a plain array's would).
 * The memory is sized once and never grown (growing would detach every view). The kernel reads up to 7 bytes past a
 * scratchpad row's k and up to 12 past the last accumulator word of a partial column block (neither ever stored),
 * and weight columns up to cols rounded up to 4: the layout keeps all of these inside the memory.
 */
export class MxuMemory {
  readonly spad: Int8Array;
  /** The same scratchpad bytes read as unsigned (mxu.mm.u8). */
  readonly spadU8: Uint8Array;
  readonly acc: Int32Array;
  /** The two weight buffers as int16 columns [cols][depth], zero beyond each load's k. */
  readonly wq: [Int16Array, Int16Array];
  /** Row length of `wq` (mxu.rows rounded up to 8 lanes). */
  readonly depth: number;
  /** 32 vector registers of `lanes` int32 each (Machine.vregs), for the VPU multiplies below. */
  readonly vregs: Int32Array;
  private readonly vByte: number;
  private readonly accByte: number;
  private readonly wByte: [number, number];
  private readonly mmS8: MmKernel;
  private readonly mmU8: MmKernel;
  private readonly wl: MxuExports['wload'];
  private readonly macr: MxuExports['vmacr'];
  private readonly mulrVx: MxuExports['vmulr_vx'];
  private readonly mulrVv: MxuExports['vmulr_vv'];

  private constructor(ex: MxuExports, spadBytes: number, accWords: number, cols: number, rows: number, lanes: number) {
    this.depth = paddedDepth(rows);
    const accByte = up(spadBytes, 16);
    const wBytes = up(up(cols, 4) * this.depth * 2, 16);
    const w0 = accByte + up(accWords * 4, 16), w1 = w0 + wBytes, v = w1 + wBytes, total = v + 32 * lanes * 4 + 64;
    const have = ex.memory.buffer.byteLength;
    if (total > have) ex.memory.grow(Math.ceil((total - have) / PAGE));
    const buf = ex.memory.buffer;
    this.spad = new Int8Array(buf, 0, spadBytes);
    this.spadU8 = new Uint8Array(buf, 0, spadBytes);
    this.acc = new Int32Array(buf, accByte, accWords);
    this.wq = [new Int16Array(buf, w0, up(cols, 4) * this.depth), new Int16Array(buf, w1, up(cols, 4) * this.depth)];
    this.vregs = new Int32Array(buf, v, 32 * lanes);
    this.vByte = v;
    this.accByte = accByte;
    this.wByte = [w0, w1];
    this.mmS8 = ex.mm_s8;
    this.mmU8 = ex.mm_u8;
    this.wl = ex.wload;
    this.macr = ex.vmacr;
    this.mulrVx = ex.vmulr_vx;
    this.mulrVv = ex.vmulr_vv;
  }

  /** A fresh instance's memory for these sizes, or undefined (no WebAssembly SIMD, or the memory cannot be had). */
  static create(spadBytes: number, accWords: number, cols: number, rows: number, lanes: number): MxuMemory | undefined {
    const mod = moduleOf();
    if (mod === null || WASM === undefined) return undefined;
    try {
      return new MxuMemory(new WASM.Instance(mod).exports as MxuExports, spadBytes, accWords, cols, rows, lanes);
    } catch {
      return undefined; // past the 4 GiB of a 32-bit memory, or out of address space: the TypeScript loop serves
    }
  }

  /**
   * mxu.wload into weight buffer `buf`: column j < n holds W[j][kk] = spad[addr + j*js + kk*ks] for kk < k, zeros up
   * to the depth. The region is checked by the caller.
   */
  wload(buf: number, addr: number, js: number, ks: number, k: number, n: number): void {
    this.wl(addr, js, ks, k, n, this.wByte[buf]!, this.depth * 2);
  }

  /**
   * acc[accAddr + r*accStride + j] (+)= sum_kk spad[x + r*xStride + kk] * W[j][kk] for r < rows, j < n, kk < k, W the
   * weight buffer `buf` (loaded by mxu.wload, zero beyond k); the additions wrap to int32. The regions are checked
   * by the caller (mxu.mm's bounds checks).
   */
  mm(unsigned: boolean, x: number, xStride: number, rows: number, buf: number, k: number, n: number, accAddr: number, accStride: number, accumulate: boolean): void {
    (unsigned ? this.mmU8 : this.mmS8)(
      x, xStride, rows, this.wByte[buf]!, this.depth * 2, up(k, 8), n, this.accByte + accAddr * 4, accStride * 4, accumulate ? 1 : 0,
    );
  }

  // The VPU's widening multiplies with a rounding right shift on lanes [0, n) of the vector registers, in place: the
  // same as mulAddRoundShift per lane (sim/intops.ts, the definition), on exact i64 arithmetic. Arguments are lane
  // offsets into `vregs` (register * lanes); shift in 0..127, rmode and sat as in intops.ts (checked by the caller).

  /** vregs[d + i] = sat(round((vregs[a + i] * vregs[b + i] + vregs[c + i]) / 2^shift)). */
  vmacr(d: number, a: number, b: number, c: number, n: number, shift: number, rmode: number, sat: number): void {
    const v = this.vByte;
    this.macr(v + 4 * d, v + 4 * a, v + 4 * b, v + 4 * c, n, shift, rmode, sat);
  }

  /** vregs[d + i] = sat(round(vregs[a + i] * mul / 2^shift)). */
  vmulrVx(d: number, a: number, mul: number, n: number, shift: number, rmode: number, sat: number): void {
    const v = this.vByte;
    this.mulrVx(v + 4 * d, v + 4 * a, mul, n, shift, rmode, sat);
  }

  /** vregs[d + i] = sat(round(vregs[a + i] * vregs[b + i] / 2^vregs[s + i])), every shift lane in 0..127. */
  vmulrVv(d: number, a: number, b: number, s: number, n: number, rmode: number, sat: number): void {
    const v = this.vByte;
    this.mulrVv(v + 4 * d, v + 4 * a, v + 4 * b, v + 4 * s, n, rmode, sat);
  }
}
