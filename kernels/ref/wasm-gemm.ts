// The reference's two big loops on WebAssembly SIMD: the int8 x int8 (or int16 x int16) -> int32 product A . B^T
// behind gemmABt (QuantLinear, Q.K^T, P.V) and the float64 x W^T + b of the calibration pass (linearFloat). The module
// (kernels/ref/wasm/gemm.wat, built by scripts/build-wasm.mjs) belongs to the reference alone: the simulator
// has its own (sim/wasm/mxu.wat), so the oracle shares no code with what it checks. The TypeScript loops stay
// the definition: these functions return false / undefined whenever they do not apply (disabled, no SIMD,
// operands outside int16) and the caller runs the TypeScript loop. Set INTNPU_WASM=0 or call
// setReferenceWasm(false) to force the TypeScript path everywhere; tests run both and compare.
import { GEMM_WASM_BASE64 } from './wasm/gemm.wasm.js';

/** The slice of the WebAssembly JS API used here (the project's lib settings carry no DOM/WebAssembly types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: object };
}
const WASM = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface GemmExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly gemm_i16: (a: number, b: number, mp: number, np: number, kp: number, o: number) => void;
  readonly gemm_i8: (a: number, b: number, mp: number, np: number, kp: number, o: number) => void;
  readonly gemm_f64: (x: number, w: number, bias: number, tp: number, np: number, k: number, o: number) => void;
}

let enabled = typeof process === 'undefined' || process.env['INTNPU_WASM'] !== '0';
let mod: GemmExports | null | undefined;

/** Turns the WebAssembly path of the reference on or off (default: on where supported, off with INTNPU_WASM=0). */
export function setReferenceWasm(on: boolean): void {
  enabled = on;
}

let compiled: object | null | undefined;

