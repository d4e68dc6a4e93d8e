// Requantization (HF QuantAct / FixedPointMul, docs/IBERT.md section 3) at run time:
// y = clamp(rne(x * m_c / 2^e_c) + rne(w * m' / 2^e'), -2^(b-1), 2^(b-1)-1), exact for any int64 x.
// The float side (S_out, frexp31) lives in fold.ts; `requantDirect` is the simulator's direct (m, shift) form.

import { KernelInputError } from './errors.js';
import { mulShiftRne, mulShiftRneBig, pow2, rneScaled, TWO31, TWO32, TWO53 } from './intmath.js';
import type { IntData, SmallIntArray } from './tensor.js';

/** Integer constants of one requantization; per-channel arrays index the last dimension (i % m.length). */
export interface RequantInts {
  readonly bits: number;
  readonly m: readonly number[];
  readonly e: readonly number[];
}

export interface IdentityInts {
  readonly w: SmallIntArray;
  readonly m: number;
  readonly e: number;
}

/**
 * QuantAct at run time. The two terms are rounded separately, added, then clamped (section 3). Requires the
 * per-channel arrays to divide the length of x; the identity (residual) tensor has the same length as x.
 */
export function requantApply(x: IntData, q: RequantInts, identity?: IdentityInts): Int32Array {
  const n = x.length;
  const C = q.m.length;
  if (C === 0 || q.e.length !== C || n % C !== 0) {
    throw new RangeError(`requantApply: ${C} channel constants do not divide ${n} elements`);
  }
  if (identity !== undefined && identity.w.length !== n) {
    throw new RangeError(`requantApply: identity has ${identity.w.length} elements, x has ${n}`);
  }
  const lo = -pow2(q.bits - 1);
  const hi = pow2(q.bits - 1) - 1;
  const out = new Int32Array(n);
  const m = q.m;
  const e = q.e;
  const fast = fastConsts(m, e, q.bits, identity);
  if (x instanceof Int32Array) {
    if (fast !== undefined) requantScaled(x, fast, m, lo, hi, identity, out);
    else requantNumbers(x, m, e, lo, hi, identity, out);
    return out;
  }
  if (fast !== undefined) {
    requantScaledWide(x, fast, m, e, lo, hi, identity, out);
    return out;
  }
  const xd = safeDoubles(x);
  if (xd !== undefined) {
    requantNumbers(xd, m, e, lo, hi, identity, out);
    return out;
  }
  for (let i = 0, c = 0; i < n; i++) {
    const xv = x[i]!;
    const mc = m[c]!;
    const ec = e[c]!;
    let t1: number;
    let wide = false;
    if (typeof xv === 'number') {
      t1 = mulShiftRne(xv, mc, ec);
    } else if (xv > -9007199254740992n && xv < 9007199254740992n) {
      t1 = mulShiftRne(Number(xv), mc, ec);
    } else {
      t1 = 0;
      wide = true;
    }
    let t2 = 0;
    if (identity !== undefined) t2 = mulShiftRne(identity.w[i]!, identity.m, identity.e);
    let y: number;
    if (wide || t1 >= TWO53 || t1 <= -TWO53 || t2 >= TWO53 || t2 <= -TWO53) {
      // Beyond 2^53 a Number term is only approximate: redo the element exactly before clamping.
      y = exactClamped(BigInt(xv), mc, ec, identity?.w[i], identity?.m ?? 0, identity?.e ?? 0, lo, hi);
    } else {
      const s = t1 + t2;
      y = s < lo ? lo : s > hi ? hi : s;
    }
    out[i] = y;
    if (++c === C) c = 0;
  }
  return out;
}

/** Per-channel constants of requantScaled: ms_c = m_c 2^-e_c, the clamp window A and the identity terms by value. */
interface ScaledConsts {
  readonly ms: Float64Array;
  /** 2^(bits-1) + max |t2| + 1: beyond +-A the clamp decides, whatever the rounding */
  readonly A: number;
  /** t2 = rne(w m' / 2^e') for each int8/uint8 identity value w, at index w - wMin (length 0 without identity) */
  readonly t2: Float64Array;
  readonly wMin: number;
}

