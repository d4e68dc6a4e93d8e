// i-exp and i-softmax at run time (docs/IBERT.md section 7), with the inner 16-bit requantization folded to
// one multiplier: e16 = clamp(rne(z * M / 2^(E31 - 30 + q))), y = (e16 * floor(2^32 / sum)) >> 24 in [0, 256].

import { floorDiv, floorShift, mulShiftRne, pow2, rneScaled, rneShiftBig, TWO32, TWO53 } from './intmath.js';

/** Integer constants from fold.ts foldSoftmax. */
export interface SoftmaxInts {
  readonly qLn2: number;
  readonly qb: number;
  readonly qc: number;
  readonly M: number;
  readonly E31: number;
}

const N_CONST = 30;
/** Score given to masked positions: int32 min, always <= max + 30 q_ln2 for realistic scales (section 7). */
export const MASKED_SCORE = -2147483648;

/** i-exp of t <= 0 (already x - max): q = floor(t'/q_ln2) in 0..30 and z, with E = z * 2^(30 - q). */
export function iexp(t: number, k: SoftmaxInts): { q: number; z: number | bigint } {
  const lo = N_CONST * k.qLn2;
  const tc = t < lo ? lo : t;
  const q = floorDiv(tc, k.qLn2); // both operands <= 0, |t| <= 30|q_ln2| < 2^53
  const r = tc - k.qLn2 * q; // in (q_ln2, 0]
  const a = (r + k.qb) * r;
  if (a < TWO53 / 2 && a > -TWO53 / 2 && k.qc < TWO53 / 2) return { q, z: a + k.qc };
  return { q, z: (BigInt(r) + BigInt(k.qb)) * BigInt(r) + BigInt(k.qc) };
}