function moduleOf(): object | null {
  if (compiled === undefined) {
    try {
      const bytes = Buffer.from(GEMM_WASM_BASE64, 'base64');
      compiled = WASM !== undefined && WASM.validate(bytes) ? new WASM.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** The instance the integer products share (its memory grows to the largest product and stays). */
function exportsOf(): GemmExports | null {
  if (!enabled) return null;
  if (mod === undefined) {
    const m = moduleOf();
    mod = m === null || WASM === undefined ? null : (new WASM.Instance(m).exports as GemmExports);
  }
  return mod;
}

/** The instance that float64 products share inside withFloatWasm (undefined outside it). */
let floatShared: GemmExports | null | undefined;

/**
 * Runs fn with one instance for all its float64 products (a layer's calibration pass: six products), whose memory
 * grows to the largest and goes with it at the end. PERF: fresh memory costs ~5 ms/MB to touch on this kind of VM,
 * and a fresh instance per product touched ~70 MB for a BERT-base layer instead of ~23.
 */
export function withFloatWasm<T>(fn: () => T): T {
  if (floatShared !== undefined) return fn();
  floatShared = freshExports();
  try {
    return fn();
  } finally {
    floatShared = undefined;
  }
}

/** A fresh instance for one float64 product: its tens of MB of memory go with it (a layer is generated once). */
function freshExports(): GemmExports | null {
  if (!enabled) return null;
  const m = moduleOf();
  return m === null || WASM === undefined ? null : (new WASM.Instance(m).exports as GemmExports);
}

/** True when the reference runs its products on WebAssembly SIMD. */
export function referenceWasmActive(): boolean {
  return exportsOf() !== null;
}

const PAGE = 65536;
function reserve(e: GemmExports, bytes: number): ArrayBuffer {
  const have = e.memory.buffer.byteLength;
  if (bytes > have) e.memory.grow(Math.ceil((bytes - have) / PAGE));
  return e.memory.buffer;
}
const up = (v: number, m: number): number => Math.ceil(v / m) * m;

/** Below this many MACs the copies cost more than the loop saves: the callers keep the TypeScript loop. */
export const WASM_MIN_MACS = 1 << 14;

/** out[outOff + m*ldo + n] = sum_k a[aOff + m*lda + k] * b[bOff + n*ldb + k], or false when not applicable. */
export function gemmABtWasm(
  a: ArrayLike<number>, aOff: number, lda: number,
  b: ArrayLike<number>, bOff: number, ldb: number,
  M: number, N: number, K: number,
  out: Int32Array, outOff: number, ldo: number,
): boolean {
  const e = exportsOf();
  if (e === null) return false;
  if (a instanceof Int8Array && b instanceof Int8Array) {
    // int8 x int8 (QuantLinear, Q.K^T, P.V's V^T): copied in as bytes, half the memory of the int16 form
    const kp = up(K, 16), mp = up(M, 2), np = up(N, 4);
    const aBase = 0, bBase = up(mp * kp, 16), oBase = bBase + up(np * kp, 16);
    const buf = reserve(e, oBase + mp * np * 4);
    packBytes(new Int8Array(buf, aBase, mp * kp), a, aOff, lda, M, K, kp);
    packBytes(new Int8Array(buf, bBase, np * kp), b, bOff, ldb, N, K, kp);
    e.gemm_i8(aBase, bBase, mp, np, kp, oBase);
    const O = new Int32Array(buf, oBase, mp * np);
    for (let m = 0; m < M; m++) out.set(O.subarray(m * np, m * np + N), outOff + m * ldo);
    return true;
  }
  const kp = up(K, 8), mp = up(M, 2), np = up(N, 4);
  const aBase = 0, bBase = up(mp * kp * 2, 16), oBase = bBase + up(np * kp * 2, 16);
  const buf = reserve(e, oBase + mp * np * 4);
  const A = new Int16Array(buf, aBase, mp * kp);
  const B = new Int16Array(buf, bBase, np * kp);
  if (!pack(A, a, aOff, lda, M, K, kp) || !pack(B, b, bOff, ldb, N, K, kp)) return false;
  e.gemm_i16(aBase, bBase, mp, np, kp, oBase);
  const O = new Int32Array(buf, oBase, mp * np);
  for (let m = 0; m < M; m++) out.set(O.subarray(m * np, m * np + N), outOff + m * ldo);
  return true;
}

/** Rows of an int8 src into dst [rows][kp], zero padding (the padding rows after `rows` as well). */
function packBytes(dst: Int8Array, src: Int8Array, off: number, ld: number, rows: number, K: number, kp: number): void {
  if (kp === K && ld === K) dst.set(src.subarray(off, off + rows * K));
  else {
    for (let r = 0; r < rows; r++) {
      const d = r * kp;
      dst.set(src.subarray(off + r * ld, off + r * ld + K), d);
      dst.fill(0, d + K, d + kp);
    }
  }
  dst.fill(0, rows * kp);
}

/**
 * Rows of src into dst [rows][kp] as int16, zero padding (the padding rows after `rows` as well); false when a value
 * does not fit int16. PERF: int8/uint8/int16 sources are copied by the typed-array conversion (native, no check
 * needed: every value fits int16), others element by element.
 */
function pack(dst: Int16Array, src: ArrayLike<number>, off: number, ld: number, rows: number, K: number, kp: number): boolean {
  if (src instanceof Int8Array || src instanceof Uint8Array || src instanceof Int16Array) {
    if (kp === K && ld === K) dst.set(src.subarray(off, off + rows * K));
    else {
      for (let r = 0; r < rows; r++) {
        const d = r * kp;
        dst.set(src.subarray(off + r * ld, off + r * ld + K), d);
        dst.fill(0, d + K, d + kp);
      }
    }
  } else {
    for (let r = 0; r < rows; r++) {
      const s = off + r * ld, d = r * kp;
      for (let k = 0; k < K; k++) {
        const v = src[s + k]!;
        if (v > 32767 || v < -32768) return false;
        dst[d + k] = v;
      }
      dst.fill(0, d + K, d + kp);
    }
  }
  dst.fill(0, rows * kp);
  return true;
}

/** linearFloat's y = x W^T + b [T, N] with its exact summation order (see gemm.wat), or undefined. */
export function linearFloatWasm(x: Float64Array, T: number, K: number, N: number, w: Float64Array | Float32Array, bias: Float64Array): Float64Array | undefined {
  const e = enabled && floatShared !== undefined ? floatShared : freshExports();
  if (e === null) return undefined;
  const tp = up(T, 2), np = up(N, 2);
  const xBase = 0, wBase = up(tp * K * 8, 16), bBase = wBase + up(np * K * 8, 16), oBase = bBase + up(np * 8, 16);
  const buf = reserve(e, oBase + tp * np * 8);
  const X = new Float64Array(buf, xBase, tp * K);
  X.set(x.subarray(0, T * K));
  X.fill(0, T * K);
  const W = new Float64Array(buf, wBase, np * K);
  W.set(w.subarray(0, N * K));
  W.fill(0, N * K);
  const Bv = new Float64Array(buf, bBase, np);
  Bv.set(bias.subarray(0, N));
  Bv.fill(0, N);
  e.gemm_f64(xBase, wBase, bBase, tp, np, K, oBase);
  const O = new Float64Array(buf, oBase, tp * np);
  const out = new Float64Array(T * N);
  for (let t = 0; t < T; t++) out.set(O.subarray(t * np, t * np + N), t * N);
  return out;
}
