// Layers 1 and 2 of the fused LayerNorm + QuantAct(8) kernel (docs/IBERT.md section 8, then section 9 step
// 10/19: the per-channel requantization that follows every IntLayerNorm): the case format, the exact reference,
// the NPU kernel semantics with its host-side constant folding, and their measured agreement on realistic tensors.
//
// Case format (JSON): the `layernorm` reference case of docs/formats.md plus the following QuantAct(8):
//   { "x_int": int32 rows of C (nested, or flat with "shape"), "gamma": [C], "beta": [C], "shift": 0..31,
//     "out_x_min": number, "out_x_max": number, "out_bits": 8 }
//   -> y_int: int8 [rows, C] = clamp(rne(LN(x)[c] * m_c / 2^e_c), -128, 127) with (m_c, e_c) = frexp31(S_n gamma[c] /
//      fl32(S_out)), S_out = max(|out_x_min|, |out_x_max|, 1e-8) / 127 (section 3).
//
// ---- Layer 2: what the NPU computes, and where it differs from layer 1 ----
// Per row (rows along the lanes, see programs/layernorm/build.ts), on the datapath widths of the ISA:
//   s  = sum x                      vredsum.w into a 64-bit pair (exact)
//   mu = rne(s / C)                 div.w, rmode rne (exact rational division)
//   y  = x - mu; ys = y >> shift    int32 lanes (|y| < 2^23 for 22-bit x: no wrap)
//   V  = sum ys^2                   vredsumsq.w into a 64-bit pair (exact; V < C 2^44 < 2^62)
//   S  = isqrt(V)                   isqrt.w (exact floor)
//   f  = floor(2^(31-shift) / S)    = floor(2^31 / (S << shift)) = layer 1's f: the two are the same rational,
//                                   2^31 / (S 2^shift) = 2^(31-shift) / S, so their floors agree (no nested
//                                   rounding: 2^shift divides 2^31 for shift <= 31). Computed as
//                                   nf = -f = trunc(-2^(31-shift) / S) (div.w, rmode trunc), because f = 2^31
//                                   (S = 1, shift = 0: a one-hot row) is one past int32 while -2^31 is not;
//                                   S = 0 (a constant row) gives f = 0, so out = q_beta as layer 1 defines.
//   h  = floor(y f / 2)             never stored alone: see the two paths below.
// Bounds used below (proved once): |ys| <= S because ys^2 <= V, so y >= -S 2^shift and y < (S + 1) 2^shift;
// with f <= 2^(31-shift) / S this gives y f in [-2^31, 2^32): h in [-2^30, 2^31), an int32. With shift = 0,
// |y| <= S and h in [-2^30, 2^30].
//
// The requantization multiplier (m, e) of the QuantAct is normalized first, exactly: m = 2^31 (possible from
// frexp31) becomes (2^30, e - 1), the same rational; e < 0 (a ratio >= 2^31) becomes (sgn(m) 2^30, 0), which
// saturates every non-zero input exactly as the original does and keeps 0 at 0.
//
// Direct path (every realistic channel): out = sat8(rne(sat32(h + q_beta) m / 2^e)), two instructions:
//   A   = vmacr(mu - x, -f, 2 q_beta, shift 1, floor, sat32)  = sat32(floor((y f + 2 q_beta) / 2)) = sat32(h + q_beta)
//   out = vmulr.vv(A, m, e, rne, sat8)                        per-lane multiplier and shift
// It equals layer 1 when 2 q_beta fits the 32-bit addend (|q_beta| <= 2^30, i.e. |beta/gamma| < sqrt(C)) and the
// saturation of A cannot matter: A saturates only above 2^31 - 1 (q_beta > 0, h > 2^31 - 1 - q_beta), where
// the output is already saturated if |m| (2^31 - 1) >= 2^(e+7). Channels failing this test take the general path.
//
// General path (|q_beta| > 2^30: tiny gamma or large beta, where q_beta reaches 2^38; or a coarse range with
// q_beta > 0): q_beta m is up to ~2^69, too wide for any 32-bit addend, so it is folded on the host into
//   q_beta m = Kh 2^e + T,  Kh even, |T| <= 2^e         (then rne((h + q_beta) m / 2^e) = Kh + rne(X / 2^e),
//   X = h m + T,            |X| < 2^63 for e <= 62      because rne commutes with adding an even integer)
// and T = Thi 2^32 + Tlo with Tlo an int32. The VPU forms X / 2^32 rounded to odd, then rounds that to nearest
// even by the remaining e - 32 >= 2 bits, which equals rne(X / 2^e) exactly (round-to-odd with two spare bits):
//   G   = vmacr(h, m, Tlo, 32, floor, sat32)   = floor((h m + Tlo) / 2^32), |G| <= 2^30
//   L   = vmacr(h, m, Tlo, 0, floor, wrap32)   = (h m + Tlo) mod 2^32 (= X mod 2^32: the sticky bits)
//   G'  = G + Thi                              = floor(X / 2^32), an int32
//   G'' = max(G', 2 (G' >> 1) + (L != 0))      = X / 2^32 rounded to odd
//   out = clamp(rne(G'' / 2^(e-32)) + Kh, -128, 127)       (Kh clamped to +-2^30: it saturates either way)
// For e >= 63 (|gamma| below ~1e-3) the whole h range moves the output by less than one step, so the output is
// a single step function of h: the host finds the step t by bisection on layer 1's own formula and encodes it
// as an equivalent general lane with m' = +-2^30, e' = 62. Both are exact: the general path equals layer 1.
//
// Deviations from layer 1 (each is measured by the tests; fidelityLayerNorm reports realistic layers):
//   1. Input domain: x must be a 22-bit residual sum, [-2^21, 2^21 - 1] (HF clamps ln_input_act there). Wider
//      int32 inputs would wrap y = x - mu and overflow V; they are rejected (KernelInputError), not approximated.
//   2. Channels with e <= 33 and |q_beta| > 2^30 (an int8 step smaller than 8 LayerNorm output units: a
//      requantization range below 2e-7 |gamma| 127, never produced by calibration) cannot use the general path
//      (it needs e - 32 >= 2) and use the direct path with q_beta clamped to [-2^30, 2^30 - 1]. Their outputs
//      differ from layer 1 wherever the clamp moves the result off saturation. `clamped` lists such channels.
//   Everything else is bit-identical to layer 1, including constant rows (S = 0: out = q_beta requantized),
//   one-hot rows (f = 2^31) and channels with q_beta up to the int64 limit of layer 1.
//
// Machines without a divider compute mu, S and nf with software routines (programs/layernorm/build.ts) that are
// bit-identical to the divider's results, so layer 2 is the same function on both.

