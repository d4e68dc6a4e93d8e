// The MXU tile (mxu.mm) on WebAssembly SIMD, chosen automatically where the runtime validates the module
// (sim/wasm/mxu.wat, built by scripts/build-wasm.mjs). matmulTile in exec.ts stays the definition: the two are
// tested equal on every kernel test (INTNPU_WASM=0 or setSimWasm(false) forces the TypeScript loop). The weights
// of an mxu.wload are kept as int16 columns [n][kp] for this path; inputs are copied per mxu.mm, the dot
// products computed in WebAssembly, and added to the accumulator rows here with int32 wrap-around.
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
  readonly gemm_i16: (a: number, b: number, mp: number, np: number, kp: number, o: number) => void;
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
  const wBytes = np * kp * 2, xBase = up(wBytes, 16), oBase = xBase + up(mp * kp * 2, 16);
  const need = oBase + mp * np * 4;
  if (need > e.memory.buffer.byteLength) e.memory.grow(Math.ceil((need - e.memory.buffer.byteLength) / 65536));
  const buf = e.memory.buffer;
  const Wm = new Int16Array(buf, 0, np * kp);
  Wm.set(W.subarray(0, n * kp));
  if (np > n) Wm.fill(0, n * kp);
  const X = new Int16Array(buf, xBase, mp * kp);
  for (let r = 0; r < rows; r++) {
    const s = x + r * xStride, d = r * kp;
    for (let kk = 0; kk < k; kk++) X[d + kk] = S[s + kk]!;
    if (k < kp) X.fill(0, d + k, d + kp);
  }
  if (mp > rows) X.fill(0, rows * kp);
  e.gemm_i16(xBase, 0, mp, np, kp, oBase);
  const O = new Int32Array(buf, oBase, mp * np);
  for (let r = 0; r < rows; r++) {
    const o = r * np, a = accAddr + r * accStride;
    if (accumulate) for (let j = 0; j < n; j++) A[a + j] = (A[a + j]! + O[o + j]!) | 0;
    else for (let j = 0; j < n; j++) A[a + j] = O[o + j]!;
  }
}
