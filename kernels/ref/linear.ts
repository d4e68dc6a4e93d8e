// Integer matrix products of the reference (QuantLinear, section 4; Q.K^T and P.V, section 9 steps 3 and 5):
// int8 x int8 (or 9-bit probabilities x int8) MACs accumulated exactly, plus the int32 bias.

import { KernelInputError } from './errors.js';
import type { IntData, SmallIntArray } from './tensor.js';
import { gemmABtWasm, WASM_MIN_MACS } from './wasm-gemm.js';

function maxAbs(a: SmallIntArray, off: number, len: number): number {
  let m = 0;
  for (let i = off; i < off + len; i++) {
    const v = a[i]!;
    const av = v < 0 ? -v : v;
    if (av > m) m = av;
  }
  return m;
}

/** The largest |v| an array of this element type can hold. */
function typeMaxAbs(a: SmallIntArray): number {
  if (a instanceof Int8Array) return 128;
  if (a instanceof Uint8Array) return 255;
  if (a instanceof Int16Array) return 32768;
  if (a instanceof Uint16Array) return 65535;
  return 2147483648;
}

/**
 * out[m*ldo + n] = sum_k a[aOff + m*lda + k] * b[bOff + n*ldb + k]  (A . B^T, both row-major along k).
 * Sums are exact doubles and fit int32: the caller's operands satisfy K * max|a| * max|b| < 2^31 (checked in
 * `dotBound`).
 */
export function gemmABt(
  a: SmallIntArray, aOff: number, lda: number,
  b: SmallIntArray, bOff: number, ldb: number,
  M: number, N: number, K: number,
  out: Int32Array, outOff: number, ldo: number,
): void {
  if (M * N * K >= WASM_MIN_MACS && gemmABtWasm(a, aOff, lda, b, bOff, ldb, M, N, K, out, outOff, ldo)) return;
  gemmABtTs(a, aOff, lda, b, bOff, ldb, M, N, K, out, outOff, ldo);
}

/** gemmABt in TypeScript: the definition the WebAssembly path (wasm-gemm.ts) is tested against. */
export function gemmABtTs(
  a: SmallIntArray, aOff: number, lda: number,
  b: SmallIntArray, bOff: number, ldb: number,
  M: number, N: number, K: number,
  out: Int32Array, outOff: number, ldo: number,
): void {
  // PERF: 4x4 register block (16 MACs per 8 loads), 4x faster than a naive dot loop on V8.
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    const a0 = aOff + m * lda;
    const a1 = a0 + lda;
    const a2 = a1 + lda;
    const a3 = a2 + lda;
    const o0 = outOff + m * ldo;
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      const b0 = bOff + n * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = a[a0 + k]!, x1 = a[a1 + k]!, x2 = a[a2 + k]!, x3 = a[a3 + k]!;
        const w0 = b[b0 + k]!, w1 = b[b1 + k]!, w2 = b[b2 + k]!, w3 = b[b3 + k]!;
        c00 += x0 * w0; c01 += x0 * w1; c02 += x0 * w2; c03 += x0 * w3;
        c10 += x1 * w0; c11 += x1 * w1; c12 += x1 * w2; c13 += x1 * w3;
        c20 += x2 * w0; c21 += x2 * w1; c22 += x2 * w2; c23 += x2 * w3;
        c30 += x3 * w0; c31 += x3 * w1; c32 += x3 * w2; c33 += x3 * w3;
      }
      const p = o0 + n;
      out[p] = c00; out[p + 1] = c01; out[p + 2] = c02; out[p + 3] = c03;
      out[p + ldo] = c10; out[p + ldo + 1] = c11; out[p + ldo + 2] = c12; out[p + ldo + 3] = c13;
      out[p + 2 * ldo] = c20; out[p + 2 * ldo + 1] = c21; out[p + 2 * ldo + 2] = c22; out[p + 2 * ldo + 3] = c23;
      out[p + 3 * ldo] = c30; out[p + 3 * ldo + 1] = c31; out[p + 3 * ldo + 2] = c32; out[p + 3 * ldo + 3] = c33;
    }
    for (; n < N; n++) {
      const b0 = bOff + n * ldb;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let k = 0; k < K; k++) {
        const w = b[b0 + k]!;
        c0 += a[a0 + k]! * w; c1 += a[a1 + k]! * w; c2 += a[a2 + k]! * w; c3 += a[a3 + k]! * w;
      }
      out[o0 + n] = c0; out[o0 + ldo + n] = c1; out[o0 + 2 * ldo + n] = c2; out[o0 + 3 * ldo + n] = c3;
    }
  }
  for (; m < M; m++) {
    const a0 = aOff + m * lda;
    for (let n = 0; n < N; n++) {
      const b0 = bOff + n * ldb;
      let c = 0;
      for (let k = 0; k < K; k++) c += a[a0 + k]! * b[b0 + k]!;
      out[outOff + m * ldo + n] = c;
    }
  }
}

