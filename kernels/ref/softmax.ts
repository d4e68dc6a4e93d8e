// i-exp and i-softmax at run time (docs/IBERT.md section 7), with the inner 16-bit requantization folded to
// one multiplier: e16 = clamp(rne(z * M / 2^(E31 - 30 + q))), y = (e16 * floor(2^32 / sum)) >> 24 in [0, 256].

import { floorDiv, floorShift, mulShiftRne, rneShiftBig, TWO32, TWO53 } from './intmath.js';

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
  const row = new Array<number>(rowLen);
  for (let base = 0, mrow = 0; base < n; base += rowLen, mrow += maskStride) {
    let max = -Infinity;
    for (let j = 0; j < rowLen; j++) {
      const v = mask !== undefined && mask[mrow + j] === 0 ? MASKED_SCORE : x[base + j]!;
      row[j] = v;
      if (v > max) max = v;
    }
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