/**
 * The constants of requantScaled, or undefined when it does not apply: every m_c a safe integer, every e_c an
 * integer in [0, 1000] (so m_c 2^-e_c is an exact normal double), and an identity term, if any, on int8/uint8 values
 * whose rounded terms stay below 2^50 (so A < 2^51, the range of RNE_MAGIC).
 */
function fastConsts(m: readonly number[], e: readonly number[], bits: number, identity: IdentityInts | undefined): ScaledConsts | undefined {
  const C = m.length;
  const ms = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const mc = m[c]!, ec = e[c]!;
    if (!Number.isSafeInteger(mc) || !Number.isInteger(ec) || ec < 0 || ec > 1000) return undefined;
    ms[c] = mc * pow2(-ec);
  }
  let t2 = new Float64Array(0);
  let wMin = 0;
  let maxT2 = 0;
  if (identity !== undefined) {
    if (identity.w instanceof Int8Array) wMin = -128;
    else if (!(identity.w instanceof Uint8Array)) return undefined;
    t2 = new Float64Array(256);
    for (let j = 0; j < 256; j++) {
      const v = mulShiftRne(j + wMin, identity.m, identity.e);
      if (!(v < TWO50 && v > -TWO50)) return undefined;
      t2[j] = v;
      if (Math.abs(v) > maxT2) maxT2 = Math.abs(v);
    }
  }
  const A = pow2(bits - 1) + maxT2 + 1;
  if (!(A < TWO51)) return undefined;
  return { ms, A, t2, wMin };
}

const TWO50 = TWO53 / 8;
const TWO51 = TWO53 / 4;

/**
 * requantApply with one double multiply per element: v = x * (m_c 2^-e_c), then the clamp or rneScaled (intmath.ts,
 * where the proof is). x holds exact integers (int32, or int64 below 2^53 as doubles). With t = x m_c / 2^e_c:
 * v > A gives t > A - A 2^-53 > A - 1/2 (A < 2^51), so rne(t) >= A and rne(t) + t2 >= 2^(bits-1) + 1 > hi: y = hi;
 * v < -A gives y = lo alike. Otherwise |v| <= A < 2^51 and y = clamp(rneScaled + t2, lo, hi), every term an integer
 * below 2^52. Identity terms come from the 256-entry table.
 */
function requantScaled(x: Int32Array | Float64Array, k: ScaledConsts, m: readonly number[], lo: number, hi: number, identity: IdentityInts | undefined, out: Int32Array): void {
  const n = x.length;
  const { ms, A, t2 } = k, C = ms.length, w = identity?.w, wOff = -k.wMin;
  for (let i = 0, c = 0; i < n; i++) {
    out[i] = scaledOne(x[i]!, ms[c]!, m[c]!, A, lo, hi, w === undefined ? 0 : t2[w[i]! + wOff]!);
    if (++c === C) c = 0;
  }
}

/** One element of requantScaled: x exact below 2^53, msc = m_c 2^-e_c, idTerm its identity term (0 without one). */
function scaledOne(xv: number, msc: number, mc: number, A: number, lo: number, hi: number, idTerm: number): number {
  const v = xv * msc;
  if (v > A) return hi;
  if (v < -A) return lo;
  const s = rneScaled(xv, mc, v) + idTerm;
  return s < lo ? lo : s > hi ? hi : s;
}

/**
 * requantScaled on a BigInt64Array (GELU and LayerNorm outputs), each element read from its two int32 halves
 * (little-endian, as every Node host is) as an exact double when below 2^53 - 2^32 in magnitude (PERF: no BigInt and
 * no copy); wider elements go through exactClamped.
 */
function requantScaledWide(x: BigInt64Array, k: ScaledConsts, m: readonly number[], e: readonly number[], lo: number, hi: number, identity: IdentityInts | undefined, out: Int32Array): void {
  const words = new Int32Array(x.buffer, x.byteOffset, 2 * x.length);
  const n = x.length;
  const { ms, A, t2 } = k, C = ms.length, w = identity?.w, wOff = -k.wMin;
  for (let i = 0, c = 0; i < n; i++) {
    const h = words[2 * i + 1]!;
    let y: number;
    if (h > -2097152 && h < 2097152) {
      y = scaledOne(h * 4294967296 + (words[2 * i]! >>> 0), ms[c]!, m[c]!, A, lo, hi, w === undefined ? 0 : t2[w[i]! + wOff]!);
    } else {
      y = exactClamped(x[i]!, m[c]!, e[c]!, w?.[i], identity?.m ?? 0, identity?.e ?? 0, lo, hi);
    }
    out[i] = y;
    if (++c === C) c = 0;
  }
}

