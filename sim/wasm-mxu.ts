// The MXU tile (mxu.mm) on WebAssembly SIMD, chosen automatically where the runtime validates the module
// (sim/wasm/mxu.wat, built by scripts/build-wasm.mjs). matmulTile in exec.ts stays the definition: the two are
// tested equal on every kernel test (INTNPU_WASM=0 or setSimWasm(false) forces the TypeScript loop). The weights
// of an mxu.wload are kept as int16 columns [n][kp] for this path; per mxu.mm the input bytes are copied in,
// the tile's products computed in WebAssembly and added to (or written over) the accumulator rows (int32
// wrap-around).
import { MXU_WASM_BASE64 } from './wasm/mxu.wasm.js';

/** The slice of the WebAssembly JS API used here (the project's lib settings carry no WebAssembly types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: object };
}
const WASM = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface MxuExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly mm_s8: (x: number, w: number, mp: number, np: number, kp: number, o: number, acc: number) => void;
  readonly mm_u8: (x: number, w: number, mp: number, np: number, kp: number, o: number, acc: number) => void;
}

let enabled = typeof process === 'undefined' || process.env['INTNPU_WASM'] !== '0';
let mod: MxuExports | null | undefined;

/** Turns the WebAssembly MXU on or off for machines created afterwards (default: on where supported, off with INTNPU_WASM=0). */
export function setSimWasm(on: boolean): void {
  enabled = on;
}

function exportsOf(): MxuExports | null {
  if (mod === undefined) {
    try {
      const bytes = Buffer.from(MXU_WASM_BASE64, 'base64');
      mod = WASM !== undefined && WASM.validate(bytes) ? (new WASM.Instance(new WASM.Module(bytes)).exports as MxuExports) : null;
    } catch {
      mod = null;
    }
  }
  return mod;
}

/** True when machines created now run mxu.mm on WebAssembly SIMD. */
export function simWasmActive(): boolean {
  return enabled && exportsOf() !== null;
}

/** The padded depth of the int16 weight columns for an array of `rows` (a multiple of 8 lanes). */
export const paddedDepth = (rows: number): number => Math.ceil(rows / 8) * 8;

const up = (v: number, m: number): number => Math.ceil(v / m) * m;

/**
 * acc[r][j] (+)= sum_kk x[r][kk] * W[j][kk] for r < rows, j < n, kk < k, where W is int16 [n][kp] with zeros
 * beyond k (the wload copy); the additions wrap to int32.
 */
export function matmulTileWasm(
  S: Int8Array | Uint8Array, x: number, xStride: number, rows: number,
  W: Int16Array, kp: number, k: number, n: number,
  A: Int32Array, accAddr: number, accStride: number, accumulate: boolean,
): void {
  const e = exportsOf()!;
  const mp = up(rows, 2), np = up(n, 4);
  // memory: w int16 [np][kp] | x bytes [mp][kp] | o int32 [mp][np]
  const wBytes = np * kp * 2, xBase = up(wBytes, 16), oBase = xBase + up(mp * kp, 16);
  const need = oBase + mp * np * 4;
  if (need > e.memory.buffer.byteLength) e.memory.grow(Math.ceil((need - e.memory.buffer.byteLength) / 65536));
  const v = viewsOf(e.memory.buffer);
  v.i16.set(W.subarray(0, n * kp));
  if (np > n) v.i16.fill(0, n * kp, np * kp);
  // PERF: rows are copied by loops (a tile row is 16-128 bytes): a subarray per row and per call made millions of
  // short-lived objects per layer. The bytes are the same whether S is read signed or unsigned; rows on 4-byte
  // boundaries (every tiled program's) move as int32 words.
  const Sb = S instanceof Uint8Array ? S : bytesOf(S);
  if ((k & 3) === 0 && (kp & 3) === 0 && (x & 3) === 0 && (xStride & 3) === 0 && (xBase & 3) === 0) {
    const S32 = wordsOf(Sb), X32 = v.i32, kw = k >> 2, kpw = kp >> 2;
    for (let r = 0; r < rows; r++) {
      const s = (x + r * xStride) >> 2, d = (xBase >> 2) + r * kpw;
      for (let j = 0; j < kw; j++) X32[d + j] = S32[s + j]!;
      for (let j = kw; j < kpw; j++) X32[d + j] = 0;
    }
  } else {
    const X = v.u8;
    for (let r = 0; r < rows; r++) {
      const s = x + r * xStride, d = xBase + r * kp;
      for (let kk = 0; kk < k; kk++) X[d + kk] = Sb[s + kk]!;
      for (let kk = k; kk < kp; kk++) X[d + kk] = 0;
    }
  }
  if (mp > rows) v.u8.fill(0, xBase + rows * kp, xBase + mp * kp);
  const O = v.i32, o0 = oBase >> 2;
  const mm = S instanceof Int8Array ? e.mm_s8 : e.mm_u8;
  if (n === np && accStride === np) {
    // The accumulator rows are one contiguous block laid out as O: copied in (to accumulate) and out whole.
    if (accumulate) O.set(A.subarray(accAddr, accAddr + rows * np), o0);
    mm(xBase, 0, mp, np, kp, oBase, accumulate ? 1 : 0);
    A.set(O.subarray(o0, o0 + rows * np), accAddr);
    return;
  }
  // The tile's products go to O fresh; accumulating adds them to the accumulator rows here (int32 wrap-around:
  // (a + (s mod 2^32)) mod 2^32 = (a + s) mod 2^32), one pass instead of copying the rows in and out.
  mm(xBase, 0, mp, np, kp, oBase, 0);
  for (let r = 0; r < rows; r++) {
    const a = accAddr + r * accStride, d = o0 + r * np;
    if (accumulate) for (let j = 0; j < n; j++) A[a + j] = (A[a + j]! + O[d + j]!) | 0;
    else for (let j = 0; j < n; j++) A[a + j] = O[d + j]!;
  }
}

/** Views of the module's memory, made again only when growing it replaced the buffer. */
let views: { readonly buf: ArrayBuffer; readonly u8: Uint8Array; readonly i16: Int16Array; readonly i32: Int32Array } | undefined;
function viewsOf(buf: ArrayBuffer): { readonly u8: Uint8Array; readonly i16: Int16Array; readonly i32: Int32Array } {
  if (views === undefined || views.buf !== buf) views = { buf, u8: new Uint8Array(buf), i16: new Int16Array(buf), i32: new Int32Array(buf) };
  return views;
}

/** The bytes of a scratchpad as int32 words (offset 0 of its own buffer, as a Machine allocates it), one view per array. */
const WORDS = new WeakMap<Uint8Array, Int32Array>();
function wordsOf(S: Uint8Array): Int32Array {
  let w = WORDS.get(S);
  if (w === undefined) {
    if (S.byteOffset !== 0) throw new Error('internal: scratchpad view not at offset 0');
    WORDS.set(S, (w = new Int32Array(S.buffer, 0, S.buffer.byteLength >> 2)));
  }
  return w;
}

/** The bytes of an int8 scratchpad, one view per array. */
const BYTES = new WeakMap<Int8Array, Uint8Array>();
function bytesOf(S: Int8Array): Uint8Array {
  let b = BYTES.get(S);
  if (b === undefined) BYTES.set(S, (b = new Uint8Array(S.buffer, S.byteOffset, S.byteLength)));
  return b;
}