import { z } from 'zod';
import { runReferenceCase } from '../ref/cases.js';
import { KernelInputError } from '../ref/errors.js';
import { foldLayerNorm, foldQuantAct, type QuantActConsts } from '../ref/fold.js';
import { generateLayer, makeRng, normalSampler } from '../ref/generate.js';
import { floorDiv, floorShift, intToJson, isqrt, isqrtBig, mulShiftRne, pow2, rneDiv, rneShift, rneShiftBig, TWO53 } from '../ref/intmath.js';
import { compileLayer, runLayer } from '../ref/layer.js';
import { layerNormApply } from '../ref/layernorm.js';
import { requantApply } from '../ref/requant.js';
import { flattenNested, parseCase, type FidelityResult, type KernelCaseResult } from './common.js';
import { typedShape } from '../ref/case-parse.js';



/** Smallest and largest 22-bit residual sum (the NPU kernel's input domain). */
export const LN_X_MIN = -2097152;
export const LN_X_MAX = 2097151;

// ---------------------------------------------------------------------------------------------------------------
// Host-side constant folding for the NPU (compile time; BigInt allowed, run once per layer).

export const LN_DIRECT = 0;
export const LN_GENERAL = 1;

/** Per-channel int32 constants of the NPU kernel (one entry per channel). */
export interface LayerNormNpuConsts {
  readonly C: number;
  readonly shift: number;
  /** LN_DIRECT or LN_GENERAL per channel. */
  readonly kind: Uint8Array;
  /** 2 * q_beta (direct; clamped, see deviation 2) or 0 (general): the vmacr addend of the first stage. */
  readonly B2: Int32Array;
  /** The requantization multiplier m (normalized; general lanes of the e >= 63 form: +-2^30). */
  readonly M: Int32Array;
  /** The requantization shift e (normalized, 0..127). */
  readonly E: Int32Array;
  /** General path only (0 elsewhere): T = Thi 2^32 + Tlo, Kh (even, clamped to +-2^30), Sh = e - 32. */
  readonly Tlo: Int32Array;
  readonly Thi: Int32Array;
  readonly Kh: Int32Array;
  readonly Sh: Int32Array;
  /** Channels where deviation 2 applies (q_beta clamped). */
  readonly clamped: readonly number[];
}