/**
 * A BigInt64Array (GELU and LayerNorm outputs) as exact doubles, read from its two int32 halves (little-endian, as
 * every Node host is) without a BigInt per element; undefined when some value is 2^53 or more in magnitude.
 */
function safeDoubles(x: BigInt64Array): Float64Array | undefined {
  const w = new Int32Array(x.buffer, x.byteOffset, 2 * x.length);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const h = w[2 * i + 1]!;
    if (h <= -2097152 || h >= 2097152) return undefined; // |v| >= 2^53 - 2^32: the general loop
    out[i] = h * 4294967296 + (w[2 * i]! >>> 0);
  }
  return out;
}

/**
 * requantApply on int32 values or exact doubles: the same arithmetic as the general loop, with the rounding shift of
 * each channel's term inlined (PERF: no per-element type test or BigInt conversion). Where the double product x * m_c is exact
 * (|x * m_c| < 2^53) and 0 <= e_c < 54, rne(x * m_c / 2^e_c) is rneShift's floor-and-remainder on that product;
 * every other element (and every identity term) goes through mulShiftRne exactly as the general loop does.
 */
function requantNumbers(x: Int32Array | Float64Array, m: readonly number[], e: readonly number[], lo: number, hi: number, identity: IdentityInts | undefined, out: Int32Array): void {
  const n = x.length;
  const C = m.length;
  const inv = new Float64Array(C), pw = new Float64Array(C), half = new Float64Array(C);
  const fast = new Uint8Array(C);
  // mulShiftRne's split path (|x|, |m| <= 2^32, e >= 16) inlined with its powers of two per channel, s = e - 16
  const split = new Uint8Array(C), sInv = new Float64Array(C), sPw = new Float64Array(C), sHalf = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const ec = e[c]!;
    if (Number.isInteger(ec) && ec >= 0 && ec < 54 && Number.isSafeInteger(m[c]!)) {
      fast[c] = 1;
      inv[c] = pow2(-ec);
      pw[c] = pow2(ec);
      half[c] = ec === 0 ? 1 : pow2(ec - 1); // e = 0: the remainder is 0, never above or at a half of 1
    }
    if (Number.isInteger(ec) && ec >= 16 && Number.isSafeInteger(m[c]!) && Math.abs(m[c]!) <= TWO32) {
      split[c] = 1;
      const sc = ec - 16;
      if (sc <= 53) {
        sInv[c] = pow2(-sc);
        sPw[c] = pow2(sc);
        sHalf[c] = sc > 0 ? pow2(sc - 1) : 0;
      }
    }
  }
  const w = identity?.w, im = identity?.m ?? 0, ie = identity?.e ?? 0;
  for (let i = 0, c = 0; i < n; i++) {
    const xv = x[i]!;
    const mc = m[c]!;
    const p = xv * mc;
    let t1: number;
    if (fast[c] === 1 && p < TWO53 && p > -TWO53) {
      const q = Math.floor(p * inv[c]!);
      const r = p - q * pw[c]!;
      const h = half[c]!;
      t1 = r > h || (r === h && q % 2 !== 0) ? q + 1 : q + 0;
    } else if (split[c] === 1 && !(p < TWO53 && p > -TWO53) && xv <= TWO32 && xv >= -TWO32) {
      // mulShiftRneSplit (intmath.ts) for e >= 16: |x| = ah 2^16 + al, |x m| = G 2^16 + Ll with G = ah m + floor(al m / 2^16)
      const ax = xv < 0 ? -xv : xv, am = mc < 0 ? -mc : mc;
      const sc = e[c]! - 16;
      let mag = 0;
      if (sc <= 53) {
        const al = ax % 65536, ah = (ax - al) / 65536;
        const H = ah * am, L = al * am;
        const Ll = L % 65536;
        const G = H + (L - Ll) / 65536;
        if (sc === 0) mag = Ll > 32768 || (Ll === 32768 && G % 2 !== 0) ? G + 1 : G;
        else {
          const q = Math.floor(G * sInv[c]!) + 0;
          const rG = G - q * sPw[c]!, hG = sHalf[c]!;
          mag = rG > hG || (rG === hG && (Ll > 0 || q % 2 !== 0)) ? q + 1 : q;
        }
      }
      t1 = (xv < 0) !== (mc < 0) ? 0 - mag : mag;
    } else {
      t1 = mulShiftRne(xv, mc, e[c]!);
    }
    const t2 = w === undefined ? 0 : mulShiftRne(w[i]!, im, ie);
    let y: number;
    if (t1 >= TWO53 || t1 <= -TWO53 || t2 >= TWO53 || t2 <= -TWO53) {
      y = exactClamped(BigInt(xv), mc, e[c]!, w?.[i], im, ie, lo, hi);
    } else {
      const s = t1 + t2;
      y = s < lo ? lo : s > hi ? hi : s;
    }
    out[i] = y;
    if (++c === C) c = 0;
  }
}

