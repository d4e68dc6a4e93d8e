// The MXU tile (mxu.mm) on WebAssembly SIMD, chosen automatically where the runtime validates the module
// (sim/wasm/mxu.wat, built by scripts/build-wasm.mjs). matmulTile in exec.ts stays the definition: the two are
// tested equal on every kernel test (INTNPU_WASM=0 or setSimWasm(false) forces the TypeScript loop). The weights
// of an mxu.wload are kept as int16 columns [n][kp] for this path; per mxu.mm the input bytes and (to accumulate)
// the accumulator rows are copied in, the tile computed and accumulated (int32 wrap-around) in WebAssembly, and
// the rows copied back.
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
  // short-lived objects per layer. The bytes are the same whether S is read signed or unsigned.
  const Sb = S instanceof Uint8Array ? S : bytesOf(S);
  const X = v.u8;
  for (let r = 0; r < rows; r++) {
    const s = x + r * xStride, d = xBase + r * kp;
    for (let kk = 0; kk < k; kk++) X[d + kk] = Sb[s + kk]!;
    for (let kk = k; kk < kp; kk++) X[d + kk] = 0;
  }
  if (mp > rows) X.fill(0, xBase + rows * kp, xBase + mp * kp);
  const O = v.i32, o0 = oBase >> 2;
  if (accumulate) {
    for (let r = 0; r < rows; r++) {
      const a = accAddr + r * accStride, d = o0 + r * np;
      for (let j = 0; j < n; j++) O[d + j] = A[a + j]!;
    }
  }
  (S instanceof Int8Array ? e.mm_s8 : e.mm_u8)(xBase, 0, mp, np, kp, oBase, accumulate ? 1 : 0);
  for (let r = 0; r < rows; r++) {
    const a = accAddr + r * accStride, d = o0 + r * np;
    for (let j = 0; j < n; j++) A[a + j] = O[d + j]!;
  }
}

/** Views of the module's memory, made again only when growing it replaced the buffer. */
let views: { readonly buf: ArrayBuffer; readonly u8: Uint8Array; readonly i16: Int16Array; readonly i32: Int32Array } | undefined;
function viewsOf(buf: ArrayBuffer): { readonly u8: Uint8Array; readonly i16: Int16Array; readonly i32: Int32Array } {
  if (views === undefined || views.buf !== buf) views = { buf, u8: new Uint8Array(buf), i16: new Int16Array(buf), i32: new Int32Array(buf) };
  return views;
}

/** The bytes of an int8 scratchpad, one view per array. */
const BYTES = new WeakMap<Int8Array, Uint8Array>();
function bytesOf(S: Int8Array): Uint8Array {
  let b = BYTES.get(S);
  if (b === undefined) BYTES.set(S, (b = new Uint8Array(S.buffer, S.byteOffset, S.byteLength)));
  return b;
}