const TWO30 = 1073741824;
const TWO31N = 1n << 31n;
const TWO30N = 1n << 30n;
const H_MIN = -(1n << 30n); // h in [-2^30, 2^31)
const H_MAX = (1n << 31n) - 1n;

/** rne(n / 2^k) for BigInt, any k >= 0 (independent of the layer-1 helpers' callers, same rounding). */
const rneBig = (n: bigint, k: number): bigint => rneShiftBig(n, k);
const sat8Big = (v: bigint): bigint => (v > 127n ? 127n : v < -128n ? -128n : v);
const clampBig = (v: bigint, lo: bigint, hi: bigint): bigint => (v < lo ? lo : v > hi ? hi : v);
const i32 = (v: bigint): number => Number(BigInt.asIntN(32, v));

/** Layer 1's requantized output for a channel as a function of h = floor(y f / 2): sat8(rne((h + q_beta) m / 2^e)). */
function channelOut(h: bigint, qb: bigint, m: bigint, e: number): bigint {
  const p = (h + qb) * m;
  return sat8Big(e >= 0 ? rneBig(p, e) : p << BigInt(-e));
}

/**
 * Folds a LayerNorm's q_beta and shift and its following QuantAct's (m, e) into the NPU's per-channel int32
 * constants (see the header: direct path, general path, the e >= 63 step form, deviation 2).
 */
export function foldLayerNormNpu(qBeta: readonly number[], shift: number, act: { readonly m: readonly number[]; readonly e: readonly number[] }): LayerNormNpuConsts {
  const C = qBeta.length;
  if (act.m.length !== C || act.e.length !== C) throw new RangeError(`foldLayerNormNpu: ${C} channels, ${act.m.length} multipliers, ${act.e.length} shifts`);
  const kind = new Uint8Array(C);
  const B2 = new Int32Array(C), M = new Int32Array(C), E = new Int32Array(C);
  const Tlo = new Int32Array(C), Thi = new Int32Array(C), Kh = new Int32Array(C), Sh = new Int32Array(C);
  const clamped: number[] = [];
  for (let c = 0; c < C; c++) {
    let m = act.m[c]!, e = act.e[c]!;
    const qb = BigInt(qBeta[c]!); // an integer-valued double (exact, possibly beyond 2^53)
    const m0 = BigInt(m), e0 = e; // layer 1's own constants, for the step form
    if (m === 2147483648) {
      m = TWO30;
      e -= 1;
    }
    if (e < 0) {
      m = m > 0 ? TWO30 : m < 0 ? -TWO30 : 0;
      e = 0;
    }
    const mb = BigInt(m);
    const absM = mb < 0n ? -mb : mb;
    const fits = qb >= -TWO30N && qb <= TWO30N - 1n;
    const satSafe = qb <= 0n || absM * (TWO31N - 1n) >= 1n << BigInt(e + 7);
    M[c] = m;
    E[c] = e;
    if ((fits && satSafe) || e <= 33) {
      kind[c] = LN_DIRECT;
      const c1 = clampBig(qb, -TWO30N, TWO30N - 1n);
      if (c1 !== qb) clamped.push(c);
      B2[c] = Number(2n * c1);
      continue;
    }
    kind[c] = LN_GENERAL;
    B2[c] = 0;
    let T: bigint, kh: bigint, eg: number;
    if (e <= 62) {
      const K = qb * mb;
      const half = 1n << BigInt(e);
      kh = 2n * ((K + half) >> BigInt(e + 1)); // even, nearest: T = K - kh 2^e in [-2^e, 2^e)
      T = K - kh * half;
      eg = e;
    } else {
      // The output moves by at most one step over the whole h range: find it on layer 1's formula.
      const lo = channelOut(H_MIN, qb, m0, e0), hi = channelOut(H_MAX, qb, m0, e0);
      const d = hi - lo;
      if (d < -1n || d > 1n) throw new Error(`foldLayerNormNpu: channel ${c} (e = ${e0}) spans ${d} steps; expected at most one`);
      eg = 62;
      if (d === 0n) {
        M[c] = TWO30;
        T = 1n << 29n; // X / 2^62 stays in (-1/4, 1/2): rne gives 0
        kh = lo;
      } else {
        let a = H_MIN, b = H_MAX; // first h with the final value: channelOut(a) != hi, channelOut(b) == hi
        while (b - a > 1n) {
          const mid = (a + b) >> 1n;
          if (channelOut(mid, qb, m0, e0) === hi) b = mid;
          else a = mid;
        }
        const t = b;
        if (d === 1n) {
          // out = lo + [h >= t]: X' = h 2^30 + T' crosses 2^61 (the 1/2 of 2^62) between t - 1 and t
          M[c] = TWO30;
          T = (1n << 61n) - t * TWO30N + (1n << 29n);
          kh = lo;
        } else {
          // out = hi + [h <= t - 1]: X' = -h 2^30 + T'
          M[c] = -TWO30;
          T = (1n << 61n) + (t - 1n) * TWO30N + (1n << 29n);
          kh = hi;
        }
      }
      E[c] = 62;
    }
    const tlo = BigInt.asIntN(32, T);
    Tlo[c] = Number(tlo);
    Thi[c] = Number((T - tlo) >> 32n);
    Kh[c] = Number(clampBig(kh, -TWO30N, TWO30N));
    Sh[c] = eg - 32;
  }
  return { C, shift, kind, B2, M, E, Tlo, Thi, Kh, Sh, clamped };
}

