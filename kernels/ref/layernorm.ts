// IntLayerNorm at run time (docs/IBERT.md section 8): mu = rne(sum/C), y = x - mu, V = sum((y >> shift)^2),
// sigma = isqrt(V) << shift, f = floor(2^31 / sigma), out = ((y f) >> 1) + q_beta[c]. eps is not used.

import { floorDiv, floorShift, INT64_MAX, INT64_MIN, isqrt, isqrtBig, pow2, rneDiv, TWO31, TWO53 } from './intmath.js';

export interface LayerNormInts {
  readonly qBeta: readonly number[];
  readonly shift: number;
}

/**
 * Rows of C = qBeta.length int32 values (the 22-bit or 16-bit residual sums). Output 64-bit: the ~2^30 normalized
 * value plus q_beta, which exceeds int32 for |beta/gamma| > ~55.
 *
 * Degenerate rows: when sigma = 0 (a constant row, or every |y| below 2^shift) HF computes 0 * inf = NaN. This
 * reference defines out = q_beta[c] for the whole row (the normalized part is taken as 0), see docs/formats.md.
 */
export function layerNormApply(x: Int32Array, k: LayerNormInts): BigInt64Array {
  const C = k.qBeta.length;
  const n = x.length;
  if (C === 0 || n % C !== 0) throw new RangeError(`layerNormApply: ${C} channels do not divide ${n} elements`);
  const shift = k.shift;
  if (!Number.isInteger(shift) || shift < 0 || shift > 31) throw new RangeError(`layerNormApply: shift ${shift} not in 0..31`);
  const out = new BigInt64Array(n);
  const words = new Int32Array(out.buffer); // the same elements as int32 halves (little-endian, as every Node host)
  const y = new Float64Array(C);
  const qBeta = Float64Array.from(k.qBeta);
  const qBetaBig = k.qBeta.map((v) => BigInt(v));
  for (let base = 0; base < n; base += C) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x[base + c]!; // |sum| < C * 2^31 < 2^53 for C < 2^22
    const mu = rneDiv(sum, C);
    let maxYs = 0;
    for (let c = 0; c < C; c++) {
      const yc = x[base + c]! - mu; // |y| < 2^32
      y[c] = yc;
      const ys = floorShift(yc, shift);
      const a = ys < 0 ? -ys : ys;
      if (a > maxYs) maxYs = a;
    }
    let sigma: number;
    if (maxYs * maxYs * C < TWO53 / 2) {
      let V = 0;
      for (let c = 0; c < C; c++) {
        const ys = floorShift(y[c]!, shift);
        V += ys * ys; // every partial sum < 2^52: exact
      }
      sigma = isqrt(V) * pow2(shift); // isqrt(V) < 2^26.5: exact
    } else {
      let V = 0n;
      for (let c = 0; c < C; c++) {
        const ys = BigInt(floorShift(y[c]!, shift));
        V += ys * ys;
      }
      // exact below 2^53; anything larger is > 2^31 and only makes f = 0, which its rounded value does as well
      sigma = Number(isqrtBig(V) << BigInt(shift));
    }
    // sigma = 0: defined result q_beta (HF: NaN). sigma > 2^31: f = 0, the output collapses to q_beta as in HF.
    const f = sigma === 0 ? 0 : floorDiv(TWO31, sigma);
    for (let c = 0; c < C; c++) {
      const p = y[c]! * f;
      let v: bigint;
      if (p < TWO53 && p > -TWO53) {
        // floor(p / 2) = (p - (p mod 2)) / 2: `p & 1` is the parity of ToInt32(p) = p mod 2^32, so of p (exact)
        const h = (p - (p & 1)) / 2;
        const s = h + qBeta[c]!;
        if (s < TWO53 && s > -TWO53) {
          // PERF: an exact double written as its two int32 halves, no BigInt per element: the low word is
          // ToInt32(s) = s mod 2^32, the high word the exact quotient (s - (lo >>> 0)) / 2^32
          const lo = s | 0;
          words[2 * (base + c)] = lo;
          words[2 * (base + c) + 1] = (s - (lo >>> 0)) / 4294967296;
          continue;
        }
        v = BigInt(h) + qBetaBig[c]!;
      } else {
        v = ((BigInt(y[c]!) * BigInt(f)) >> 1n) + qBetaBig[c]!;
      }
      if (v > INT64_MAX || v < INT64_MIN) throw new RangeError(`layerNormApply: output ${v} exceeds int64 (q_beta too large)`);
      out[base + c] = v;
    }
  }
  return out;
}

