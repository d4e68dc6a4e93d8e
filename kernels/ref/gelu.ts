// i-GELU at run time (docs/IBERT.md section 6): t = sgn(x)((min(|x|, -q_b) + q_b)^2 + q_c) >> 14,
// y = x (t + q_1). Outputs are 64-bit (up to 2^47.6 measured, 2^60 for int32 inputs at S = 1e-6).

import { floorShift, TWO53, INT64_MAX, INT64_MIN } from './intmath.js';
import type { IntData } from './tensor.js';

/** Integer constants per channel (length 1 = per tensor), from fold.ts foldGelu. */
export interface GeluInts {
  readonly qb: readonly number[];
  readonly qc: readonly number[];
  readonly q1: readonly number[];
}

const SHIFT = 14;
const TWO52 = TWO53 / 2;

function geluBig(x: bigint, qb: bigint, qc: bigint, q1: bigint): bigint {
  const ax = x < 0n ? -x : x;
  const a = (ax < -qb ? ax : -qb) + qb;
  const sgn = x > 0n ? 1n : x < 0n ? -1n : 0n;
  const t = (sgn * (a * a + qc)) >> BigInt(SHIFT); // BigInt >> floors, like the reference's floor_ste
  return x * (t + q1);
}

/**
 * Element-wise i-GELU over the last dimension's channels. Number arithmetic where every intermediate is provably
 * below 2^53 (checked per channel: q_b^2, |q_c|, |q_1| < 2^52, and the final product by its rounded value),
 * BigInt otherwise. Throws RangeError if an output leaves int64 (S far below 1e-6).
 */
export function geluApply(x: IntData, k: GeluInts): BigInt64Array {
  const C = k.qb.length;
  const n = x.length;
  if (C === 0 || k.qc.length !== C || k.q1.length !== C || n % C !== 0) {
    throw new RangeError(`geluApply: ${C} channel constants do not divide ${n} elements`);
  }
  const narrow: boolean[] = [];
  for (let c = 0; c < C; c++) {
    const qb = k.qb[c]!, qc = k.qc[c]!, q1 = k.q1[c]!;
    narrow.push(qb * qb < TWO52 && Math.abs(qc) < TWO52 && Math.abs(q1) < TWO52);
  }
  const out = new BigInt64Array(n);
  const words = new Int32Array(out.buffer); // the same elements as int32 halves (little-endian, as every Node host)
  if (x instanceof Int32Array && geluInt32(x, k, words)) return out;
  for (let i = 0, c = 0; i < n; i++) {
    const xv = x[i]!;
    let y: bigint;
    if (typeof xv === 'number' && narrow[c]! && xv < TWO53 && xv > -TWO53) {
      const qb = k.qb[c]!;
      const ax = xv < 0 ? -xv : xv;
      const a = (ax < -qb ? ax : -qb) + qb; // in [q_b, 0]
      const poly = a * a + k.qc[c]!; // |.| < 2^53: exact
      const t = floorShift(xv > 0 ? poly : xv < 0 ? -poly : 0, SHIFT);
      const s = t + k.q1[c]!;
      const p = xv * s;
      if (p < TWO53 && p > -TWO53) {
        // PERF: an exact double written as its two int32 halves, no BigInt per element
        const h = Math.floor(p / 4294967296);
        words[2 * i] = (p - h * 4294967296) | 0;
        words[2 * i + 1] = h | 0;
        if (++c === C) c = 0;
        continue;
      }
      y = BigInt(xv) * BigInt(s);
    } else {
      y = geluBig(BigInt(xv), BigInt(k.qb[c]!), BigInt(k.qc[c]!), BigInt(k.q1[c]!));
    }
    if (y > INT64_MAX || y < INT64_MIN) throw new RangeError(`geluApply: output ${y} at element ${i} exceeds int64`);
    out[i] = y;
    if (++c === C) c = 0;
  }
  return out;
}

/**
 * geluApply on int32 inputs when every channel has q_b^2 + |q_c| < 2^31 and |q_1| < 2^52 (false otherwise, nothing
 * written). PERF: integer ops only, no call per element. poly = (min(|x|, -q_b) + q_b)^2 + q_c fits int32, so
 * floor(sgn(x) poly / 2^14) is `>> 14`; s = t + q_1 and p = x s are exact while |p| < 2^53 (checked per element,
 * BigInt beyond). p goes to its int64 words: the low word is ToInt32(p) (p mod 2^32, exact for any integer double),
 * the high word (p - (lo >>> 0)) / 2^32, an exact quotient.
 */
function geluInt32(x: Int32Array, k: GeluInts, words: Int32Array): boolean {
  const C = k.qb.length;
  const qb = Float64Array.from(k.qb), qc = Float64Array.from(k.qc), q1 = Float64Array.from(k.q1);
  for (let c = 0; c < C; c++) {
    const b = qb[c]!, cc = qc[c]!, q = q1[c]!;
    if (!(b <= 0 && b * b + (cc < 0 ? -cc : cc) < 2147483648 && q < TWO52 && q > -TWO52)) return false;
  }
  const n = x.length;
  for (let i = 0, c = 0; i < n; i++) {
    const xv = x[i]!;
    const b = qb[c]!;
    const ax = xv < 0 ? -xv : xv;
    const a = (ax < -b ? ax : -b) + b;
    const poly = a * a + qc[c]!;
    const t = (xv > 0 ? poly : xv < 0 ? -poly : 0) >> 14;
    const s = t + q1[c]!;
    const p = xv * s;
    if (p < TWO53 && p > -TWO53) {
      const lo = p | 0;
      words[2 * i] = lo;
      words[2 * i + 1] = (p - (lo >>> 0)) / 4294967296;
    } else {
      const y = BigInt(xv) * BigInt(s);
      if (y > INT64_MAX || y < INT64_MIN) throw new RangeError(`geluApply: output ${y} at element ${i} exceeds int64`);
      words[2 * i] = Number(BigInt.asIntN(32, y));
      words[2 * i + 1] = Number(y >> 32n);
    }
    if (++c === C) c = 0;
  }
  return true;
}