// ---------------------------------------------------------------------------------------------------------------
// Layer 2: the NPU kernel semantics, step by step as the datapath computes them (int32 lanes, 64-bit products and
// pairs), from the folded constants. Numbers are used where they are exact; the rare general lanes use BigInt.

/** Per-row scalars the program produces (for tests and the software-division check). */
export interface LayerNormRowScalars {
  readonly mu: number;
  readonly S: number;
  /** -f */
  readonly nf: number;
}

/** mu, S = isqrt(V) and nf = -floor(2^(31-shift) / S) of one row of C values starting at `base`. */
export function layerNormRowScalars(x: ArrayLike<number>, base: number, C: number, shift: number): LayerNormRowScalars {
  let sum = 0;
  for (let c = 0; c < C; c++) sum += x[base + c]!; // |sum| <= C 2^21 < 2^53
  const mu = rneDiv(sum, C);
  // V = sum ys^2: exact in a double while below 2^53, else continued in BigInt (C 2^44 exceeds 2^53 for C > 512).
  let v = 0;
  let big = 0n;
  for (let c = 0; c < C; c++) {
    const ys = (x[base + c]! - mu) >> shift; // y < 2^23: int32, and >> is the floor shift
    v += ys * ys;
    if (v >= TWO53 / 2) {
      big += BigInt(v);
      v = 0;
    }
  }
  const S = big === 0n ? isqrt(v) : Number(isqrtBig(big + BigInt(v)));
  const nf = S === 0 ? 0 : 0 - floorDiv(pow2(31 - shift), S);
  return { mu, S, nf };
}

/** One general-path lane: sat8 of Kh + rne(X / 2^e), X = h m + T, through the datapath's int32 steps. */
function generalLane(h: number, k: LayerNormNpuConsts, c: number): number {
  const x0 = BigInt(h) * BigInt(k.M[c]!) + BigInt(k.Tlo[c]!); // vmacr's exact 64-bit value
  const G = i32(x0 >> 32n); // shift 32, floor, sat32 (|G| <= 2^30: never saturates)
  const L = i32(x0); // shift 0, wrap32
  const Gp = (G + k.Thi[c]!) | 0; // vadd
  const t = ((((Gp >> 1) << 1) + 1) | 0) - (L === 0 ? 1 : 0); // vsra, vsll, vadd ONE, vsub (L == 0)
  const Gpp = Gp > t ? Gp : t; // vmax: X / 2^32 rounded to odd
  const o = rneShift(Gpp, k.Sh[c]!); // vmulr.vv by 1, shift e - 32, rne (|o| < 2^29: no saturation)
  const o2 = (o + k.Kh[c]!) | 0; // vadd
  return o2 < -128 ? -128 : o2 > 127 ? 127 : o2; // vclamp
}

