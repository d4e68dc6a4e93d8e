// The one audited module of exact integer helpers (docs/IBERT.md sections 1 and 12): floor division,
// round-half-even shifts and divisions, saturation, products up to 2^85, integer sqrt. Number paths are used
// only where the proof next to them shows the double arithmetic is exact; everything else goes through BigInt.
// This is the only integer-runtime module allowed to call Math.floor/Math.trunc (each use is exact, see proofs).

/** 2^53: every integer of magnitude below this is an exact double. */
export const TWO53 = 9007199254740992;
export const TWO32 = 4294967296;
export const TWO31 = 2147483648;
export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

const TWO16 = 65536;

// POW2[k + 1074] = 2^k for k in [-1074, 1023]; built by doubling/halving, which is exact for powers of two
// down to the smallest subnormal.
const POW2: number[] = (() => {
  const table = new Array<number>(1074 + 1024);
  let v = 1;
  for (let k = 0; k <= 1023; k++) {
    table[k + 1074] = v;
    v *= 2;
  }
  v = 1;
  for (let k = 0; k >= -1074; k--) {
    table[k + 1074] = v;
    v /= 2;
  }
  return table;
})();

/** 2^k as an exact double; k integer in [-1074, 1023]. */
export function pow2(k: number): number {
  const v = POW2[k + 1074];
  if (v === undefined || !Number.isInteger(k)) throw new RangeError(`pow2: exponent ${k} out of range`);
  return v;
}

export function isSafeInt(v: number): boolean {
  return Number.isSafeInteger(v);
}

/**
 * floor(a / b) for safe integers, b != 0.
 * Proof of exactness: if a/b is an integer n the correctly rounded quotient is n. Otherwise the exact quotient is
 * at distance >= 1/|b| from every integer, while the rounding error is <= |a/b| * 2^-53 < 1/|b| because
 * |a| < 2^53; so rounding cannot cross an integer and Math.floor of the rounded quotient is exact.
 */
export function floorDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('floorDiv: division by zero');
  return Math.floor(a / b) + 0;
}

/** floor(a / 2^k) for a safe integer a and k >= 0 (an arithmetic shift that also works beyond 32 bits). */
export function floorShift(a: number, k: number): number {
  if (k <= 0) {
    if (k === 0) return a;
    throw new RangeError(`floorShift: negative shift ${k}`);
  }
  // |a| < 2^53, so for k >= 64 the quotient lies in (-1, 1): the floor is 0 or -1.
  if (k >= 64) return a < 0 ? -1 : 0;
  // a * 2^-k is an exact power-of-two scaling (no underflow for k < 64), so its floor is exact.
  return Math.floor(a * pow2(-k)) + 0;
}

/**
 * rne(a / 2^k): round to nearest, ties to even, for a safe integer a and k >= 0 (section 3's rounding shift).
 * q = floor(a/2^k) is exact (floorShift); q*2^k is a power-of-two scaling of |q| < 2^53, exact; the remainder
 * r = a - q*2^k lies in [0, 2^k) and is exact while k <= 53. For k >= 54, |a / 2^k| < 1/2 and the result is 0.
 */
export function rneShift(a: number, k: number): number {
  if (k === 0) return a;
  if (k < 0) throw new RangeError(`rneShift: negative shift ${k}`);
  if (k >= 54) return 0;
  const q = floorShift(a, k);
  const r = a - q * pow2(k);
  const half = pow2(k - 1);
  if (r > half || (r === half && q % 2 !== 0)) return q + 1;
  return q + 0;
}

/** rne(a / b) for safe integers with b > 0 and |a| + b < 2^53 (so q*b and the remainder are exact). */
export function rneDiv(a: number, b: number): number {
  if (!(b > 0)) throw new RangeError('rneDiv: divisor must be positive');
  const q = floorDiv(a, b);
  const r = a - q * b;
  const twice = 2 * r;
  if (twice > b || (twice === b && q % 2 !== 0)) return q + 1;
  return q;
}