/** clamp(rne(x m / 2^e) + rne(w m' / 2^e'), lo, hi) in BigInt: the exact path of an element whose terms pass 2^53. */
function exactClamped(x: bigint, m: number, e: number, w: number | undefined, mw: number, ew: number, lo: number, hi: number): number {
  let s = mulShiftRneBig(x, BigInt(m), e);
  if (w !== undefined) s += mulShiftRneBig(BigInt(w), BigInt(mw), ew);
  return s < BigInt(lo) ? lo : s > BigInt(hi) ? hi : Number(s);
}

function checkIntArray(name: string, v: number | ArrayLike<number>, lo: number, hi: number): readonly number[] {
  const arr: number[] = typeof v === 'number' ? [v] : Array.from(v);
  if (arr.length === 0) throw new KernelInputError(`${name}: empty`);
  arr.forEach((val, i) => {
    if (!Number.isInteger(val) || val < lo || val > hi) {
      throw new KernelInputError(`${name}${typeof v === 'number' ? '' : `[${i}]`}: ${val} is not an integer in [${lo}, ${hi}]`);
    }
  });
  return arr;
}

/**
 * Direct form of section 3 given m and e: y = clamp(rne(x * m / 2^shift), -2^(bits-1), 2^(bits-1) - 1).
 * x: int32 values; multiplier: integer(s) with |m| <= 2^31; shift: 0..127; per-channel arrays index the last
 * dimension (channel = i % length). bits: 2..32. The 62-bit product x*m is exact (split-halves, see intmath).
 */
export function requantDirect(
  x: ArrayLike<number>,
  multiplier: number | ArrayLike<number>,
  shift: number | ArrayLike<number>,
  bits: number,
): Int32Array {
  if (!Number.isInteger(bits) || bits < 2 || bits > 32) throw new KernelInputError(`bits: ${bits} is not an integer in [2, 32]`);
  const m = checkIntArray('multiplier', multiplier, -TWO31, TWO31);
  const e = checkIntArray('shift', shift, 0, 127);
  let C = m.length;
  if (typeof multiplier !== 'number' && typeof shift !== 'number' && m.length !== e.length) {
    throw new KernelInputError(`shift: ${e.length} per-channel values but multiplier has ${m.length}`);
  }
  if (typeof multiplier === 'number') C = e.length;
  const mC: number[] = [];
  const eC: number[] = [];
  for (let c = 0; c < C; c++) {
    mC.push(m.length === 1 ? m[0]! : m[c]!);
    eC.push(e.length === 1 ? e[0]! : e[c]!);
  }
  const n = x.length;
  if (n % C !== 0) throw new KernelInputError(`x_int: length ${n} is not a multiple of the ${C} channels`);
  const xs = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (!Number.isInteger(v) || v < -TWO31 || v >= TWO31) throw new KernelInputError(`x_int[${i}]: ${v} is not an int32`);
    xs[i] = v;
  }
  return requantApply(xs, { bits, m: mC, e: eC });
}