/**
 * One output lane of channel c from the exact product y f (|y f| < 2^32): the first-stage vmacr, then the direct
 * vmulr.vv or the general sequence.
 */
export function layerNormNpuLane(yf: number, k: LayerNormNpuConsts, c: number): number {
  // A = vmacr(-y, -f, B2, 1, floor, sat32)
  const a0 = floorShift(yf + k.B2[c]!, 1);
  const A = a0 > 2147483647 ? 2147483647 : a0 < -2147483648 ? -2147483648 : a0;
  // out = vmulr.vv(A, M, E, rne, sat8); general lanes continue from A (= h there, since B2 = 0)
  if (k.kind[c] === LN_DIRECT) {
    const q = mulShiftRne(A, k.M[c]!, k.E[c]!);
    return q < -128 ? -128 : q > 127 ? 127 : q;
  }
  return generalLane(A, k, c);
}

/** Layer 2 on rows of C = k.C int32 values in the 22-bit domain: int8 outputs. */
export function layerNormNpuApply(x: ArrayLike<number>, k: LayerNormNpuConsts): Int8Array {
  const C = k.C;
  const n = x.length;
  if (C === 0 || n % C !== 0) throw new RangeError(`layerNormNpuApply: ${C} channels do not divide ${n} elements`);
  const out = new Int8Array(n);
  for (let base = 0; base < n; base += C) {
    const { mu, nf } = layerNormRowScalars(x, base, C, k.shift);
    for (let c = 0; c < C; c++) {
      const yn = mu - x[base + c]!; // vsub(vMU, x): -y
      out[base + c] = layerNormNpuLane(yn * nf, k, c); // yn nf = y f exactly: |y f| < 2^32 (see the header)
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases.

type Nested = number | Nested[];

const int32El = z.number().int().min(-2147483648).max(2147483647);
const nonZero = z.number().refine((g) => g !== 0 && Number.isFinite(g), { message: 'gamma must be a non-zero finite number' });
const nestedInt32: z.ZodType<Nested> = z.lazy(() => z.union([int32El, z.array(nestedInt32)]));
const caseSchema = z.object({
  x_int: z.array(nestedInt32),
  shape: z.array(z.number().int().min(0)).optional(),
  gamma: z.array(nonZero).min(1),
  beta: z.array(z.number().refine((b) => Number.isFinite(b), { message: 'beta must be finite' })).min(1),
  shift: z.number().int().min(0).max(31).default(0),
  out_x_min: z.number().refine((v) => Number.isFinite(v), { message: 'must be finite' }),
  out_x_max: z.number().refine((v) => Number.isFinite(v), { message: 'must be finite' }),
  out_bits: z.literal(8).default(8),
});

export interface LayerNormCase {
  readonly x: Int32Array;
  readonly rows: number;
  readonly C: number;
  readonly shape: number[];
  readonly gamma: number[];
  readonly beta: number[];
  readonly shift: number;
  readonly outRange: { readonly bits: 8; readonly x_min: number; readonly x_max: number };
}

function flatten(v: Nested[]): { values: ArrayLike<number>; shape: number[] } {
  // an Int32Array (the layer's own runs pass one): every element an int32 already, taken as it is
  if ((v as unknown) instanceof Int32Array) {
    const t = v as unknown as Int32Array;
    return { values: t, shape: typedShape(t) };
  }
  const f = flattenNested('x_int', v);
  const bad = f.values.findIndex((x) => !Number.isInteger(x) || x < -2147483648 || x > 2147483647);
  if (bad >= 0) throw new KernelInputError(`x_int (element ${bad}): ${String(f.values[bad])} is not an int32`);
  return f;
}

/** Validates a fused LayerNorm case (KernelInputError naming the field on bad input). */
export function parseLayerNormCase(input: unknown): LayerNormCase {
  const c = parseCase(caseSchema, input, 'layernorm');
  const flat = flatten(c.x_int);
  let shape = flat.shape;
  if (c.shape !== undefined) {
    const n = c.shape.reduce((a, b) => a * b, 1);
    if (n !== flat.values.length) throw new KernelInputError(`shape: [${c.shape.join(', ')}] holds ${n} elements but x_int has ${flat.values.length}`);
    if (flat.shape.length > 1 && (flat.shape.length !== c.shape.length || flat.shape.some((s, i) => s !== c.shape![i]))) {
      throw new KernelInputError(`shape: [${c.shape.join(', ')}] differs from the nesting of x_int [${flat.shape.join(', ')}]`);
    }
    shape = c.shape;
  }
  const C = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (C === 0) throw new KernelInputError('shape: rows must not be empty (last dimension 0)');
  if (c.gamma.length !== C) throw new KernelInputError(`gamma: ${c.gamma.length} values, the last dimension of x_int is ${C}`);
  if (c.beta.length !== C) throw new KernelInputError(`beta: ${c.beta.length} values, the last dimension of x_int is ${C}`);
  return {
    x: flat.values instanceof Int32Array ? flat.values : Int32Array.from(flat.values), rows: flat.values.length / C, C, shape, gamma: c.gamma, beta: c.beta, shift: c.shift,
    outRange: { bits: 8, x_min: c.out_x_min, x_max: c.out_x_max },
  };
}

/** The folded constants of a parsed case: layer 1's LayerNorm and QuantAct(8) constants and the NPU's. */
export function foldLayerNormCase(c: LayerNormCase): { qBeta: number[]; act: QuantActConsts; npu: LayerNormNpuConsts } {
  const ln = foldLayerNorm(c.gamma, c.beta, c.shift);
  const act = foldQuantAct(c.outRange, ln.scaleOut);
  return { qBeta: ln.qBeta, act, npu: foldLayerNormNpu(ln.qBeta, c.shift, act) };
}

/** Layer 1 on a fused case: the reference `layernorm` case (exact IntLayerNorm, 64-bit) and its QuantAct(8). */
export function refCaseLayerNorm(input: unknown): KernelCaseResult {
  const c = parseLayerNormCase(input); // the QuantAct fields; runReferenceCase validates the rest again
  const ln = runReferenceCase('layernorm', input);
  const scaleOut = ln.scale_out as number[];
  const act = foldQuantAct(c.outRange, scaleOut);
  const y = requantApply(BigInt64Array.from(ln.y_int, (v) => BigInt(v)), act);
  return {
    y_int: Array.from(y),
    shape: c.shape,
    consts: { ...ln.consts, m: act.m, e: act.e, S_out: act.scaleOut },
  };
}

/** Rejects inputs outside the kernel's 22-bit domain (deviation 1), naming the first offending element. */
export function checkLayerNormDomain(x: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < LN_X_MIN || v > LN_X_MAX) {
      throw new KernelInputError(`x_int[${i}]: ${v} is outside the 22-bit residual range [${LN_X_MIN}, ${LN_X_MAX}] of the NPU LayerNorm (ln_input_act clamps there)`);
    }
  }
}

/** Layer 2 on a fused case. */
export function npuCaseLayerNorm(input: unknown): KernelCaseResult {
  const c = parseLayerNormCase(input);
  checkLayerNormDomain(c.x);
  const { qBeta, act, npu } = foldLayerNormCase(c);
  const y = layerNormNpuApply(c.x, npu);
  let general = 0;
  for (let i = 0; i < npu.C; i++) general += npu.kind[i]!;
  return {
    y_int: Array.from(y),
    shape: c.shape,
    consts: {
      q_beta: qBeta.map((v) => intToJson(v)), shift: c.shift, m: act.m, e: act.e, S_out: act.scaleOut,
      npu_general_channels: general, npu_clamped_channels: [...npu.clamped],
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Fidelity and examples.

function compare(kernel: string, setting: string, npu: ArrayLike<number>, ref: ArrayLike<number>): FidelityResult {
  const n = ref.length;
  let identical = 0;
  let maxDiff = 0;
  let first: FidelityResult['first_diff'] = null;
  for (let i = 0; i < n; i++) {
    const a = npu[i]!, b = ref[i]!;
    if (a === b) identical++;
    else {
      const d = a > b ? a - b : b - a;
      if (d > maxDiff) maxDiff = d;
      if (first === null) first = { index: i, npu: a, ref: b };
    }
  }
  return { kernel, setting, n, identical, identical_share: n === 0 ? 1 : identical / n, max_abs_diff: maxDiff, first_diff: first };
}

/**
 * Layer 2 vs layer 1 on both LayerNorms of a seeded synthetic BERT-base layer (seq 128, hidden 768): the 22-bit
 * residual sums, checkpoint constants and calibrated QuantAct(8) ranges of section 9 steps 8-10 and 17-19.
 */
export function fidelityLayerNorm(opts: { seed?: string } = {}): FidelityResult {
  const seed = opts.seed ?? 'fidelity:layernorm';
  const T = 128, hidden = 768;
  const g = generateLayer({ seed, seq: T, hidden, heads: 12, ffn: 3072 });
  const compiled = compileLayer(g.layer);
  const run = runLayer(compiled, Int8Array.from(g.layer.input!.x_int), T, g.mask);
  const pairs = [
    [run.steps.ln1_input.data, compiled.ln1, compiled.ln1OutputAct, run.steps.attention_output8.data],
    [run.steps.ln2_input.data, compiled.ln2, compiled.outputAct, run.steps.output8.data],
  ] as const;
  const npu: number[] = [];
  const ref: number[] = [];
  for (const [xIn, ln, act, out] of pairs) {
    const x = Int32Array.from(xIn as ArrayLike<number>);
    checkLayerNormDomain(x);
    const y = layerNormNpuApply(x, foldLayerNormNpu(ln.qBeta, ln.shift, act));
    for (let i = 0; i < y.length; i++) {
      npu.push(y[i]!);
      ref.push(Number(out[i]!));
    }
  }
  return compare('layernorm', `BERT-base synthetic layer '${seed}' (seq ${T}, hidden ${hidden}): LayerNorm 1 and 2, each with its QuantAct(8)`, npu, ref);
}

/**
 * A fused LayerNorm case in the JSON format above (host-side synthesis; floats only here and in folding): 22-bit
 * residual sums with per-channel offsets and scales (sigma ~ 2^17, two 4x outlier channels), gamma ~ N(0.9, 0.15)
 * (1 % negative), beta ~ N(0, 0.1), the shift HF's overflow handling would leave (V < 2^32 on these rows), and the
 * QuantAct(8) range calibrated on layer 1's own output (min/max, HF's first batch). small: 4 rows of 45 (not a
 * multiple of any lane count); base: 128 rows of 768.
 */
export function exampleCaseLayerNorm(size: 'small' | 'base', seed: string): unknown {
  const [rows, C] = size === 'base' ? [128, 768] : [4, 45];
  const rng = makeRng(seed);
  const normal = normalSampler(rng);
  const outliers = new Set([Math.min(1, C - 1), Math.floor((7 * C) / 8)]);
  const chanScale = Array.from({ length: C }, (_, c) => (outliers.has(c) ? 4 : 0.5 + 0.5 * rng()) * 131072);
  const chanShift = Array.from({ length: C }, () => normal() * 20000);
  const x: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const v = Math.round(chanShift[c]! + normal() * chanScale[c]!);
      x.push(v < LN_X_MIN ? LN_X_MIN : v > LN_X_MAX ? LN_X_MAX : v);
    }
  }
  const gamma = Array.from({ length: C }, () => {
    const g = Math.fround(Math.max(0.05, 0.9 + 0.15 * normal()));
    return rng() < 0.01 ? -g : g;
  });
  const beta = Array.from({ length: C }, () => Math.fround(0.1 * normal()));
  const shift = calibrateShift(x, C);
  const ln = foldLayerNorm(gamma, beta, shift);
  const y = layerNormApply(Int32Array.from(x), ln);
  let lo = 0, hi = 0;
  for (let i = 0; i < y.length; i++) {
    const v = Number(y[i]!) * ln.scaleOut[i % C]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return { shape: [rows, C], x_int: x, gamma, beta, shift, out_x_min: lo, out_x_max: hi, out_bits: 8 };
}

/** HF's training-time overflow handling on integer rows: the smallest shift with sum((y >> shift)^2) < 2^32. */
export function calibrateShift(x: ArrayLike<number>, C: number): number {
  let shift = 0;
  for (let base = 0; base + C <= x.length; base += C) {
    for (;;) {
      const { mu } = layerNormRowScalars(x, base, C, shift);
      let v = 0;
      for (let c = 0; c < C; c++) {
        const ys = (x[base + c]! - mu) >> shift;
        v += ys * ys; // < C 2^46: exact for C < 128, and only compared with 2^32 beyond (monotone, no false pass)
      }
      if (v < 4294967296 || shift >= 31) break;
      shift++;
    }
  }
  return shift;
}