/** Throws unless K * max|a| * max|b| < 2^31, which makes every dot product an exact int32. */
export function dotBound(a: SmallIntArray, b: SmallIntArray, K: number): void {
  // PERF: when the element types alone keep the bound below 2^31 (int8 x int8 for K < 131072), skip the scans
  // (the weight matrix is millions of elements).
  const ta = typeMaxAbs(a), tb = typeMaxAbs(b);
  if (K * ta * tb < 2147483648) return;
  // scan only an operand whose type says little (the [H, T, T] Int32Array probabilities, not the int8 values)
  const ma = ta <= 65535 ? ta : maxAbs(a, 0, a.length);
  const mb = tb <= 65535 ? tb : maxAbs(b, 0, b.length);
  if (K * ma * mb < 2147483648) return;
  const bound = K * maxAbs(a, 0, a.length) * maxAbs(b, 0, b.length);
  if (bound >= 2147483648) {
    throw new RangeError(`dot products may reach ${bound} >= 2^31 (K = ${K}); operands too wide for the int32 accumulator`);
  }
}

function checkDims(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number>, M: number, K: number, N: number): void {
  for (const [name, v] of [['M', M], ['K', K], ['N', N]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new KernelInputError(`${name}: ${v} is not a non-negative integer`);
  }
  if (x.length !== M * K) throw new KernelInputError(`x: length ${x.length} != M*K = ${M * K}`);
  if (w.length !== N * K) throw new KernelInputError(`weight: length ${w.length} != N*K = ${N * K}`);
  if (bias.length !== N) throw new KernelInputError(`bias: length ${bias.length} != N = ${N}`);
}

/**
 * QuantLinear run time (section 4): y[m,n] = bias[n] + sum_k x[m,k] * w[n,k], x [M,K], w [N,K] row-major.
 * The dot products are exact (|sum| <= K*128*128 < 2^31 for K <= 131071); adding the bias wraps to int32
 * with `| 0`, as an int32 accumulator does (only reachable with |bias| near 2^31, i.e. the saturated-bias quirk).
 */
export function linearRef(x: Int8Array, w: Int8Array, bias: Int32Array, M: number, K: number, N: number): Int32Array {
  checkDims(x, w, bias, M, K, N);
  if (K > 131071) throw new KernelInputError(`K: ${K} > 131071 would overflow the int32 dot product`);
  const out = new Int32Array(M * N);
  gemmABt(x, 0, K, w, 0, K, M, N, K, out, 0, N);
  for (let m = 0; m < M; m++) {
    const row = m * N;
    for (let n = 0; n < N; n++) out[row + n] = (out[row + n]! + bias[n]!) | 0;
  }
  return out;
}

/**
 * QuantLinear without wrapping: the exact accumulator, including the saturated bias of +2^31 that the weight
 * quantizer's float32 clamp bound produces (section 2). Int32Array unless a value leaves int32.
 */
export function linearAcc(x: SmallIntArray, w: Int8Array, bias: ArrayLike<number>, M: number, K: number, N: number): IntData {
  checkDims(x, w, bias, M, K, N);
  dotBound(x, w, K);
  const dots = new Int32Array(M * N);
  gemmABt(x, 0, K, w, 0, K, M, N, K, dots, 0, N);
  // dot + bias is an exact double (|dot| < 2^31, |bias| <= 2^31); keep int32 storage when every sum fits.
  let fits = true;
  for (let m = 0; m < M && fits; m++) {
    for (let n = 0; n < N; n++) {
      const s = dots[m * N + n]! + bias[n]!;
      if (s > 2147483647 || s < -2147483648) {
        fits = false;
        break;
      }
    }
  }
  if (fits) {
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) dots[m * N + n] = dots[m * N + n]! + bias[n]!;
    return dots;
  }
  const out = new BigInt64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) out[m * N + n] = BigInt(dots[m * N + n]! + bias[n]!);
  return out;
}
