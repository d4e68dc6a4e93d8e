// The simulator's audited exact-integer helpers: the VPU's widening multiply with a rounding right
// shift. A 32x32 product needs 63 bits, more than a double holds, so it is formed exactly as two 32-bit
// halves from 16-bit partial products (each below 2^47) and rounded on the pair. No BigInt on this path.
// (kernels/ has its own, independent implementation; the tests hold the two against a BigInt oracle.)

const P32 = 4294967296;
/** POW2[i] = 2^i for i in 0..64, exact doubles (no ** on the runtime path). */
const POW2: Float64Array = (() => {
  const t = new Float64Array(65);
  t[0] = 1;
  for (let i = 1; i < 65; i++) t[i] = t[i - 1]! * 2;
  return t;
})();

export const RMODE_FLOOR = 0;
export const RMODE_RNE = 1;
export const RMODE_RHAZ = 2;
export const RMODE_TRUNC = 3;
export const SAT_WRAP32 = 0;
export const SAT_8 = 1;
export const SAT_16 = 2;
export const SAT_32 = 3;

function clampTo(q: number, sat: number): number {
  if (sat === SAT_8) return q < -128 ? -128 : q > 127 ? 127 : q;
  if (sat === SAT_16) return q < -32768 ? -32768 : q > 32767 ? 32767 : q;
  return q < -2147483648 ? -2147483648 : q > 2147483647 ? 2147483647 : q;
}

/**
 * sat(round(a * b / 2^shift)) for int32 a, b and shift in 0..127, exact in every rounding mode.
 * wrap32 keeps the low 32 bits of the rounded quotient (two's complement), like a 64-bit datapath
 * whose result is truncated to a 32-bit register.
 */
export function mulRoundShift(a: number, b: number, shift: number, rmode: number, sat: number): number {
  return mulAddRoundShift(a, b, 0, shift, rmode, sat);
}

/** sat(round((a * b + c) / 2^shift)) for int32 a, b, c: the same, with an addend inside the 64 bits. */
export function mulAddRoundShift(a: number, b: number, c: number, shift: number, rmode: number, sat: number): number {
  // PERF: when a*b + c is an exact double (|.| < 2^53: the product of a 22-bit value and a 31-bit multiplier, a small
  // MAC) and shift <= 52, the same quotient, remainder and rounding on the double directly. Exact: the rounded product
  // or sum reaches 2^53 whenever the true one does (rounding is monotone); p / 2^shift is a power-of-two scaling, so
  // its floor q is exact, and r = p - q 2^shift is an integer in [0, 2^52). Kept small, so that the VPU's lane loops
  // inline it; wider products take mulAddRoundShiftWide.
  const ab = a * b;
  const p = ab + c;
  if (ab < TWO53 && ab > -TWO53 && p < TWO53 && p > -TWO53 && shift <= 52) {
    if (shift === 0) return sat === SAT_WRAP32 ? p | 0 : clampTo(p, sat);
    const pw = POW2[shift]!;
    const q = Math.floor(p / pw);
    const r = p - q * pw;
    const half = pw / 2;
    let inc = 0;
    if (rmode === RMODE_RNE) inc = r > half || (r === half && (q & 1) !== 0) ? 1 : 0;
    else if (rmode === RMODE_RHAZ) inc = r > half || (r === half && p >= 0) ? 1 : 0;
    else if (rmode === RMODE_TRUNC) inc = p < 0 && r !== 0 ? 1 : 0;
    if (sat === SAT_WRAP32) return ((q | 0) + inc) | 0;
    return clampTo(q + inc, sat);
  }
  return mulAddRoundShiftWide(a, b, c, shift, rmode, sat);
}

/**
 * sat(q + the rounding increment) for q = floor(p / 2^shift) and the remainder r = p - q 2^shift in [0, 2^shift),
 * exact integers (|q| < 2^53, shift >= 1). p < 0 exactly when q < 0. (The fast path above rounds the same way inline.)
 */
function roundQuotient(q: number, r: number, shift: number, rmode: number, sat: number): number {
  const half = POW2[shift - 1]!;
  let inc = 0;
  if (rmode === RMODE_RNE) inc = r > half || (r === half && (q & 1) !== 0) ? 1 : 0;
  else if (rmode === RMODE_RHAZ) inc = r > half || (r === half && q >= 0) ? 1 : 0;
  else if (rmode === RMODE_TRUNC) inc = q < 0 && r !== 0 ? 1 : 0;
  if (sat === SAT_WRAP32) return ((q | 0) + inc) | 0;
  return clampTo(q + inc, sat);
}

const TWO53 = 9007199254740992;