/** e16 = clamp(rne(E * R), -32768, 32767) in its folded form, with the reference's clamp of E at 0. */
export function exp16(z: number | bigint, q: number, k: SoftmaxInts): number {
  if (z <= 0) return 0; // floor(z * 2^(30-q)) is clamped at 0 by the reference (never acts for real constants)
  const sh = k.E31 - N_CONST + q;
  const v = typeof z === 'number' ? mulShiftRne(z, k.M, sh) : Number(rneShiftBig(z * BigInt(k.M), sh));
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

export interface SoftmaxResult {
  /** probabilities, integers in [0, 256], scale 2^-8 */
  readonly y: Int32Array;
  /** the inner QuantAct(16) output, in [0, 32767] */
  readonly e16: Int32Array;
}

/**
 * Softmax over rows of `rowLen` (the last dimension). `mask` (1 = attend, 0 = masked) has either one entry per
 * element or one per row position (an HF key mask broadcast to every row). A masked score takes the value int32
 * min, the integer equivalent of HF's float mask: it clamps to q = 30 and contributes e16 = rne(q_c R) = 0 under
 * the fixed-point calibration. A fully masked row is therefore uniform (as HF with the -10000 mask). A row whose
 * e16 sum is 0 (only possible with a far too large inner range) outputs zeros where HF would divide by zero.
 */
export function softmaxApply(x: Int32Array, rowLen: number, k: SoftmaxInts, mask?: ArrayLike<number>): SoftmaxResult {
  const n = x.length;
  if (!(rowLen > 0) || n % rowLen !== 0) throw new RangeError(`softmaxApply: row length ${rowLen} does not divide ${n}`);
  if (mask !== undefined && mask.length !== n && mask.length !== rowLen) {
    throw new RangeError(`softmaxApply: mask length ${mask.length} is neither ${n} nor the row length ${rowLen}`);
  }
  const maskStride = mask === undefined ? 0 : mask.length === n ? rowLen : 0;
  const y = new Int32Array(n);
  const e16 = new Int32Array(n);
  const ms = scaledConsts(k);
  if (ms !== undefined) {
    softmaxScaled(x, rowLen, k, ms, mask, maskStride, y, e16);
    return { y, e16 };
  }
  const row = new Float64Array(rowLen);
  for (let base = 0, mrow = 0; base < n; base += rowLen, mrow += maskStride) {
    const max = maskedRow(x, base, rowLen, mask, mrow, row);
    let sum = 0;
    for (let j = 0; j < rowLen; j++) {
      const { q, z } = iexp(row[j]! - max, k);
      const e = exp16(z, q, k);
      e16[base + j] = e;
      sum += e; // <= rowLen * 32767: exact
    }
    if (sum <= 0) continue;
    const f = floorDiv(TWO32, sum);
    for (let j = 0; j < rowLen; j++) y[base + j] = floorShift(e16[base + j]! * f, 24); // e16 * f <= 2^32: exact
  }
  return { y, e16 };
}

/** One row of scores into `row`, masked positions at MASKED_SCORE; returns the row's maximum. */
function maskedRow(x: Int32Array, base: number, rowLen: number, mask: ArrayLike<number> | undefined, mrow: number, row: Float64Array): number {
  let max = -Infinity;
  for (let j = 0; j < rowLen; j++) {
    const v = mask !== undefined && mask[mrow + j] === 0 ? MASKED_SCORE : x[base + j]!;
    row[j] = v;
    if (v > max) max = v;
  }
  return max;
}

/**
 * ms[q] = M 2^-(E31 - 30 + q) for q = 0..30 when softmaxScaled applies: M a positive safe integer (so e16 >= 0),
 * every shift in [0, 1000] (rneScaled's range), q_ln2 < 0, and z = (r + q_b) r + q_c exact for r in (q_ln2, 0].
 */
function scaledConsts(k: SoftmaxInts): Float64Array | undefined {
  const { qLn2, qb, qc, M, E31 } = k;
  if (!Number.isSafeInteger(qLn2) || !(qLn2 < 0) || !Number.isSafeInteger(qb) || !Number.isSafeInteger(qc)) return undefined;
  if (!Number.isSafeInteger(M) || !(M > 0) || !Number.isInteger(E31)) return undefined;
  const aq = -qLn2, ab = qb < 0 ? -qb : qb, ac = qc < 0 ? -qc : qc;
  if (!((aq + ab) * aq + ac < TWO53)) return undefined;
  const ms = new Float64Array(N_CONST + 1);
  for (let q = 0; q <= N_CONST; q++) {
    const sh = E31 - N_CONST + q;
    if (sh < 0 || sh > 1000) return undefined;
    ms[q] = M * pow2(-sh);
  }
  return ms;
}

/**
 * softmaxApply's loop with iexp and exp16 inlined on exact doubles (PERF: no object or BigInt per element): t - max
 * and 30 q_ln2 are exact; q = floor(tc / q_ln2) in [0, 30] is floorDiv's exact quotient truncated by `| 0` (a
 * non-negative value below 2^31); z is exact by scaledConsts' bound; e16 = clamp(rne(z M / 2^sh)) is rneScaled of
 * v = z ms[q] when v <= 32768 and 32767 beyond (rneScaled's clamp rule); y = floor(e16 f / 2^24) with
 * 0 <= e16 f <= 2^32, an exact quotient truncated by `| 0`.
 */
function softmaxScaled(
  x: Int32Array, rowLen: number, k: SoftmaxInts, ms: Float64Array, mask: ArrayLike<number> | undefined, maskStride: number,
  y: Int32Array, e16: Int32Array,
): void {
  const n = x.length;
  const { qLn2, qb, qc, M } = k;
  const lo = N_CONST * qLn2;
  const row = new Float64Array(rowLen);
  for (let base = 0, mrow = 0; base < n; base += rowLen, mrow += maskStride) {
    const max = maskedRow(x, base, rowLen, mask, mrow, row);
    let sum = 0;
    for (let j = 0; j < rowLen; j++) {
      const t = row[j]! - max;
      const tc = t < lo ? lo : t;
      const q = (tc / qLn2) | 0;
      const r = tc - qLn2 * q;
      const z = (r + qb) * r + qc;
      let e = 0;
      if (z > 0) {
        const v = z * ms[q]!;
        e = v > 32768 ? 32767 : rneScaled(z, M, v);
        if (e > 32767) e = 32767;
      }
      e16[base + j] = e;
      sum += e; // <= rowLen * 32767: exact
    }
    if (sum <= 0) continue;
    const f = floorDiv(TWO32, sum);
    for (let j = 0; j < rowLen; j++) y[base + j] = (e16[base + j]! * f / 16777216) | 0;
  }
}