/** round-half-away-from-zero of a / 2^k for a safe integer a, k >= 0. */
export function rhazShift(a: number, k: number): number {
  if (k === 0) return a;
  if (k < 0) throw new RangeError(`rhazShift: negative shift ${k}`);
  if (k >= 54) return 0;
  const mag = a < 0 ? -a : a;
  const q = floorShift(mag, k);
  const r = mag - q * pow2(k);
  const up = r >= pow2(k - 1) ? q + 1 : q;
  return a < 0 ? 0 - up : up;
}

/** clamp(v, lo, hi). */
export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Saturate to the signed two's-complement range of `bits` bits (1..53): [-2^(bits-1), 2^(bits-1) - 1]. */
export function satBits(v: number, bits: number): number {
  const hi = pow2(bits - 1);
  return v < -hi ? -hi : v > hi - 1 ? hi - 1 : v;
}

export function sat8(v: number): number {
  return v < -128 ? -128 : v > 127 ? 127 : v;
}

export function sat16(v: number): number {
  return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
}

export function sat32(v: number): number {
  return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v;
}

// ---------------------------------------------------------------------------------------------------------------
// BigInt forms: exact for any magnitude. Used where Number paths cannot be proven exact and as building blocks of
// the fallbacks below (the tests use their own, separately written BigInt oracles).

/** floor(n / 2^k) for k >= 0 (BigInt >> is a floor for negative n). */
export function floorShiftBig(n: bigint, k: number): bigint {
  if (k < 0) throw new RangeError(`floorShiftBig: negative shift ${k}`);
  return n >> BigInt(k);
}

/** rne(n / 2^k) for k >= 0; for k < 0 the exact product n * 2^-k. */
export function rneShiftBig(n: bigint, k: number): bigint {
  if (k <= 0) return n << BigInt(-k);
  const kk = BigInt(k);
  const q = n >> kk;
  const r = n - (q << kk);
  const half = 1n << (kk - 1n);
  if (r > half || (r === half && (q & 1n) === 1n)) return q + 1n;
  return q;
}