/** mulAddRoundShift on the exact 64-bit product as two 32-bit halves (all int32 operands). */
function mulAddRoundShiftWide(a: number, b: number, c: number, shift: number, rmode: number, sat: number): number {
  if (shift >= 16 && shift <= 53) {
    // PERF: all int32 operands at 16 <= shift <= 53 (a 32-bit value times a requantization multiplier: LayerNorm's and
    // the rescales' wide lanes), on doubles: with a = ah 2^16 + al (ah = a >> 16, al = a & 0xffff), p = ah*b 2^16 + t
    // where t = al*b + c (|ah*b| <= 2^46, |t| < 2^48: exact). t = f 2^16 + t0 (f = floor(t / 2^16), t0 in [0, 2^16))
    // gives p = u 2^16 + t0 with u = ah*b + f (|u| < 2^48), so q = floor(u / 2^(shift-16)) (the fraction t0 / 2^16 < 1
    // cannot carry u past a multiple of 2^(shift-16)) and r = (u - q 2^(shift-16)) 2^16 + t0 < 2^shift <= 2^53: every
    // step an exact integer.
    const t = (a & 0xffff) * b + c;
    const f = Math.floor(t / 65536);
    const u = (a >> 16) * b + f;
    const pw = POW2[shift - 16]!;
    const q = Math.floor(u / pw);
    return roundQuotient(q, (u - q * pw) * 65536 + (t - f * 65536), shift, rmode, sat);
  }
  // p = a*b + c = H*2^32 + L exactly, L in [0, 2^32), H an int32 (|a*b| <= 2^62, so no overflow).
  const bh = b >> 16;
  const bl = b & 0xffff;
  const t1 = a * bh;
  const t2 = a * bl + c;
  const t1h = Math.floor(t1 / 65536);
  const s = (t1 - t1h * 65536) * 65536 + t2;
  const sh = Math.floor(s / P32);
  const L = s - sh * P32;
  const H = t1h + sh;
  const neg = H < 0;

  if (shift === 0) {
    if (sat === SAT_WRAP32) return L | 0;
    return clampTo(H * P32 + L, sat); // inexact only beyond 2^53, where it saturates anyway
  }
  if (shift >= 64) {
    // |p| < 2^63, so |p / 2^shift| < 1/2: every mode but floor gives 0; floor gives -1 for p < 0.
    return rmode === RMODE_FLOOR && neg ? -1 : 0;
  }
  let q: number; // floor(p / 2^shift), exact while |q| < 2^53
  let low: number; // floor(p / 2^shift) mod 2^32 as int32, always exact
  let above: boolean; // remainder > half
  let tie: boolean; // remainder == half
  let zero: boolean; // remainder == 0
  if (shift <= 32) {
    const pw = POW2[shift]!;
    const lq = Math.floor(L / pw);
    const r = L - lq * pw;
    q = H * POW2[32 - shift]! + lq;
    low = ((H << (32 - shift)) + lq) | 0;
    const half = pw / 2;
    above = r > half;
    tie = r === half;
    zero = r === 0;
  } else {
    const pw = POW2[shift - 32]!;
    q = Math.floor(H / pw);
    low = q | 0;
    const hr = H - q * pw; // high part of the remainder, in [0, pw)
    const halfH = pw / 2; // half = halfH * 2^32
    above = hr > halfH || (hr === halfH && L > 0);
    tie = hr === halfH && L === 0;
    zero = hr === 0 && L === 0;
  }
  let inc = 0;
  switch (rmode) {
    case RMODE_RNE:
      inc = above || (tie && (low & 1) === 1) ? 1 : 0;
      break;
    case RMODE_RHAZ:
      inc = above || (tie && !neg) ? 1 : 0;
      break;
    case RMODE_TRUNC:
      inc = neg && !zero ? 1 : 0;
      break;
    default:
      inc = 0;
  }
  if (sat === SAT_WRAP32) return (low + inc) | 0;
  return clampTo(q + inc, sat);
}

/**
 * Two int32 dot products packed in one double (the MXU's hot loop): s = lo + hi * 2^26 with |lo| < 2^25
 * and |s| < 2^50. Rounding s / 2^26 to nearest recovers hi exactly because |lo / 2^26| < 1/2; the
 * floor(v + 1/2) form is exact here (v has at most 24 integer and 26 fraction bits) and faster in V8.
 */
export const PACK = 67108864; // 2^26
const INV_PACK = 1 / PACK; // exact: a power of two
export function unpackHigh(s: number): number {
  return Math.floor(s * INV_PACK + 0.5);
}

