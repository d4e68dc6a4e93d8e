// Independent BigInt transcriptions of the spec's integer formulas (docs/IBERT.md sections 3-8), written for
// the tests from the spec text, not from the kernels under test. Every division is a truncating BigInt division
// with an explicit floor or half-even fix-up (helpers.ts), unlike the shift/limb code in kernels/.

import { oClamp, oFloorDiv, oIsqrt, oRneDiv, P2 } from './helpers.js';

/** Section 3: clamp(rne(x m / 2^e) + rne(w m' / 2^e'), -2^(b-1), 2^(b-1) - 1). */
export function oRequant(x: bigint, m: number, e: number, bits: number, id?: { w: bigint; m: number; e: number }): bigint {
  let s = oRneDiv(x * BigInt(m), P2(e));
  if (id !== undefined) s += oRneDiv(id.w * BigInt(id.m), P2(id.e));
  return oClamp(s, -P2(bits - 1), P2(bits - 1) - 1n);
}

/** Section 6: t = sgn(x)((min(|x|, -q_b) + q_b)^2 + q_c); t = floor(t / 2^14); y = x (t + q_1). */
export function oGelu(x: bigint, qb: number, qc: number, q1: number): bigint {
  const B = BigInt(qb);
  const ax = x < 0n ? -x : x;
  const mn = ax < -B ? ax : -B;
  const sgn = x > 0n ? 1n : x < 0n ? -1n : 0n;
  const t = oFloorDiv(sgn * ((mn + B) * (mn + B) + BigInt(qc)), 16384n);
  return x * (t + BigInt(q1));
}

export interface OSoftmaxConsts {
  qLn2: number;
  qb: number;
  qc: number;
  M: number;
  E31: number;
}

/** Section 7 for one row, with the folded 16-bit requantization; masked entries score -2^31. */
export function oSoftmaxRow(xs: readonly bigint[], k: OSoftmaxConsts, mask?: readonly number[]): { y: bigint[]; e16: bigint[] } {
  const vals = xs.map((v, j) => (mask !== undefined && mask[j] === 0 ? -P2(31) : v));
  let max = vals[0]!;
  for (const v of vals) if (v > max) max = v;
  const qLn2 = BigInt(k.qLn2);
  const e16 = vals.map((v) => {
    let t = v - max;
    if (t < 30n * qLn2) t = 30n * qLn2;
    const q = oFloorDiv(t, qLn2);
    const r = t - qLn2 * q;
    const z = (r + BigInt(k.qb)) * r + BigInt(k.qc);
    if (z * P2(30 - Number(q)) <= 0n) return 0n; // the reference clamps E = z << (30 - q) at 0
    const sh = k.E31 - 30 + Number(q);
    const e = sh >= 0 ? oRneDiv(z * BigInt(k.M), P2(sh)) : z * BigInt(k.M) * P2(-sh);
    return oClamp(e, -32768n, 32767n);
  });
  const sum = e16.reduce((a, b) => a + b, 0n);
  if (sum <= 0n) return { y: e16.map(() => 0n), e16 };
  const f = oFloorDiv(P2(32), sum);
  return { y: e16.map((e) => oFloorDiv(e * f, P2(24))), e16 };
}

/** Section 8 for one row; sigma = 0 gives q_beta (the reference's definition of HF's NaN). */
export function oLayerNormRow(xs: readonly bigint[], qBeta: readonly number[], shift: number): bigint[] {
  const C = BigInt(xs.length);
  const mu = oRneDiv(xs.reduce((a, b) => a + b, 0n), C);
  const y = xs.map((v) => v - mu);
  const V = y.reduce((a, v) => {
    const ys = oFloorDiv(v, P2(shift));
    return a + ys * ys;
  }, 0n);
  const sigma = oIsqrt(V) * P2(shift);
  if (sigma === 0n) return qBeta.map((b) => BigInt(b));
  const f = oFloorDiv(P2(31), sigma);
  return y.map((v, c) => oFloorDiv(v * f, 2n) + BigInt(qBeta[c]!));
}

/** y[m, n] = b[n] + sum_k x[m, k] w[n, k]. */
export function oLinear(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): bigint[] {
  const out: bigint[] = [];
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = BigInt(b[n]!);
      for (let k = 0; k < K; k++) s += BigInt(x[m * K + k]!) * BigInt(w[n * K + k]!);
      out.push(s);
    }
  }
  return out;
}

/** Independent frexp31: exact dyadic decomposition by repeated doubling, then rhaz in BigInt. */
export function oFrexp31(r: number): { m: number; e: number } {
  if (r === 0) return { m: 0, e: 31 };
  const neg = r < 0;
  let a = Math.abs(r);
  // a = A * 2^E with A a safe integer
  let E = 0;
  while (!Number.isInteger(a)) {
    a *= 2;
    E -= 1;
  }
  while (a > Number.MAX_SAFE_INTEGER) {
    a /= 2;
    E += 1;
  }
  const A = BigInt(a);
  // k with 2^(k-1) <= |r| < 2^k: bit length of A plus E
  const k = A.toString(2).length + E;
  // |mu| * 2^31 = A * 2^(E + 31 - k), rounded half away from zero
  const s = E + 31 - k;
  let m: bigint;
  if (s >= 0) m = A * P2(s);
  else {
    const d = P2(-s);
    const q = A / d;
    m = 2n * (A - q * d) >= d ? q + 1n : q;
  }
  return { m: Number(neg ? -m : m), e: 31 - k };
}