/** floor(a / b) for BigInt, b != 0 (BigInt `/` truncates toward zero; the reference floors). */
export function floorDivBig(a: bigint, b: bigint): bigint {
  if (b === 0n) throw new RangeError('floorDivBig: division by zero');
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** rne(a / b) for BigInt, b > 0. */
export function rneDivBig(a: bigint, b: bigint): bigint {
  if (b <= 0n) throw new RangeError('rneDivBig: divisor must be positive');
  const q = floorDivBig(a, b);
  const r2 = 2n * (a - q * b);
  if (r2 > b || (r2 === b && (q & 1n) === 1n)) return q + 1n;
  return q;
}

// ---------------------------------------------------------------------------------------------------------------
// The requantization product: rne(x * m / 2^k) (section 3). |x*m| reaches 2^62 for an int32 accumulator times a
// 31-bit multiplier, beyond a double's 53 bits.

/**
 * rne(x * m / 2^k) for safe integers x, m and any integer k (k < 0 multiplies by 2^-k).
 * Exact whenever |result| < 2^53; a larger result keeps its sign and is within a relative 2^-52 (enough for the
 * saturating clamps every caller applies). Three paths:
 *  1. |fl(x*m)| < 2^53: the double product is exact (rounding is monotone and 2^53 is a double), so the rounding
 *     shift runs on it directly.
 *  2. |x|, |m| <= 2^32 (int32 accumulators and 22-bit sums times 31-bit multipliers): split |x| into 16-bit
 *     halves; every partial product is below 2^49 and exact (see mulShiftRneSplit).
 *  3. otherwise BigInt.
 */
export function mulShiftRne(x: number, m: number, k: number): number {
  const p = x * m;
  if (p < TWO53 && p > -TWO53) {
    if (k >= 0) return rneShift(p, k);
    return p * pow2(-k);
  }
  const ax = x < 0 ? -x : x;
  const am = m < 0 ? -m : m;
  if (k >= 0 && ax <= TWO32 && am <= TWO32) {
    const mag = mulShiftRneSplit(ax, am, k);
    return (x < 0) !== (m < 0) ? 0 - mag : mag;
  }
  return Number(rneShiftBig(BigInt(x) * BigInt(m), k));
}

/**
 * rne(a * b / 2^k) for 0 <= a, b <= 2^32, k >= 0 (rne is odd-symmetric, so magnitudes suffice).
 * a = ah*2^16 + al, so a*b = H*2^16 + L with H = ah*b <= 2^48 and L = al*b < 2^48, both exact.
 * k >= 16: L = Lh*2^16 + Ll, a*b = G*2^16 + Ll with G = H + Lh < 2^49. floor(a*b/2^k) = floor(G/2^(k-16)) since
 * Ll < 2^16; the remainder is rG*2^16 + Ll with rG = G mod 2^(k-16), compared with 2^(k-1) = 2^(k-17)*2^16
 * limb by limb (rG first, then Ll against 0), all on exact doubles below 2^49.
 * k < 16: floor = H*2^(16-k) + floor(L/2^k), remainder L mod 2^k: exact while the result is below 2^53.
 */
function mulShiftRneSplit(a: number, b: number, k: number): number {
  const al = a % TWO16;
  const ah = (a - al) / TWO16;
  const H = ah * b;
  const L = al * b;
  if (k >= 16) {
    const Ll = L % TWO16;
    const G = H + (L - Ll) / TWO16;
    const s = k - 16;
    const q = floorShift(G, s);
    if (s === 0) {
      // remainder is Ll alone, half = 2^15
      return Ll > 32768 || (Ll === 32768 && q % 2 !== 0) ? q + 1 : q;
    }
    if (s > 53) return 0; // G < 2^49 <= 2^(s-1)... the whole product is below half of 2^k
    const rG = G - q * pow2(s);
    const halfG = pow2(s - 1);
    if (rG > halfG || (rG === halfG && (Ll > 0 || q % 2 !== 0))) return q + 1;
    return q;
  }
  if (k === 0) return H * TWO16 + L;
  const Lq = floorShift(L, k);
  const Lr = L - Lq * pow2(k);
  const q = H * pow2(16 - k) + Lq;
  const half = pow2(k - 1);
  if (Lr > half || (Lr === half && q % 2 !== 0)) return q + 1;
  return q;
}

/** 1.5 * 2^52: for |v| <= 2^51, (v + RNE_MAGIC) - RNE_MAGIC is v rounded to an integer, ties to even. */
export const RNE_MAGIC = 6755399441055744;

/**
 * rne(x m / 2^e) from v = fl(x * ms) with ms = m 2^-e (an exact double), for safe integers x, m, 0 <= e <= 1000 and
 * |v| <= 2^51: one multiply per element instead of a rounding shift on a product that may pass 2^53. Proof, with
 * N = x m exact, p = fl(N) and t = N / 2^e:
 *  - v = p 2^-e: rounding commutes with a power-of-two scaling while everything is a normal double (|x|, |m| >= 1
 *    and e <= 1000, or x m = 0). So |N - p| <= ulp(p)/2 gives |t - v| <= ulp(v)/2 and |t - v| <= |v| 2^-53.
 *  - k = (v + 1.5 2^52) - 1.5 2^52 = rne(v): the sum lies in [2^52, 2^53), where doubles are the integers and IEEE
 *    addition rounds ties to even; the subtraction is exact. f = v - k is exact (a multiple of ulp(v), |f| <= 1/2).
 *  - v not a half-integer: |f| <= 1/2 - ulp(v) (1/2 is a multiple of ulp(v) <= 1/2), so |t - k| < 1/2: rne(t) = k.
 *  - v a half-integer: t = v when p = N (a true tie: k is the even neighbour); else rne(t) = v +- 1/2 by the sign of
 *    N - p, taken in BigInt (rare: only products beyond 2^53 that round onto a half-integer).
 * Callers handle |v| > 2^51 themselves (there t and v agree in sign and within a relative 2^-53, enough for a clamp).
 */
export function rneScaled(x: number, m: number, v: number): number {
  const k = (v + RNE_MAGIC) - RNE_MAGIC;
  const f = v - k;
  if (f !== 0.5 && f !== -0.5) return k;
  const p = x * m;
  if (p < TWO53 && p > -TWO53) return k;
  const d = BigInt(x) * BigInt(m) - BigInt(p);
  return d > 0n ? v + 0.5 : d < 0n ? v - 0.5 : k;
}

/** rne(x * m / 2^k) exactly, for any integers (BigInt path of wide GELU/LayerNorm outputs). */
export function mulShiftRneBig(x: bigint, m: bigint, k: number): bigint {
  return rneShiftBig(x * m, k);
}

// ---------------------------------------------------------------------------------------------------------------
// Integer square root: the paper's Algorithm 4 (Newton), which returns floor(sqrt(V)).

/** Bit length of a non-negative safe integer (0 for 0). */
export function bitLength(v: number): number {
  if (v < TWO32) return 32 - Math.clz32(v);
  // v >= 2^32: split the high word; v / 2^32 is an exact scaling and its floor exact.
  return 64 - Math.clz32(Math.floor(v / TWO32));
}

export function bitLengthBig(v: bigint): number {
  if (v < 0n) throw new RangeError('bitLengthBig: negative');
  return v === 0n ? 0 : v.toString(2).length;
}

/**
 * isqrt(V) = floor(sqrt(V)) for a safe integer V >= 0 by the paper's Newton iteration: x0 = 2^ceil(bits(V)/2),
 * x' = (x + floor(V/x)) >> 1, stop when x' >= x. floor(V/x) is exact (floorDiv, V < 2^53), x + floor(V/x) < 2^53.
 */
export function isqrt(V: number): number {
  return newtonIsqrt(V, undefined);
}

/**
 * The Newton iterates of isqrt(V) (x0, x1, ..., the final non-decreasing candidate): one division per entry after
 * x0, e.g. V = 1089462004 -> 65536, 41079, 33800, 33016, 33007, 33006, 33006 (spec section 8). For cycle models.
 */
export function isqrtIterates(V: number): number[] {
  const trace: number[] = [];
  newtonIsqrt(V, trace);
  return trace;
}

function newtonIsqrt(V: number, trace: number[] | undefined): number {
  if (V < 0 || !Number.isSafeInteger(V)) throw new RangeError(`isqrt: ${V} is not a non-negative safe integer`);
  if (V === 0) return 0;
  let x = pow2((bitLength(V) + 1) >> 1);
  trace?.push(x);
  for (;;) {
    const next = floorShift(x + floorDiv(V, x), 1);
    trace?.push(next);
    if (next >= x) return x;
    x = next;
  }
}

/** isqrt for any non-negative BigInt (the same Newton iteration). */
export function isqrtBig(V: bigint): bigint {
  if (V < 0n) throw new RangeError('isqrtBig: negative');
  if (V === 0n) return 0n;
  let x = 1n << BigInt((bitLengthBig(V) + 1) >> 1);
  for (;;) {
    const next = (x + V / x) >> 1n;
    if (next >= x) return x;
    x = next;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Interchange: integers beyond 2^53 travel as decimal strings in JSON (section 12).

/** A safe-integer Number when exact, else a decimal string. */
export function intToJson(v: number | bigint): number | string {
  if (typeof v === 'bigint') {
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
  }
  if (!Number.isInteger(v)) throw new RangeError(`intToJson: ${v} is not an integer`);
  return Number.isSafeInteger(v) ? v + 0 : BigInt(v).toString();
}

/** Exact BigInt of an integer-valued double (constants folded in float64 can exceed 2^53 but stay integers). */
export function toBig(v: number): bigint {
  return BigInt(v);
}

/** Number from a BigInt known to be below 2^53 in magnitude (checked). */
export function toSafeNumber(v: bigint): number {
  if (v > 9007199254740991n || v < -9007199254740991n) throw new RangeError(`value ${v} exceeds 2^53`);
  return Number(v);
}