/** round(a / b) in a rounding mode, exact for int32 a, b (b != 0), saturated to int32. */
export function roundDiv(a: number, b: number, rmode: number): number {
  if (b < 0) {
    a = -a;
    b = -b;
  }
  // For |a|, |b| < 2^32 the double quotient's error is below 1/b, so its floor is exact.
  const q = Math.floor(a / b);
  const r = a - q * b; // in [0, b)
  let inc = 0;
  if (rmode === RMODE_RNE) inc = 2 * r > b || (2 * r === b && (q & 1) !== 0) ? 1 : 0;
  else if (rmode === RMODE_RHAZ) inc = 2 * r > b || (2 * r === b && q >= 0) ? 1 : 0;
  else if (rmode === RMODE_TRUNC) inc = q < 0 && r !== 0 ? 1 : 0;
  return clampTo(q + inc, SAT_32);
}

/** The same for a BigInt dividend (64-bit register pairs), saturated to int32. */
export function roundDivBig(a: bigint, b: bigint, rmode: number): number {
  if (b < 0n) {
    a = -a;
    b = -b;
  }
  let q = a / b;
  if (a < 0n && q * b !== a) q -= 1n; // BigInt division truncates: make it a floor
  const r = a - q * b;
  let inc = 0n;
  if (rmode === RMODE_RNE) inc = 2n * r > b || (2n * r === b && (q & 1n) !== 0n) ? 1n : 0n;
  else if (rmode === RMODE_RHAZ) inc = 2n * r > b || (2n * r === b && q >= 0n) ? 1n : 0n;
  else if (rmode === RMODE_TRUNC) inc = q < 0n && r !== 0n ? 1n : 0n;
  const v = q + inc;
  return v > 2147483647n ? 2147483647 : v < -2147483648n ? -2147483648 : Number(v);
}

/** floor(sqrt(v)) for 0 <= v < 2^62, exact: a double estimate corrected by integer comparisons. */
export function isqrtBig(v: bigint): number {
  let x = BigInt(Math.floor(Math.sqrt(Number(v))));
  while (x * x > v) x -= 1n;
  while ((x + 1n) * (x + 1n) <= v) x += 1n;
  return Number(x);
}

/** A 64-bit register pair (low word as int32, high word) as a BigInt, and back. */
export function pairToBig(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}
export function bigToPair(v: bigint): [number, number] {
  return [Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n))];
}

/**
 * The 64-bit accumulations of vredsum.w / vredsumsq.w without BigInt (PERF: a BigInt per lane was most of those
 * instructions' time). The new pair goes to PAIR_SUM as two exact doubles: [0] the low word in [0, 2^32), [1] the high
 * word, an integer that may lie outside int32 when the sum left the signed 64-bit range (the functions then return
 * false; the caller reports PAIR_SUM[1] * 2^32 + PAIR_SUM[0], exact, in its fault).
 */
export const PAIR_SUM = new Float64Array(2);

/** (hi, lo) pair + sH * 2^32 + sL into PAIR_SUM, for integers |sH| < 2^50 and |sL| < 2^52; true when it fits 64 bits. */
function addToPair(lo: number, hi: number, sH: number, sL: number): boolean {
  const c = Math.floor(sL / P32); // exact: a power-of-two scaling, then floor
  const l = (lo >>> 0) + (sL - c * P32); // in [0, 2^33)
  const c2 = l >= P32 ? 1 : 0;
  const h = hi + sH + c + c2; // exact: |.| < 2^51
  PAIR_SUM[0] = l - c2 * P32;
  PAIR_SUM[1] = h;
  return h >= -2147483648 && h <= 2147483647;
}

/** The pair (lo, hi) plus the sum of the n int32 lanes R[at..at+n) (n <= 4096: |sum| < 2^43, exact in a double). */
export function addLaneSumToPair(lo: number, hi: number, R: Int32Array, at: number, n: number): boolean {
  let t = 0;
  for (let i = 0; i < n; i++) t += R[at + i]!;
  return addToPair(lo, hi, 0, t);
}

/**
 * The pair (lo, hi) plus the sum of squares of the n int32 lanes R[at..at+n), exactly: with a = |v| = ah * 2^16 + al
 * (ah <= 2^15, al < 2^16), v^2 = ah^2 * 2^32 + ah*al * 2^17 + al^2, and each of the three sums stays exact in a double
 * for n <= 4096 lanes (below 2^42, 2^43 and 2^44). ah*al * 2^17 is split at 2^15 into its 2^32 part and the rest.
 */
export function addLaneSquaresToPair(lo: number, hi: number, R: Int32Array, at: number, n: number): boolean {
  let H = 0, M = 0, Lo = 0;
  for (let i = 0; i < n; i++) {
    const v = R[at + i]!;
    const a = v < 0 ? -v : v; // 2^31 for -2^31: still exact, and >>> / & below read it as uint32
    const ah = a >>> 16, al = a & 0xffff;
    H += ah * ah;
    M += ah * al;
    Lo += al * al;
  }
  const mh = Math.floor(M / 32768); // M * 2^17 = mh * 2^32 + (M - mh * 2^15) * 2^17
  return addToPair(lo, hi, H + mh, (M - mh * 32768) * 131072 + Lo);
}
