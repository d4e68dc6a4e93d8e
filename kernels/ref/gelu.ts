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
